package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// Status is the operator's status page of HTTP mode: live grants per agent,
// pending approvals, the last audit events and a revoke button per grant
// and per agent. It is served when an operator token is configured, on a
// listener of its own, like the passkey approval page.
type Status struct {
	Listen            string        `yaml:"listen"`              // default 127.0.0.1:8445
	PublicURL         string        `yaml:"public_url"`          // how the operator's browser reaches it; required off loopback
	TLSCertFile       string        `yaml:"tls_cert_file"`       // required off loopback
	TLSKeyFile        string        `yaml:"tls_key_file"`        //
	OperatorTokenFile string        `yaml:"operator_token_file"` // or GATEKEEPER_OPERATOR_TOKEN
	SessionTTL        time.Duration `yaml:"session_ttl"`         // an operator's sign-in lasts this long; default 1h

	// OperatorToken is what the operator signs in with, from
	// GATEKEEPER_OPERATOR_TOKEN or operator_token_file.
	OperatorToken sensitive.String `yaml:"-"`
}

// Status page defaults and bounds.
const (
	DefaultStatusListen     = "127.0.0.1:8445"
	DefaultStatusSessionTTL = time.Hour
	// MinOperatorToken keeps the token out of reach of guessing, as for
	// the JWT secret.
	MinOperatorToken = 32
)

func defaultStatus() Status {
	return Status{Listen: DefaultStatusListen, SessionTTL: DefaultStatusSessionTTL}
}

// StatusEnabled tells whether serve runs the status page: HTTP mode with an
// operator token.
func (c Config) StatusEnabled() bool {
	return c.HTTP.Listen != "" && !c.Status.OperatorToken.IsZero()
}

// validateStatus checks the status page's settings when it would be served.
// Like the approval page, it stays on loopback unless it has TLS.
func (c Config) validateStatus() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	s := c.Status
	if !s.OperatorToken.IsZero() && len(s.OperatorToken.Reveal()) < MinOperatorToken {
		add("GATEKEEPER_OPERATOR_TOKEN (status.operator_token_file) must be at least %d bytes", MinOperatorToken)
	}
	if !c.StatusEnabled() {
		return errs
	}
	ap, err := netip.ParseAddrPort(s.Listen)
	switch {
	case err != nil:
		add("status.listen %q is not host:port like %s", s.Listen, DefaultStatusListen)
	case !ap.Addr().IsLoopback() && (s.TLSCertFile == "" || s.PublicURL == ""):
		add("the status page off loopback (status.listen %s) needs status.tls_cert_file, status.tls_key_file and status.public_url", s.Listen)
	}
	if (s.TLSCertFile == "") != (s.TLSKeyFile == "") {
		add("status TLS needs both a certificate and a key file")
	}
	if s.PublicURL != "" {
		if u, err := url.Parse(s.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			add("status.public_url %q is not an http(s) origin like https://status.example:8445", s.PublicURL)
		} else if s.TLSCertFile != "" && u.Scheme != "https" {
			add("status.public_url %q must be https when the status page has TLS", s.PublicURL)
		}
	}
	if s.SessionTTL < time.Minute || s.SessionTTL > 24*time.Hour {
		add("status.session_ttl must be between 1m and 24h (got %s)", s.SessionTTL)
	}
	return errs
}
