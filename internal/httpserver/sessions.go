package httpserver

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

// Header names of Streamable HTTP.
const (
	sessionIDHeader       = "Mcp-Session-Id"
	protocolVersionHeader = "Mcp-Protocol-Version"
	// sessionlessProtocol is the first protocol version without sessions:
	// its requests carry no session id and leave no session behind.
	sessionlessProtocol = "2026-07-28"
)

// opening counts, per agent, the requests in flight that may open an MCP
// session: with the agent's open sessions they make its count, so that
// concurrent requests cannot open more than the cap between them.
type opening struct {
	mu      sync.Mutex
	byAgent map[string]int
}

// limitSessions bounds each agent's MCP sessions (stateful mode). A POST
// without a session id is what opens one (the SDK keeps it if it was an
// initialize), so each counts against the agent's cap, whatever its body
// says, until the session it opened counts instead or it ends: at most
// MaxSessionsPerAgent open sessions and such requests at once. A new session beyond the cap is refused
// rather than an old one evicted, because evicting would let any holder of
// the agent's credential end the sessions its other clients are working in
// (an approval being waited on, a progress stream); idle sessions end by
// themselves after SessionTimeout. Requests of the session-based protocol
// that may open a session also take a token from the agent's rate limit
// (AllowSession); the sessionless protocol's requests open none and are
// charged as tool calls (one that claims that protocol and still carries
// an initialize escapes the rate, never the cap).
func (s *Server) limitSessions(next http.Handler) http.Handler {
	if s.opts.Stateless {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get(sessionIDHeader) != "" {
			next.ServeHTTP(w, r)
			return
		}
		agent := r.Context().Value(callerKey{}).(*caller).agent // authenticate put it there
		if !s.enterOpening(agent) {
			s.refuseSession(w, r, agent, 0, fmt.Sprintf("new MCP session refused: the agent's %d are open", s.opts.MaxSessionsPerAgent),
				fmt.Sprintf("This agent has as many open MCP sessions as Gatekeeper allows (%d, http.max_sessions_per_agent). "+
					"Reuse one, or close one (DELETE /mcp with its Mcp-Session-Id); idle sessions end by themselves after a while.", s.opts.MaxSessionsPerAgent))
			return
		}
		ow := &openingWriter{ResponseWriter: w, s: s, agent: agent}
		defer ow.leave()
		if s.opts.AllowSession != nil && !sessionless(r) {
			if wait, ok := s.opts.AllowSession(agent); !ok {
				ow.leave()
				s.refuseSession(w, r, agent, wait, "new MCP session refused: rate limit",
					fmt.Sprintf("This agent opens MCP sessions too fast. Reuse the session you have, or retry after %s.", wait.Round(time.Second)))
				return
			}
		}
		next.ServeHTTP(ow, r)
	})
}

// openingWriter is the response to a request that may open a session. The
// request stops counting when the session it opened counts instead, which
// is before the response starts in the usual case, so a client's next
// request never finds its own last one still counted: when the response
// starts, if the request carried no initialize (the SDK names the new
// session in the response only then), or once its session is initialized;
// otherwise when the handler returns.
type openingWriter struct {
	http.ResponseWriter
	s     *Server
	agent string

	mu   sync.Mutex
	left bool
}

// started is called on every write; it stops the count once it may.
func (w *openingWriter) started() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.left {
		return
	}
	if id := w.Header().Get(sessionIDHeader); id != "" && !w.s.servers.initialized(w.agent, id) {
		return
	}
	w.left = true
	w.s.leaveOpening(w.agent)
}

// leave stops the count, if started has not.
func (w *openingWriter) leave() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.left {
		w.left = true
		w.s.leaveOpening(w.agent)
	}
}

func (w *openingWriter) WriteHeader(code int) {
	w.started()
	w.ResponseWriter.WriteHeader(code)
}

func (w *openingWriter) Write(b []byte) (int, error) {
	w.started()
	return w.ResponseWriter.Write(b)
}

func (w *openingWriter) Flush() {
	w.started()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *openingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// sessionless says whether a request declares the sessionless protocol.
func sessionless(r *http.Request) bool {
	v := r.Header.Get(protocolVersionHeader)
	return v != "" && v >= sessionlessProtocol
}

// enterOpening counts one request that may open a session for agent, if
// the agent's open sessions and such requests stay within the cap.
func (s *Server) enterOpening(agent string) bool {
	s.opening.mu.Lock()
	defer s.opening.mu.Unlock()
	n := s.opening.byAgent[agent]
	if n+s.servers.sessions(agent) >= s.opts.MaxSessionsPerAgent {
		return false
	}
	s.opening.byAgent[agent] = n + 1
	return true
}

func (s *Server) leaveOpening(agent string) {
	s.opening.mu.Lock()
	defer s.opening.mu.Unlock()
	if s.opening.byAgent[agent]--; s.opening.byAgent[agent] <= 0 {
		delete(s.opening.byAgent, agent)
	}
}

// refuseSession answers 429 with a JSON-RPC error the client shows, and
// audits the refusal as a rate limit.
func (s *Server) refuseSession(w http.ResponseWriter, r *http.Request, agent string, retryAfter time.Duration, detail, msg string) {
	_ = s.opts.Audit.Record(r.Context(), audit.Event{
		Event: audit.RateLimited, Outcome: audit.Refused, Principal: agent, Path: r.URL.Path, Detail: detail,
	})
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retryAfter.Seconds()))))
	}
	writeJSON(w, http.StatusTooManyRequests, map[string]any{
		"jsonrpc": "2.0",
		"id":      nil,
		"error":   map[string]any{"code": -32000, "message": msg},
	})
}

// sessions counts agent's open MCP sessions over all its servers: those
// initialized, since the SDK closes any other when its request ends.
func (c *serverCache) sessions(agent string) int {
	n := 0
	c.eachSession(agent, func(ss *mcp.ServerSession) {
		if ss.InitializeParams() != nil {
			n++
		}
	})
	return n
}

// initialized says whether agent's session id is open and initialized.
func (c *serverCache) initialized(agent, id string) bool {
	found := false
	c.eachSession(agent, func(ss *mcp.ServerSession) {
		found = found || (ss.ID() == id && ss.InitializeParams() != nil)
	})
	return found
}

func (c *serverCache) eachSession(agent string, f func(*mcp.ServerSession)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, srv := range c.byKey {
		if name, _, _ := strings.Cut(key, "\x00"); name == agent {
			for ss := range srv.Sessions() {
				f(ss)
			}
		}
	}
}
