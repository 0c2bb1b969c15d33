package httpserver

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/clientauth"
)

// mcpHandler is /mcp: cross-origin protection, client authentication, the
// per-agent bound on sessions, then the SDK's Streamable HTTP handler with a
// server per set of tools.
func (s *Server) mcpHandler() http.Handler {
	sdk := mcp.NewStreamableHTTPHandler(func(r *http.Request) *mcp.Server {
		ti := auth.TokenInfoFromContext(r.Context())
		if ti == nil {
			return nil
		}
		return s.servers.get(ti.UserID, ti.Scopes)
	}, &mcp.StreamableHTTPOptions{
		Stateless:      s.opts.Stateless,
		SessionTimeout: s.opts.SessionTimeout,
		// A call that only answers (a read) gets a plain JSON body; one
		// that reports progress first (waiting for an approval) streams it.
		JSONUnlessStreamed: true,
		// Bounded request bodies: 413 beyond this.
		MaxRequestBodyBytes: s.opts.MaxBodyBytes,
		Logger:              s.opts.Logger.With("component", "mcp-http"),
	})

	// The SDK carries a verified caller into tool calls (RequestExtra.
	// TokenInfo) and binds each session to its caller's UserID, refusing
	// the session to anyone else, through its bearer-token hook. Gatekeeper
	// authenticates first, by whatever method, and hands the identity over
	// that hook; the credential itself goes no further than clientauth.
	handOver := auth.RequireBearerToken(func(ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
		c, ok := ctx.Value(callerKey{}).(*caller)
		if !ok {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{UserID: c.agent, Scopes: c.scopes, Expiration: c.expires}, nil
	}, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})(sdk)

	return s.crossOrigin(audit.APIMCP).Handler(s.authenticate(audit.APIMCP, s.limitSessions(handOver)))
}

// crossOrigin refuses browsers' cross-origin requests but from the
// trusted origins.
func (s *Server) crossOrigin(api string) *http.CrossOriginProtection {
	cop := http.NewCrossOriginProtection()
	for _, o := range s.opts.AllowedOrigins {
		_ = cop.AddTrustedOrigin(o) // validated with the configuration
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		refuse(w, api, http.StatusForbidden, "cross-origin request refused")
	}))
	return cop
}

type callerKey struct{}

// caller is an authenticated agent with the scopes it may use.
type caller struct {
	agent   string
	scopes  []string
	expires time.Time
}

// authenticate admits a request to api (audit.APIMCP or audit.APIREST)
// only with a credential that clientauth accepts and that belongs to a
// declared agent. Every decision is audited.
// A refusal is 401 with the RFC 9728 pointer, as the MCP authorization
// spec asks; an authenticated but undeclared agent is 403.
func (s *Server) authenticate(api string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id, err := s.opts.Auth.Authenticate(r)
		ev := audit.Event{Event: audit.Authentication, Outcome: audit.Refused, Path: r.URL.Path, API: api, Source: audit.Peer(r.RemoteAddr)}
		if id != nil {
			ev.Method, ev.Principal = id.Method, id.Agent
		}
		var ceiling []string
		known := false
		if err == nil {
			ceiling, known = s.opts.Agents(id.Agent)
		}
		switch {
		case errors.Is(err, clientauth.ErrNoCredential):
			ev.Detail = "no credential"
			_ = s.opts.Audit.Record(ctx, ev)
			s.challenge(w, r, api, "")
			return
		case err != nil:
			ev.Detail = safeReason(err)
			_ = s.opts.Audit.Record(ctx, ev)
			s.challenge(w, r, api, "invalid_token")
			return
		case !known:
			ev.Detail = "agent not declared"
			_ = s.opts.Audit.Record(ctx, ev)
			refuse(w, api, http.StatusForbidden, "this agent is not configured on this Gatekeeper")
			return
		}
		scopes := id.Scopes
		if len(ceiling) > 0 {
			scopes = slices.DeleteFunc(slices.Clone(scopes), func(sc string) bool { return !slices.Contains(ceiling, sc) })
		}
		ev.Outcome = audit.OK
		if err := s.opts.Audit.Record(ctx, ev); err != nil {
			refuse(w, api, http.StatusServiceUnavailable, "Gatekeeper cannot write its audit log, so it serves no request; tell the operator")
			return
		}

		r = r.Clone(context.WithValue(ctx, callerKey{}, &caller{agent: id.Agent, scopes: scopes, expires: id.Expires}))
		// The real credential stops here; the SDK's hook sees a placeholder.
		r.Header.Set("Authorization", "Bearer authenticated")
		r.Header.Del("X-API-Key")
		next.ServeHTTP(w, r)
	})
}

// challenge answers 401 and points at the protected-resource metadata.
func (s *Server) challenge(w http.ResponseWriter, r *http.Request, api, errCode string) {
	v := `Bearer resource_metadata="` + s.baseURL(r) + `/.well-known/oauth-protected-resource"`
	if errCode != "" {
		v += `, error="` + errCode + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
	refuse(w, api, http.StatusUnauthorized, "authentication required")
}

// refuse answers a request the server turns away before any operation:
// in plain text at /mcp (as the SDK's own refusals), in the REST API's
// JSON error shape under /v1/.
func refuse(w http.ResponseWriter, api string, code int, msg string) {
	if api == audit.APIREST {
		writeJSON(w, code, map[string]any{"error": map[string]string{"message": msg}})
		return
	}
	http.Error(w, msg, code)
}

// safeReason is the refusal's reason as clientauth wrote it: it names what
// was wrong, never the credential.
func safeReason(err error) string {
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}

// serverCache keeps one MCP server per agent and distinct scope set.
// Agents are declared in the configuration and scope sets are few (they
// come from configuration and token claims), and servers are cheap; tools
// are registered once per pair.
type serverCache struct {
	build func(agent string, scopes []string) *mcp.Server
	mu    sync.Mutex
	byKey map[string]*mcp.Server
}

// Forget ends agent's MCP sessions and drops its servers (the agent was
// removed from the configuration): its next request is authenticated
// again, as any new one.
func (s *Server) Forget(agent string) {
	s.servers.mu.Lock()
	var gone []*mcp.Server
	for key, srv := range s.servers.byKey {
		if name, _, _ := strings.Cut(key, "\x00"); name == agent {
			gone = append(gone, srv)
			delete(s.servers.byKey, key)
		}
	}
	s.servers.mu.Unlock()
	for _, srv := range gone {
		for ss := range srv.Sessions() {
			_ = ss.Close()
		}
	}
}

func (c *serverCache) get(agent string, scopes []string) *mcp.Server {
	sorted := slices.Clone(scopes)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	key := agent + "\x00" + strings.Join(sorted, " ")
	c.mu.Lock()
	defer c.mu.Unlock()
	srv, ok := c.byKey[key]
	if !ok {
		srv = c.build(agent, sorted)
		c.byKey[key] = srv
	}
	return srv
}
