package restapi

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"

	"github.com/gatekeeper-mcp/gatekeeper/internal/mcptools"
)

// Error is the body of every error answer.
type Error struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody says what went wrong and what to do next. Message is the MCP
// tool's message, correlation id included.
type ErrorBody struct {
	Message       string `json:"message"`
	CorrelationID string `json:"correlation_id,omitempty"`
	// Tier is the access the call needs (403): read or write.
	Tier string `json:"tier,omitempty"`
	// ApprovalURL is the page where the human answers the approval the
	// call started (403): relay it, then call again.
	ApprovalURL string `json:"approval_url,omitempty"`
	// RetryAfter is in seconds, as in the Retry-After header (429).
	RetryAfter int64 `json:"retry_after,omitempty"`
}

// requestError is a request refused before any operation ran: its shape
// (body, query, route) was wrong. Nothing was attempted or audited.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(msg string) error { return &requestError{status: http.StatusBadRequest, msg: msg} }

// writeError answers err as JSON with its status.
func writeError(w http.ResponseWriter, err error) {
	var ce *mcptools.CallError
	var re *requestError
	switch {
	case errors.As(err, &ce):
		body := ErrorBody{Message: ce.Message, CorrelationID: ce.CorrelationID, Tier: ce.Tier, ApprovalURL: ce.ApprovalURL}
		if ce.Status == http.StatusTooManyRequests {
			body.RetryAfter = int64(max(1, math.Ceil(ce.RetryAfter.Seconds())))
			w.Header().Set("Retry-After", strconv.FormatInt(body.RetryAfter, 10))
		}
		writeJSON(w, ce.Status, Error{Error: body})
	case errors.As(err, &re):
		writeJSON(w, re.status, Error{Error: ErrorBody{Message: re.msg}})
	default:
		writeJSON(w, http.StatusInternalServerError, Error{Error: ErrorBody{Message: "Gatekeeper could not complete the call."}})
	}
}

// writeJSON answers v; nothing here may be cached, secrets least of all.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
