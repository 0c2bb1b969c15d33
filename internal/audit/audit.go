// Package audit writes one JSON line per decision Gatekeeper makes: every
// tool call, approval and grant. It is a stream of its own, separate from
// debug logs, and it never carries a secret value or a token: events hold
// token accessors, paths and safe messages only.
package audit

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Outcome is required on every event.
type Outcome string

const (
	OK       Outcome = "ok"
	Denied   Outcome = "denied"
	TimedOut Outcome = "timed_out"
	Failed   Outcome = "failed"
	Refused  Outcome = "refused" // bad input or not allowed; nothing was attempted
)

// Event names.
const (
	ToolCall          = "tool.call"
	ApprovalRequested = "approval.requested"
	ApprovalDecided   = "approval.decided"
	GrantIssued       = "grant.issued"
	GrantExpired      = "grant.expired"
	GrantRevoked      = "grant.revoked"
	GrantLost         = "grant.lost" // the token stopped working from outside Gatekeeper
	RevokeFailed      = "grant.revoke_failed"
	RateLimited       = "rate_limit"
	Authentication    = "authentication"
)

// Event is one audit record. Fields that do not apply stay empty.
type Event struct {
	Time          time.Time `json:"time"`
	Event         string    `json:"event"`
	Outcome       Outcome   `json:"outcome"`
	CorrelationID string    `json:"correlation_id,omitempty"`
	Principal     string    `json:"principal,omitempty"`
	Tool          string    `json:"tool,omitempty"`
	Method        string    `json:"method,omitempty"` // how a client authenticated
	Path          string    `json:"path,omitempty"`
	Tier          string    `json:"tier,omitempty"`
	ApprovalID    string    `json:"approval_id,omitempty"`
	Accessor      string    `json:"accessor,omitempty"`
	Reason        string    `json:"reason,omitempty"`
	ExpiresAt     time.Time `json:"expires_at,omitzero"`
	// Reveal says whether a read returned secret values to the agent
	// ("revealed") or only their names ("withheld").
	Reveal string `json:"reveal,omitempty"`
	// Detail is a safe, value-free description of what went wrong.
	Detail string `json:"detail,omitempty"`
}

type ctxKey struct{}

// WithCorrelationID returns a context whose events carry id. The same id is
// shown to the agent in an error message, so one line of the audit log can be
// found from what the agent saw.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// CorrelationID returns the id stored by WithCorrelationID, or "".
func CorrelationID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// Log writes events as JSON lines to one writer. It is safe for concurrent use.
type Log struct {
	mu     sync.Mutex
	w      io.Writer
	logger *slog.Logger
}

// New returns a Log writing to w. Write failures are reported to logger: the
// caller whose decision is being recorded cannot act on them.
func New(w io.Writer, logger *slog.Logger) *Log {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Log{w: w, logger: logger}
}

// Record writes e. A nil Log records nothing.
func (l *Log) Record(ctx context.Context, e Event) {
	if l == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	if e.CorrelationID == "" {
		e.CorrelationID = CorrelationID(ctx)
	}
	if e.Outcome == "" {
		e.Outcome = Failed
	}
	line, err := json.Marshal(e)
	if err != nil {
		l.logger.ErrorContext(ctx, "encoding an audit event", "event", e.Event, "err", err)
		return
	}
	line = append(line, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.w.Write(line); err != nil {
		l.logger.ErrorContext(ctx, "writing the audit log", "event", e.Event, "err", err)
	}
}
