package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"
)

// The classes of every error the package returns. Messages wrapped around
// them are written for the agent to read: they name the destination as
// configured or the origin (scheme://host:port), never a path, a query, a
// header value or a body, which may hold a secret, and never the text of
// an error from the network, which may quote what a server sent.
var (
	// ErrNotAllowed: no destination of the allowlist covers the request
	// for this agent (scheme, host, port, path prefix, method).
	ErrNotAllowed = errors.New("destination not allowed")
	// ErrInvalidURL: the URL is malformed or ambiguous (user information,
	// a host that is not a canonical IP or a plain DNS name, a dot segment,
	// a fragment, a character that must be escaped).
	ErrInvalidURL = errors.New("invalid URL")
	// ErrInvalidHeader: a header the agent may not set, or a name or value
	// that could split or smuggle a request.
	ErrInvalidHeader = errors.New("invalid header")
	// ErrBlockedAddress: the host is, or resolves to, an address the
	// destination may not reach (loopback, private, link-local, metadata…).
	ErrBlockedAddress = errors.New("address not allowed")
	// ErrRedirect: a redirect left the allowlist, looped, or would have
	// resent a secret to another origin.
	ErrRedirect = errors.New("redirect refused")
	// ErrTooLarge: the request body or the response is larger than allowed.
	ErrTooLarge = errors.New("too large")
	// ErrTimeout: the destination did not answer in time.
	ErrTimeout = errors.New("destination timed out")
	// ErrUnreachable: no connection could be made or it broke (DNS, TCP,
	// TLS), or the response was malformed.
	ErrUnreachable = errors.New("destination unreachable")
)

// netError turns an error of the network into one of the classes above,
// keeping only what is safe to show: what kind of failure, at which origin.
// ctx is the call's context, to tell a timeout from a cancellation.
func netError(ctx context.Context, err error, origin string, timeout time.Duration) error {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	var recordErr tls.RecordHeaderError
	var opErr *net.OpError
	var ne net.Error
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("requesting %s: %w", origin, context.Canceled)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w: %s did not answer within %s", ErrTimeout, origin, timeout)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("%w: the host of %s does not resolve", ErrUnreachable, origin)
	case errors.As(err, &unknownCA):
		return fmt.Errorf("%w: the TLS certificate of %s is not signed by a trusted CA (the operator can add one with http_request.ca_file)", ErrUnreachable, origin)
	case errors.As(err, &hostErr):
		return fmt.Errorf("%w: the TLS certificate of %s is not valid for its host", ErrUnreachable, origin)
	case errors.As(err, &invalidCert), errors.As(err, &certErr):
		return fmt.Errorf("%w: the TLS certificate of %s is not valid", ErrUnreachable, origin)
	case errors.As(err, &recordErr):
		return fmt.Errorf("%w: %s did not answer with TLS (is the scheme http?)", ErrUnreachable, origin)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return fmt.Errorf("%w: could not connect to %s", ErrUnreachable, origin)
	}
	return fmt.Errorf("%w: the connection to %s failed or its response was malformed", ErrUnreachable, origin)
}
