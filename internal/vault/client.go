// Package vault wraps the OpenBao API client for the few things Gatekeeper
// asks of Vault or OpenBao: KV v2 reads and writes, userpass logins with
// login MFA, token self-service and health. It uses only API that both
// servers share.
//
// Every call names the token it runs with; the shared client never holds
// one, so no request can borrow another principal's credential. Errors are
// classified into sentinels in one place (classify) and never carry a token.
package vault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// Secret is a raw Vault response.
type Secret = api.Secret

// Options configure a Client.
type Options struct {
	Address string
	// Timeout bounds each call that does not wait for a human. Default 30s.
	Timeout time.Duration
	// WrapTransport, if set, wraps the HTTP transport (to measure latency).
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// Client talks to one Vault or OpenBao server.
type Client struct {
	base    *api.Client
	timeout time.Duration
}

// New returns a Client for opts.Address. TLS settings come from the usual
// VAULT_CACERT / VAULT_CLIENT_CERT / VAULT_SKIP_VERIFY environment.
func New(opts Options) (*Client, error) {
	if opts.Address == "" {
		return nil, errors.New("vault address is empty")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		return nil, fmt.Errorf("reading Vault TLS environment: %w", cfg.Error)
	}
	cfg.Address = opts.Address
	// Deadlines come from each call's context: a login that waits for a
	// push approval may take minutes, a KV read should not.
	cfg.Timeout = 0
	// Fail fast and let the caller decide: a sealed or unreachable Vault
	// means no access, not a minute of retries.
	cfg.MaxRetries = 0
	if opts.WrapTransport != nil {
		cfg.HttpClient.Transport = opts.WrapTransport(cfg.HttpClient.Transport)
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating Vault client for %s: %w", opts.Address, err)
	}
	c.ClearToken() // NewClient reads VAULT_TOKEN; every call names its own token.
	return &Client{base: c, timeout: opts.Timeout}, nil
}

// Address is the server's address.
func (c *Client) Address() string { return c.base.Address() }

// with returns a client that sends tok, or no token when tok is empty.
func (c *Client) with(tok sensitive.String) (*api.Client, error) {
	cl, err := c.base.Clone()
	if err != nil {
		return nil, fmt.Errorf("cloning Vault client: %w", err)
	}
	cl.ClearToken()
	if !tok.IsZero() {
		cl.SetToken(tok.Reveal())
	}
	return cl, nil
}

func (c *Client) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

// Read reads path. A missing path is ErrNotFound.
func (c *Client) Read(ctx context.Context, tok sensitive.String, path string) (*Secret, error) {
	return c.do(ctx, tok, "reading", path, func(ctx context.Context, l *api.Logical) (*Secret, error) {
		return l.ReadWithContext(ctx, path)
	}, true)
}

// Write writes data to path. The response may be nil.
func (c *Client) Write(ctx context.Context, tok sensitive.String, path string, data map[string]any) (*Secret, error) {
	return c.do(ctx, tok, "writing", path, func(ctx context.Context, l *api.Logical) (*Secret, error) {
		return l.WriteWithContext(ctx, path, data)
	}, false)
}

// List lists path. An empty or missing folder is ErrNotFound.
func (c *Client) List(ctx context.Context, tok sensitive.String, path string) (*Secret, error) {
	return c.do(ctx, tok, "listing", path, func(ctx context.Context, l *api.Logical) (*Secret, error) {
		return l.ListWithContext(ctx, path)
	}, true)
}

// Delete deletes path.
func (c *Client) Delete(ctx context.Context, tok sensitive.String, path string) error {
	_, err := c.do(ctx, tok, "deleting", path, func(ctx context.Context, l *api.Logical) (*Secret, error) {
		return l.DeleteWithContext(ctx, path)
	}, false)
	return err
}

func (c *Client) do(ctx context.Context, tok sensitive.String, op, path string, call func(context.Context, *api.Logical) (*Secret, error), nilIsMissing bool) (*Secret, error) {
	cl, err := c.with(tok)
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	s, err := call(ctx, cl.Logical())
	if err != nil {
		return nil, classify(op, path, err)
	}
	// The API client returns (nil, nil) for a 404: turn it into an error here,
	// once, so no caller mistakes "missing" for "empty".
	if s == nil && nilIsMissing {
		return nil, &Error{Kind: ErrNotFound, Op: op, Path: path}
	}
	return s, nil
}

// Sentinels for what Vault answered. Callers match them with errors.Is.
var (
	ErrNotFound         = errors.New("not found")
	ErrPermissionDenied = errors.New("permission denied")
	ErrSealed           = errors.New("vault is sealed")
	ErrUnavailable      = errors.New("vault is unavailable")
	ErrUnreachable      = errors.New("vault is unreachable")
	ErrInvalidRequest   = errors.New("vault rejected the request")
	ErrRateLimited      = errors.New("vault rate limit reached")
)

// Error is a classified Vault error. Its message names the operation and
// path, never a value or token; Detail keeps Vault's own words for the debug
// log.
type Error struct {
	Kind   error
	Op     string
	Path   string
	Detail string
	cause  error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %s: %v", e.Op, e.Path, e.Kind)
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg
}

func (e *Error) Unwrap() []error { return []error{e.Kind, e.cause} }

// SafeDetail is the classification alone, for the audit log.
func (e *Error) SafeDetail() string { return e.Op + ": " + e.Kind.Error() }

// classify maps an API client error to a sentinel.
func classify(op, path string, err error) error {
	e := &Error{Op: op, Path: path, cause: err}
	var re *api.ResponseError
	switch {
	case errors.As(err, &re):
		e.Detail = strings.Join(re.Errors, "; ")
		e.Kind = kindOf(re)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		e.Kind = err
		e.cause = nil
	default:
		// Anything without an HTTP response: refused connection, DNS, TLS.
		e.Kind = ErrUnreachable
	}
	return e
}

func kindOf(re *api.ResponseError) error {
	switch re.StatusCode {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusForbidden, http.StatusUnauthorized:
		return ErrPermissionDenied
	case http.StatusTooManyRequests:
		return ErrRateLimited
	case http.StatusServiceUnavailable:
		for _, m := range re.Errors {
			if strings.Contains(m, "sealed") {
				return ErrSealed
			}
		}
		return ErrUnavailable
	case http.StatusBadRequest:
		return ErrInvalidRequest
	}
	if re.StatusCode >= 500 {
		return ErrUnavailable
	}
	return ErrInvalidRequest
}
