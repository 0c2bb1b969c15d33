package clientauth

import (
	"errors"
	"net/http"
	"regexp"
	"time"
)

// Identity is who an HTTP caller proved to be.
type Identity struct {
	Agent   string    // the principal: owner of grants and namespace; a valid agent name
	Method  string    // "api_key", "jwt", "mtls" or "proxy_mtls"
	Subject string    // what the credential named: key id, JWT sub, certificate subject or SPIFFE id
	Scopes  []string  // what the credential allows; empty means nothing
	Expires time.Time // zero when the credential does not expire
}

var (
	// ErrNoCredential means a method found no credential of its kind in
	// the request; the next method may try.
	ErrNoCredential = errors.New("no credential")
	// ErrInvalid means a credential was presented and refused. It never
	// falls through to another method. Wrapped errors add a safe reason
	// ("expired", "unknown key id"), never the credential.
	ErrInvalid = errors.New("invalid credential")
)

// Method authenticates one kind of credential.
type Method interface {
	Name() string
	// Authenticate returns the caller's identity, ErrNoCredential, or an
	// error wrapping ErrInvalid.
	Authenticate(r *http.Request) (*Identity, error)
}

var agentName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidAgent reports whether s may name an agent: it becomes a folder in
// Vault and part of policy and mount names, so it is kept plain.
func ValidAgent(s string) bool { return agentName.MatchString(s) }

// refusal is a refused credential: it wraps ErrInvalid and carries a short
// reason that is safe to show the caller and to audit. Reasons are constant
// strings chosen in this package, so no credential can reach one.
type refusal struct{ reason string }

func (e *refusal) Error() string { return ErrInvalid.Error() + ": " + e.reason }
func (e *refusal) Unwrap() error { return ErrInvalid }

// refuse returns an error wrapping ErrInvalid; reason starts with the
// method's name ("jwt: expired").
func refuse(reason string) error { return &refusal{reason: reason} }
