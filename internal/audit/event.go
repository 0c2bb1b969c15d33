package audit

import (
	"context"
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
	ToolRequest       = "tool.request" // before a call changes something: what it will do, with which grant
	ApprovalRequested = "approval.requested"
	ApprovalDecided   = "approval.decided"
	GrantIssued       = "grant.issued"
	GrantExpired      = "grant.expired"
	GrantRenewed      = "grant.renewed"  // a read grant issued in place of an expired one
	GrantReleased     = "grant.released" // the agent gave it up (release, logout)
	GrantRevoked      = "grant.revoked"  // ended by Gatekeeper or an operator (shutdown, revoke, replaced)
	GrantLost         = "grant.lost"     // the token stopped working from outside Gatekeeper
	RevokeFailed      = "grant.revoke_failed"
	RateLimited       = "rate_limit"
	Authentication    = "authentication"
	ConfigLoaded      = "config.loaded"   // the configuration a server started with
	ConfigReloaded    = "config.reloaded" // a new configuration replaced the running one
	// ConfigReloadRefused: a new configuration was refused whole; the
	// running one stays.
	ConfigReloadRefused = "config.reload_refused"
	CredentialIssued    = "credential.issued"  //nolint:gosec // G101: an event name. Vault issued a credential with a grant's token
	CredentialRevoked   = "credential.revoked" //nolint:gosec // G101: an event name. It ended: revoked by the agent, or with its grant
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
	// Credential names a credential (issue_credential) and LeaseID its
	// lease in Vault, never its values.
	Credential string `json:"credential,omitempty"`
	LeaseID    string `json:"lease_id,omitempty"`
	// Reveal says whether a read returned secret values to the agent
	// ("revealed") or only their names ("withheld").
	Reveal string `json:"reveal,omitempty"`
	// Detail is a safe, value-free description of what went wrong.
	Detail string `json:"detail,omitempty"`
	// ElapsedMS is how long a tool call took (tool.call) or a human took
	// to decide (approval.decided), in milliseconds.
	ElapsedMS int64 `json:"elapsed_ms,omitempty"`
	// LifetimeMS is how long a grant lived, issue to end, on the events
	// that end one (grant.expired, .released, .revoked, .lost,
	// .revoke_failed), in milliseconds.
	LifetimeMS int64 `json:"lifetime_ms,omitempty"`
	// Digest is a hash of what the event is about, never the thing
	// itself: config.loaded carries "sha256:…" of the config file.
	Digest string `json:"digest,omitempty"`
	// Secrets names the secrets a call used without revealing them
	// (http_request, run_with_secret): "path#field", space-separated.
	Secrets string `json:"secrets,omitempty"`
	// Destination is where http_request sent a request, as the agent wrote
	// it: scheme://host:port/path with placeholders as written, no query.
	Destination string `json:"destination,omitempty"`
	// HTTPMethod is http_request's method (Method is how a client
	// authenticated).
	HTTPMethod string `json:"http_method,omitempty"`
	// HTTPStatus is the status of the response http_request returned.
	HTTPStatus int64 `json:"http_status,omitempty"`
	// BytesSent and BytesReceived count request and response body bytes.
	BytesSent     int64 `json:"bytes_sent,omitempty"`
	BytesReceived int64 `json:"bytes_received,omitempty"`
	// Redactions counts the markers put in what went back to the agent.
	Redactions int64 `json:"redactions,omitempty"`
	// API is the front door a call came through: "mcp" (the tools) or
	// "rest" (the REST API under /v1/). Every event a call causes carries
	// it (WithAPI), so the trail records both alike.
	API string `json:"api,omitempty"`
	// Source is the network peer (an IP address) an HTTP authentication
	// came from.
	Source string `json:"source,omitempty"`
	// Count is how many failed authentications, alike in every other
	// field, one record stands for (refusals.go); absent, one.
	Count int64 `json:"count,omitempty"`
}

// Event may hold only plain field kinds (string, Outcome, time.Time,
// int64): a type that can carry a secret (sensitive.String, any, a map, a
// struct with methods of its own) cannot be added without failing
// TestEventFieldsArePlain. The chain fields (seq, prev, mac) are added by
// the Log and are not part of Event.

type ctxKey struct{}

type apiKey struct{}

// Front doors, for Event.API.
const (
	APIMCP  = "mcp"
	APIREST = "rest"
)

// WithAPI returns a context whose events say they came through api.
func WithAPI(ctx context.Context, api string) context.Context {
	return context.WithValue(ctx, apiKey{}, api)
}

// API returns the front door stored by WithAPI, or "".
func API(ctx context.Context) string {
	api, _ := ctx.Value(apiKey{}).(string)
	return api
}

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
