package egress

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// Defaults and bounds.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultMaxResponseBytes = 1 << 20
	DefaultMaxRequestBytes  = 1 << 20
	// MaxRedirects is how many redirects one request follows.
	MaxRedirects = 5
	// maxResponseHeaderBytes bounds the response's headers.
	maxResponseHeaderBytes = 64 << 10
	dialTimeout            = 10 * time.Second
	tlsHandshakeTimeout    = 10 * time.Second
)

// Resolver looks a host name up: net.DefaultResolver.LookupNetIP by default,
// a fake in tests.
type Resolver func(ctx context.Context, host string) ([]netip.Addr, error)

// Dialer opens a connection to an address (IP:port): a net.Dialer by
// default; tests count the attempts.
type Dialer func(ctx context.Context, network, address string) (net.Conn, error)

// Options configure a Client. Zero values mean the defaults.
type Options struct {
	Destinations     []Destination
	Timeout          time.Duration // the whole request, redirects included
	MaxResponseBytes int64
	MaxRequestBytes  int64
	// CAFile adds CA certificates (PEM) to the system's roots, for
	// destinations with a private CA.
	CAFile string
	// RootCAs replaces the system's roots (tests); CAFile adds to it.
	RootCAs *x509.CertPool
	Resolve Resolver
	Dial    Dialer
	Logger  *slog.Logger
}

// Client sends requests to allowed destinations only. It is safe for
// concurrent use.
type Client struct {
	dests                []destination
	timeout              time.Duration
	maxResponse, maxBody int64
	roots                *x509.CertPool
	resolve              Resolver
	dial                 Dialer
	logger               *slog.Logger
}

// New checks o and returns a Client; every problem is reported at once.
func New(o Options) (*Client, error) {
	c := &Client{timeout: o.Timeout, maxResponse: o.MaxResponseBytes, maxBody: o.MaxRequestBytes,
		roots: o.RootCAs, resolve: o.Resolve, dial: o.Dial, logger: o.Logger}
	var errs []error
	for i, d := range o.Destinations {
		pd, err := parseDestination(d)
		if err != nil {
			errs = append(errs, fmt.Errorf("destination %d (%s): %w", i+1, d.URL, err))
			continue
		}
		c.dests = append(c.dests, pd)
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.maxResponse == 0 {
		c.maxResponse = DefaultMaxResponseBytes
	}
	if c.maxBody == 0 {
		c.maxBody = DefaultMaxRequestBytes
	}
	if c.timeout < 0 || c.maxResponse < 0 || c.maxBody < 0 {
		errs = append(errs, errors.New("timeout and sizes must not be negative"))
	}
	if o.CAFile != "" {
		if err := c.addCAs(o.CAFile); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if c.resolve == nil {
		c.resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	if c.dial == nil {
		c.dial = (&net.Dialer{Timeout: dialTimeout}).DialContext
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

func (c *Client) addCAs(file string) error {
	pem, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("ca_file: %w", err)
	}
	if c.roots == nil {
		if c.roots, err = x509.SystemCertPool(); err != nil {
			c.roots = x509.NewCertPool()
		}
	} else {
		c.roots = c.roots.Clone()
	}
	if !c.roots.AppendCertsFromPEM(pem) {
		return fmt.Errorf("ca_file %s holds no PEM certificate", file)
	}
	return nil
}

// Allows reports whether agent has at least one destination: whether the
// tool exists for it.
func (c *Client) Allows(agent string) bool {
	return slices.ContainsFunc(c.dests, func(d destination) bool { return d.forAgent(agent) })
}

// Destinations lists agent's destinations as the agent is shown them.
func (c *Client) Destinations(agent string) []string {
	var out []string
	for _, d := range c.dests {
		if d.forAgent(agent) {
			out = append(out, d.String())
		}
	}
	return out
}

// MaxRequestBytes is the largest request body sent.
func (c *Client) MaxRequestBytes() int64 { return c.maxBody }

// Request is an outbound request with its secrets substituted. Printing it
// shows neither its URL's path and query, nor header values, nor the body.
type Request struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
	// SecretHeaders name the headers that carry a secret: they are not
	// sent on after a redirect to another origin.
	SecretHeaders []string
	// SecretBody says the body carries a secret: a redirect to another
	// origin that would send it again is refused.
	SecretBody bool
}

// LogValue keeps the request's contents out of logs.
func (r Request) LogValue() slog.Value {
	return slog.GroupValue(slog.String("method", r.Method), slog.String("origin", Origin(r.URL)), slog.String("contents", sensitive.Redacted))
}

// String keeps the request's contents out of fmt output.
func (r Request) String() string { return r.Method + " " + Origin(r.URL) + " " + sensitive.Redacted }

// Format covers every fmt verb.
func (r Request) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(r.String())) }

// Response is what came back, in clear: it may echo a secret, so it is
// redacted before anyone sees it.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// Redirects counts the redirects followed.
	Redirects int
	// Origin is where the final response came from (scheme://host:port).
	Origin string
}

// LogValue keeps the response's contents out of logs.
func (r *Response) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("status", r.Status), slog.Int("bytes", len(r.Body)), slog.String("contents", sensitive.Redacted))
}

// Check decides everything about r that needs neither DNS nor the network:
// method, URL and allowlist, headers, body size. Do checks it again.
func (c *Client) Check(agent string, r Request) error {
	_, _, err := c.check(agent, r)
	return err
}

func (c *Client) check(agent string, r Request) (target, destination, error) {
	if !slices.Contains(Methods, r.Method) {
		return target{}, destination{}, fmt.Errorf("%w: method %q is not one of %s", ErrNotAllowed, r.Method, strings.Join(Methods, ", "))
	}
	t, err := parseTarget(r.URL)
	if err != nil {
		return target{}, destination{}, err
	}
	d, err := c.match(agent, r.Method, t)
	if err != nil {
		return target{}, destination{}, err
	}
	if t.ip.IsValid() { // the URL alone decides
		if err := reachable(t, t.ip, d.conf.AllowPrivate); err != nil {
			return target{}, destination{}, err
		}
	}
	if err := checkHeaders(r.Header); err != nil {
		return target{}, destination{}, err
	}
	if int64(len(r.Body)) > c.maxBody {
		return target{}, destination{}, fmt.Errorf("%w: the request body is larger than %d bytes", ErrTooLarge, c.maxBody)
	}
	if len(r.Body) > 0 && (r.Method == "GET" || r.Method == "HEAD") {
		return target{}, destination{}, fmt.Errorf("%w: a %s request has no body", ErrNotAllowed, r.Method)
	}
	return t, d, nil
}
