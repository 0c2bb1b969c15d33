package access

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// Principal is who the agent is: the one configured principal over stdio,
// the authenticated identity over HTTP. Never an MCP session id.
type Principal string

// Tier is a level of access. Each tier includes the ones below it.
type Tier int

const (
	None Tier = iota
	Read
	Write
	// Destroy is never held: each permanent deletion is approved on its
	// own, on top of a live write grant, and its token is revoked as soon
	// as the one operation is done (Manager.Once).
	Destroy
)

func (t Tier) String() string {
	switch t {
	case None:
		return "none"
	case Read:
		return "read"
	case Write:
		return "write"
	case Destroy:
		return "destroy"
	}
	return fmt.Sprintf("tier(%d)", int(t))
}

// Request is an approval request: everything the approving human is shown.
type Request struct {
	ID        string // approval id, also in the audit log
	Principal Principal
	Tier      Tier
	Scope     string // the folder the grant covers, e.g. "secret/agent/ci/"
	// Paths narrow a write grant to these secrets (or folders, ending in
	// "/"), relative to Scope; empty means all of Scope.
	Paths   []string
	Reason  string        // given by the agent
	Trigger string        // the call that needed the approval, e.g. "read_secret db/password"
	TTL     time.Duration // the grant's length; the token may not live longer
	// Expires is when the request itself ends: an answer after it counts
	// for nothing.
	Expires time.Time
	// Digest commits to everything above: approvers show it and bind their
	// answer to it, so an approval cannot be replayed for another request.
	Digest   string
	Passcode sensitive.String
}

// digest is the SHA-256 of the request's shown fields, in hex.
func (r Request) digest() string {
	b, _ := json.Marshal(struct {
		ID, Principal, Tier, Scope, Reason, Trigger string
		Paths                                       []string
		TTL                                         int64
		Expires                                     int64
	}{r.ID, string(r.Principal), r.Tier.String(), r.Scope, r.Reason, r.Trigger, r.Paths, int64(r.TTL.Seconds()), r.Expires.Unix()})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Issued is what an Issuer returns once a human approved: a Vault token
// whose own TTL is no longer than the Request's.
type Issued struct {
	Token    sensitive.String
	Accessor string
	TTL      time.Duration
}

// Grant is access held by a principal at one tier until ExpiresAt.
type Grant struct {
	Principal  Principal
	Tier       Tier
	Scope      string
	Paths      []string // narrowed write grant; empty means all of Scope
	Token      sensitive.String
	Accessor   string
	ApprovalID string
	IssuedAt   time.Time
	ExpiresAt  time.Time

	stopTimer func() bool
	// creds were issued with the grant's token (credentials.go); under
	// Manager.mu.
	creds []*Credential
}

func (g *Grant) liveAt(now time.Time) bool { return g != nil && now.Before(g.ExpiresAt) }

// GrantStatus is what the agent may know about one grant.
type GrantStatus struct {
	Tier        Tier
	Paths       []string
	ExpiresAt   time.Time
	SecondsLeft int64
	ApprovalID  string
}

// PendingStatus is an approval waiting for a human.
type PendingStatus struct {
	Tier       Tier
	ApprovalID string
	Expires    time.Time
}

// Status is a principal's access at one moment.
type Status struct {
	Principal Principal
	Tier      Tier            // the highest live tier
	Grants    []GrantStatus   // live grants, lowest tier first
	Pending   []PendingStatus // approvals waiting for a human
}

// Approval outcomes other than success. The Issuer returns these (wrapped or
// not); everything else it returns counts as a failed approval.
var (
	ErrDenied = errors.New("approval denied")
	// ErrWrongPasscode, wrapped together with ErrDenied, marks a denial by
	// a wrong or reused code rather than by the human saying no: it starts
	// no cool-down.
	ErrWrongPasscode    = errors.New("wrong or reused passcode")
	ErrApprovalTimeout  = errors.New("approval timed out")
	ErrPasscodeRequired = errors.New("approval needs a passcode")
	// ErrPasscodeRefused: a caller passed the human's code on, and the
	// operator takes codes only on the approval page.
	ErrPasscodeRefused = errors.New("passcodes are taken on the approval page, not from the agent")
	// ErrPasscodeMalformed: a code passed on is not one an authenticator
	// shows (6 to 10 digits); refused before anything is asked.
	ErrPasscodeMalformed = errors.New("a passcode is 6 to 10 digits")
)

// WellFormedPasscode reports whether code looks like one an authenticator
// shows: 6 to 10 ASCII digits (TOTP shows 6 or 8, Duo 6 or 7). Anything
// else cannot be right, so it is refused before it reaches Vault or
// spends an approval.
func WellFormedPasscode(code string) bool {
	if len(code) < 6 || len(code) > 10 {
		return false
	}
	for _, c := range []byte(code) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Errors the Manager returns. Each tells the caller what to do next.
var (
	ErrNotAuthenticated = errors.New("no read access")
	ErrWriteRequired    = errors.New("no write access")
	// ErrOncePending: another one-shot approval (destroy) is waiting.
	ErrOncePending = errors.New("another destroy is waiting for approval")
	// ErrPathNotGranted: write access is live but narrowed to other paths.
	ErrPathNotGranted = errors.New("write access does not cover this path")
	ErrReasonRequired = errors.New("a reason is required")
	ErrGrantLost      = errors.New("access was revoked outside Gatekeeper")
	ErrClosed         = errors.New("gatekeeper is shutting down")
	ErrTokenTooLong   = errors.New("issued token outlives its grant")
	// ErrMisconfigured is returned by an Issuer when Vault is not set up as
	// Gatekeeper requires (for example, no login MFA on a tier account).
	ErrMisconfigured = errors.New("vault is not set up as gatekeeper requires")
	// ErrBrokerCredential is returned by an Issuer whose own Vault
	// credential (the bootstrap token) was refused: only an operator can fix it.
	ErrBrokerCredential = errors.New("gatekeeper's own vault credential was refused")
	// ErrRateLimited is the class of RateLimitedError.
	ErrRateLimited = errors.New("rate limit reached")
	// ErrTokenInvalid is returned by an Issuer's Check for a token that no
	// longer works (revoked or expired in Vault).
	ErrTokenInvalid = errors.New("token is no longer valid")
)

// covers reports whether a grant narrowed to paths covers path: the path
// itself, or a folder ("x/") above it. No narrowing covers everything.
func covers(paths []string, path string) bool {
	if len(paths) == 0 {
		return true
	}
	for _, p := range paths {
		if p == path || (strings.HasSuffix(p, "/") && strings.HasPrefix(path, p)) {
			return true
		}
	}
	return false
}

// RateLimitedError says what was limited and when to try again.
type RateLimitedError struct {
	What       string
	RetryAfter time.Duration
	Cooldown   bool // the limit is the cool-down after a denial
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("%s: rate limit reached, retry after %s", e.What, e.RetryAfter.Round(time.Second))
}

func (e *RateLimitedError) Unwrap() error { return ErrRateLimited }
