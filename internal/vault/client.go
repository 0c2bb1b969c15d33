// Package vault wraps the OpenBao API client for the few things Gatekeeper
// asks of Vault or OpenBao: KV v2 reads, writes and version lifecycle
// (check-and-set, patch, delete, undelete, destroy), transit encryption and
// signing, userpass logins with login MFA, Kubernetes auth logins, token
// self-service and health. It uses only API that both servers share.
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
	"net/url"
	"strings"
	"time"
	"unicode"

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
	// Namespace is sent as X-Vault-Namespace on every request (Vault
	// Enterprise and OpenBao namespaces); empty sends none.
	Namespace string
}

// maxIdleConns bounds the connections kept open to Vault between requests:
// enough for a thousand agents calling at once, and an idle connection
// closes by itself after 90 seconds.
const maxIdleConns = 1024

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
	// Every tool call is one Vault request, so as many requests are in
	// flight as agents are calling. The API client's pool keeps only
	// GOMAXPROCS+1 idle connections per host: beyond that each response
	// closed its connection and the next request dialed a new one, a cost
	// paid by Gatekeeper and Vault on every call.
	if tr, ok := cfg.HttpClient.Transport.(*http.Transport); ok {
		tr.MaxIdleConns = maxIdleConns
		tr.MaxIdleConnsPerHost = maxIdleConns
	}
	if opts.WrapTransport != nil {
		cfg.HttpClient.Transport = opts.WrapTransport(cfg.HttpClient.Transport)
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating Vault client for %s: %w", opts.Address, err)
	}
	c.ClearToken() // NewClient reads VAULT_TOKEN; every call names its own token.
	// NewClient also reads BAO_NAMESPACE / VAULT_NAMESPACE from the process;
	// the configuration alone decides, as it does for the token.
	c.ClearNamespace()
	if opts.Namespace != "" {
		c.SetNamespace(opts.Namespace)
	}
	return &Client{base: c, timeout: opts.Timeout}, nil
}

// Address is the server's address.
func (c *Client) Address() string { return c.base.Address() }

// printable is the check the API client makes of its own token, made here
// of each request's: a token with a control character is refused before it
// reaches the wire.
func printable(tok sensitive.String) bool {
	return strings.IndexFunc(tok.Reveal(), func(r rune) bool { return !unicode.IsPrint(r) }) < 0
}

func (c *Client) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

// Read reads path. A missing path is ErrNotFound.
func (c *Client) Read(ctx context.Context, tok sensitive.String, path string) (*Secret, error) {
	return c.sendExpecting(ctx, tok, "reading", request{method: http.MethodGet, path: path})
}

// Write writes data to path. The response may be nil.
func (c *Client) Write(ctx context.Context, tok sensitive.String, path string, data map[string]any) (*Secret, error) {
	return c.send(ctx, tok, "writing", request{method: http.MethodPut, path: path, body: data})
}

// List lists path. An empty or missing folder is ErrNotFound.
func (c *Client) List(ctx context.Context, tok sensitive.String, path string) (*Secret, error) {
	return c.sendExpecting(ctx, tok, "listing", request{method: methodList, path: path})
}

// Delete deletes path.
func (c *Client) Delete(ctx context.Context, tok sensitive.String, path string) error {
	_, err := c.send(ctx, tok, "deleting", request{method: http.MethodDelete, path: path})
	return err
}

// methodList is Vault's LIST, sent as GET with list=true for proxies that
// know only the standard methods.
const methodList = "LIST"

// request is one call to Vault's HTTP API.
type request struct {
	method string
	path   string // without /v1/
	query  url.Values
	body   map[string]any
	// mergePatch sends body as a JSON merge patch (RFC 7396).
	mergePatch bool
}

// sendExpecting is send for calls whose answer must have a body: an empty
// one means there is nothing there.
func (c *Client) sendExpecting(ctx context.Context, tok sensitive.String, op string, r request) (*Secret, error) {
	s, err := c.send(ctx, tok, op, r)
	if err == nil && s == nil {
		return nil, &Error{Kind: ErrNotFound, Op: op, Path: r.path}
	}
	return s, err
}

// send is the one way a request reaches Vault: with tok and no other token,
// within the client's timeout, and with every answer that is not a success
// classified. The API client's typed helpers disagree on a 404 (some return
// (nil, nil), some the body and no error, some the error); the raw request
// always reports the status, so the body of a 404, which says whether a KV
// version is missing, deleted or destroyed, reaches classify here.
func (c *Client) send(ctx context.Context, tok sensitive.String, op string, r request) (*Secret, error) {
	if err := checkPath(r.path); err != nil {
		return nil, &Error{Kind: ErrInvalidRequest, Op: op, Path: r.path, Detail: err.Error()}
	}
	if !printable(tok) {
		return nil, &Error{Kind: ErrInvalidRequest, Op: op, Path: r.path, Detail: "the token has non-printable characters"}
	}
	ctx, cancel := c.bounded(ctx)
	defer cancel()

	// The token travels on this request alone: the shared client holds
	// none, so no request can borrow another principal's credential. (A
	// client per call, from Clone, would also build a whole default
	// configuration, reading the environment, on every call.)
	req := c.base.NewRequest(r.method, "/v1/"+r.path)
	req.ClientToken = tok.Reveal()
	if r.query != nil {
		req.Params = r.query
	}
	if r.method == methodList {
		req.Method = http.MethodGet
		req.Params.Set("list", "true")
	}
	if r.body != nil {
		if err := req.SetJSONBody(r.body); err != nil {
			// encoding/json's message can quote the value it could not
			// encode, so it stays out of the error.
			return nil, &Error{Kind: ErrInvalidRequest, Op: op, Path: r.path, Detail: "the request body cannot be encoded as JSON"}
		}
	}
	if r.mergePatch {
		if req.Headers == nil {
			req.Headers = http.Header{}
		}
		req.Headers.Set("Content-Type", "application/merge-patch+json")
	}

	resp, err := c.base.RawRequestWithContext(ctx, req)
	if resp != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		return nil, classify(op, r.path, err, notFoundBody(resp))
	}
	s, err := api.ParseSecret(resp.Body)
	if err != nil {
		return nil, &Error{Kind: ErrUnavailable, Op: op, Path: r.path, Detail: "unreadable response body"}
	}
	return s, nil
}

// notFoundBody is the body of a 404, if it has one. The API client buffers
// an error response's body, so it can be read again here.
func notFoundBody(resp *api.Response) *Secret {
	if resp == nil || resp.StatusCode != http.StatusNotFound {
		return nil
	}
	s, err := api.ParseSecret(resp.Body)
	if err != nil {
		return nil
	}
	return s
}

// checkPath refuses dot segments: the API client cleans the URL path, so
// "secret/data/../../sys/x" would reach sys/x, outside the mount the caller
// named.
func checkPath(p string) error {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return errors.New("path has a dot segment")
		}
	}
	return nil
}
