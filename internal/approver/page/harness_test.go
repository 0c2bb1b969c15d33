package page

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// testClock runs on real time plus an offset the test moves forward.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// harness is a Server on 127.0.0.1, reached as localhost.
type harness struct {
	s      *Server
	clock  *testClock
	srv    *httptest.Server
	origin string
	// links receives every link announced (Options.Announce) and shown
	// to the caller (approver.ShowLink).
	announced chan string
	shown     chan string
}

func newHarness(t *testing.T, mod func(*Options)) *harness {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := "http://localhost:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	h := &harness{clock: &testClock{}, origin: origin, announced: make(chan string, 16), shown: make(chan string, 16)}
	opts := Options{
		BaseURL:  origin,
		Announce: func(link string, _ access.Request) { h.announced <- link },
		Now:      h.clock.Now,
		Logger:   slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&opts)
	}
	h.s, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewUnstartedServer(h.s.Handler())
	h.srv.Listener.Close()
	h.srv.Listener = l
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	return h
}

// testWriter sends the server's log to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func testRequest(id string, now time.Time) access.Request {
	sum := sha256.Sum256([]byte("request " + id))
	return access.Request{
		ID:        id,
		Principal: "ci-agent",
		Tier:      access.Write,
		Scope:     "secret/agent/ci/",
		Paths:     []string{"db/password"},
		Reason:    "rotate the database password",
		Trigger:   "write_secret db/password",
		TTL:       15 * time.Minute,
		Expires:   now.Add(10 * time.Minute),
		Digest:    hex.EncodeToString(sum[:]),
		Passcode:  sensitive.New("never-shown-passcode"),
	}
}

// open opens req's page with a link handler in ctx, as a tool call does.
func (h *harness) open(t *testing.T, req access.Request, ask Ask) *Pending {
	t.Helper()
	ctx := approver.WithLinkHandler(t.Context(), func(_ context.Context, link approver.Link, _ access.Request) { h.shown <- link.URL })
	p, err := h.s.Open(ctx, req, ask)
	if err != nil {
		t.Fatalf("Open(%s): %v", req.ID, err)
	}
	t.Cleanup(func() { _ = p.Finish(context.Canceled) })
	return p
}

// path is the path of a link on the harness's server.
func path(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Path
}

// client follows no redirect, so that a test sees the 303 itself.
func (h *harness) client() *http.Client {
	c := *h.srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func (h *harness) get(t *testing.T, path string) (int, http.Header, string) {
	t.Helper()
	resp, err := h.client().Get(h.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// postForm posts a form as the page would, from origin ("" for none).
func (h *harness) postForm(t *testing.T, path, origin string, form url.Values) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := h.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// state is the page's data-state attribute of #status.
func state(body string) string {
	const attr = `id="status" role="status" data-state="`
	i := strings.Index(body, attr)
	if i < 0 {
		return ""
	}
	rest := body[i+len(attr):]
	return rest[:strings.IndexByte(rest, '"')]
}
