// Package httpserver serves Gatekeeper over HTTP: MCP (Streamable HTTP) at
// /mcp for many authenticated agents, the REST API under /v1/ behind the
// same authentication, and the operations endpoints /healthz, /readyz,
// /metrics and the RFC 9728 protected-resource metadata.
//
// It is an adapter: who a caller is comes from clientauth, which tools a
// credential sees comes from the caller's scopes, and everything an agent may
// do is decided by the access model behind the MCP tools.
package httpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/clientauth"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// Recorder receives audit events. An error means the event was not recorded
// (audit.ErrUnavailable): a request whose admission cannot be recorded is
// not admitted.
type Recorder interface {
	Record(ctx context.Context, e audit.Event) error
}

// Check is one readiness check.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// Options configure a Server. Addr, Auth, Agents and MCPServer are required.
type Options struct {
	Addr string
	// TLS, if set, makes the listener HTTPS; with ClientCAs it verifies
	// client certificates (VerifyClientCertIfGiven, so keys and tokens
	// still work).
	TLS  *tls.Config
	Auth clientauth.Method
	// Agents returns the scope ceiling of a declared agent (nil: none) and
	// whether the agent is declared at all.
	Agents func(name string) (ceiling []string, ok bool)
	// MCPServer returns the MCP server exposing the tools an agent with
	// scopes may use. Servers are cached per agent and scope set, so the
	// tools may depend on the agent too (http_request exists only for an
	// agent with an allowed destination).
	MCPServer func(agent string, scopes []string) *mcp.Server
	// REST, if set, is the REST API, served under /v1/ (rest.go).
	REST *REST
	// Stateless serves every request without a session.
	Stateless      bool
	SessionTimeout time.Duration
	// MaxSessionsPerAgent caps an agent's open MCP sessions; default 64.
	MaxSessionsPerAgent int
	// AllowSession takes a token from agent's rate limit for a request
	// that may open a session, or says when to retry; nil: no limit.
	AllowSession func(agent string) (retryAfter time.Duration, ok bool)
	MaxBodyBytes int64
	// AllowedOrigins are browser origins trusted to call /mcp cross-origin.
	AllowedOrigins []string
	// PublicURL is the externally visible base URL, for the metadata.
	PublicURL string
	// AuthorizationServers are listed in the protected-resource metadata.
	AuthorizationServers []string
	// Ready are the readiness checks behind /readyz. One run answers
	// every request for ReadyInterval (default 2s).
	Ready         []Check
	ReadyInterval time.Duration
	Metrics       http.Handler
	// MetricsToken, if set, is the bearer token /metrics requires;
	// without it /metrics answers anyone who reaches the listener.
	MetricsToken sensitive.String
	// Instrument wraps each handler to count its requests (nil: none).
	Instrument func(name string, h http.Handler) http.Handler
	// WriteTimeout bounds a whole response, including a tool call waiting
	// for an approval; set it above the approval timeout.
	WriteTimeout time.Duration
	Audit        Recorder
	Logger       *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Server is a listening HTTP server.
type Server struct {
	opts    Options
	ln      net.Listener
	srv     *http.Server
	servers *serverCache // /mcp's servers
	opening opening      // requests that may open a session, per agent
	ready   *readiness
}

// New validates opts and opens the listener, so a bad address fails at start.
func New(opts Options) (*Server, error) {
	if opts.Addr == "" || opts.Auth == nil || opts.Agents == nil || opts.MCPServer == nil {
		return nil, errors.New("httpserver: Addr, Auth, Agents and MCPServer are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Audit == nil {
		opts.Audit = (*audit.Log)(nil)
	}
	if opts.Instrument == nil {
		opts.Instrument = func(_ string, h http.Handler) http.Handler { return h }
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 5 * time.Minute
	}
	if opts.MaxSessionsPerAgent <= 0 {
		opts.MaxSessionsPerAgent = 64
	}
	if opts.ReadyInterval <= 0 {
		opts.ReadyInterval = 2 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", opts.Addr, err)
	}
	if opts.TLS != nil {
		ln = tls.NewListener(ln, opts.TLS)
	}
	s := &Server{
		opts: opts, ln: ln,
		servers: &serverCache{build: opts.MCPServer, byKey: map[string]*mcp.Server{}},
		opening: opening{byAgent: map[string]int{}},
		ready:   &readiness{checks: opts.Ready, interval: opts.ReadyInterval, now: opts.Now, log: opts.Logger.With("component", "readyz")},
	}
	s.srv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the server's base URL as seen from this machine.
func (s *Server) URL() string {
	scheme := "http"
	if s.opts.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + s.Addr()
}

// Run serves until ctx ends, then shuts down, giving in-flight requests a
// few seconds to finish.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		// Long-lived event streams do not end by themselves.
		_ = s.srv.Close()
	}
	<-errc //nolint:errcheck // Serve returns http.ErrServerClosed once shut down
	return nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", s.opts.Instrument("healthz", http.HandlerFunc(healthz)))
	mux.Handle("GET /readyz", s.opts.Instrument("readyz", http.HandlerFunc(s.readyz)))
	if s.opts.Metrics != nil {
		mux.Handle("GET /metrics", bearerOnly(s.opts.MetricsToken, s.opts.Metrics))
	}
	meta := s.opts.Instrument("metadata", http.HandlerFunc(s.metadata))
	mux.Handle("/.well-known/oauth-protected-resource", meta)
	mux.Handle("/.well-known/oauth-protected-resource/mcp", meta)
	mux.Handle("/mcp", s.opts.Instrument("mcp", s.mcpHandler()))
	s.mountREST(mux)
	return mux
}
