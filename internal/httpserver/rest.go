package httpserver

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

// REST is the REST API the server mounts beside /mcp. API serves /v1/
// behind the same cross-origin protection and client authentication as
// /mcp (its handler finds the caller with CallerOf); Document is the API's
// description, served at /v1/openapi.json without authentication: it holds
// nothing about any agent.
type REST struct {
	API      http.Handler
	Document http.Handler
}

// CallerOf returns the agent the server authenticated for a request under
// /v1/, and the scopes its credential allows (never nil: a credential
// without scopes allows nothing).
func CallerOf(ctx context.Context) (agent string, scopes []string, ok bool) {
	c, ok := ctx.Value(callerKey{}).(*caller)
	if !ok {
		return "", nil, false
	}
	return c.agent, append([]string{}, c.scopes...), true
}

func (s *Server) mountREST(mux *http.ServeMux) {
	if s.opts.REST == nil {
		return
	}
	api := s.opts.Instrument("rest", rebinding(s.crossOrigin(audit.APIREST).Handler(s.authenticate(audit.APIREST, s.opts.REST.API))))
	mux.Handle("/v1/", api)
	mux.Handle("GET /v1/openapi.json", s.opts.Instrument("openapi", s.opts.REST.Document))
}

// rebinding refuses, on a loopback listener, a request for a Host that is
// not loopback (DNS rebinding), as the MCP SDK does for /mcp.
func rebinding(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		if ok && local != nil && loopback(local.String()) && !loopback(r.Host) {
			refuse(w, audit.APIREST, http.StatusForbidden, "this server answers only to a loopback host name")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopback says whether a host or host:port names this machine.
func loopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.IsLoopback()
}
