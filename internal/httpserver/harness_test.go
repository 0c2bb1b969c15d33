package httpserver

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/clientauth"
)

var t0 = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

// clock is a hand-driven time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// events collects audit events.
type events struct {
	mu  sync.Mutex
	all []audit.Event
}

func (e *events) Record(_ context.Context, ev audit.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
	return nil
}

func (e *events) list() []audit.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]audit.Event(nil), e.all...)
}

// syncBuffer is a log sink the server writes from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testAgents are the agents the harness declares, each with the API key
// "key-" + name.
var testAgents = []string{"alice", "bob"}

type harness struct {
	s     *Server
	url   string
	clock *clock
	audit *events
	// transport is the clients'; its idle connections are closed before
	// the server stops, which would otherwise wait for them.
	transport *http.Transport
}

// newHarness runs a Server with real API-key authentication and an MCP
// server without tools, as mod changes its options.
func newHarness(t testing.TB, mod func(*Options)) *harness {
	t.Helper()
	var keys []clientauth.APIKey
	for _, a := range testAgents {
		keys = append(keys, clientauth.APIKey{ID: a + "-1", Agent: a, SHA256: clientauth.HashKey("key-" + a), Scopes: []string{"read"}})
	}
	auth, err := clientauth.NewAPIKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{clock: &clock{now: t0}, audit: &events{}}
	opts := Options{
		Addr: "127.0.0.1:0",
		Auth: auth,
		Agents: func(name string) ([]string, bool) {
			for _, a := range testAgents {
				if a == name {
					return nil, true
				}
			}
			return nil, false
		},
		MCPServer: func(string, []string) *mcp.Server {
			return mcp.NewServer(&mcp.Implementation{Name: "test", Version: "v0"}, nil)
		},
		Audit: h.audit,
		Now:   h.clock.Now,
	}
	if mod != nil {
		mod(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	h.s, h.url = s, s.URL()
	h.transport = http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(h.transport.CloseIdleConnections)
	return h
}

// keyHeader adds an agent's API key to every request.
type keyHeader struct {
	key string
	rt  http.RoundTripper
}

func (k keyHeader) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-API-Key", k.key)
	return k.rt.RoundTrip(r)
}

// connect opens an MCP session as agent.
func (h *harness) connect(ctx context.Context, agent string) (*mcp.ClientSession, error) {
	c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "v0"}, nil)
	return c.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:             h.url + "/mcp",
		HTTPClient:           &http.Client{Transport: keyHeader{"key-" + agent, h.transport}},
		MaxRetries:           -1,
		DisableStandaloneSSE: true,
	}, nil)
}

func contains(s string, subs ...string) string {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return sub
		}
	}
	return ""
}
