package passkey

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/page"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

const testToken = "enroll-0123456789abcdef"

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

// harness is an Approver served on 127.0.0.1, reached as localhost (the
// one http origin browsers allow WebAuthn on).
type harness struct {
	a      *Approver
	pages  *page.Server
	store  *FileStore
	clock  *testClock
	srv    *httptest.Server
	origin string
	links  chan string

	mu    sync.Mutex
	paths map[string]string // request id → its page's path
}

func newHarness(t *testing.T, mod func(*Options)) *harness {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := "http://localhost:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	store, err := NewFileStore(filepath.Join(t.TempDir(), "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{store: store, clock: &testClock{}, origin: origin, links: make(chan string, 16), paths: map[string]string{}}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.pages, err = page.New(page.Options{
		BaseURL: origin,
		Notify:  func(_ context.Context, link string, _ access.Request) { h.links <- link },
		Now:     h.clock.Now,
		Logger:  logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		RPID: "localhost", RPOrigins: []string{origin}, Store: store,
		EnrollToken: sensitive.New(testToken),
		Pages:       h.pages,
		Now:         h.clock.Now,
		Logger:      logger,
	}
	if mod != nil {
		mod(&opts)
	}
	h.a, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.pages.UsePasskey(h.a, h.a.Handler())
	h.srv = httptest.NewUnstartedServer(h.pages.Handler())
	h.srv.Listener.Close()
	h.srv.Listener = l
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	return h
}

// testWriter sends the approver's log to the test's log.
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

// pendingApproval is an Approve call running in the background.
type pendingApproval struct {
	req    access.Request
	link   string
	done   chan error
	cancel context.CancelFunc
}

func (h *harness) start(t *testing.T, req access.Request) *pendingApproval {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	p := &pendingApproval{req: req, done: make(chan error, 1), cancel: cancel}
	go func() { p.done <- h.a.Approve(ctx, req) }()
	select {
	case p.link = <-h.links:
	case err := <-p.done:
		t.Fatalf("Approve(%s) returned before notifying: %v", req.ID, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("Approve(%s) did not notify", req.ID)
	}
	path, ok := strings.CutPrefix(p.link, h.origin)
	if !ok || !strings.HasPrefix(path, "/approve/") || strings.Contains(path, req.ID) {
		t.Fatalf("link = %q, want %s/approve/ and a token that is not the request id", p.link, h.origin)
	}
	h.mu.Lock()
	h.paths[req.ID] = path
	h.mu.Unlock()
	return p
}

// path is the page of the request with id, or "/approve/ID" (no page)
// for a request never started.
func (h *harness) path(id string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p, ok := h.paths[id]; ok {
		return p
	}
	return "/approve/" + id
}

// result waits for Approve to return.
func (p *pendingApproval) result(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("Approve(%s) did not return", p.req.ID)
		return nil
	}
}

// assertPending checks that the request is still waiting for an answer.
func (h *harness) assertPending(t *testing.T, p *pendingApproval) {
	t.Helper()
	select {
	case err := <-p.done:
		t.Fatalf("Approve(%s) returned %v, want it still pending", p.req.ID, err)
	default:
	}
	if _, _, body := h.get(t, h.path(p.req.ID)); !strings.Contains(body, `data-state="pending"`) {
		t.Fatalf("request %s is not pending:\n%s", p.req.ID, body)
	}
}

// post sends a JSON body as the page would, from origin.
func (h *harness) post(t *testing.T, path, origin string, body any) (int, map[string]any) {
	t.Helper()
	b, ok := body.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// begin asks for a challenge to answer d to request id.
func (h *harness) begin(t *testing.T, id string, d decision) []byte {
	t.Helper()
	status, out := h.post(t, h.path(id)+"/begin", h.origin, map[string]string{"decision": string(d)})
	if status != http.StatusOK {
		t.Fatalf("begin %s %s (%s): %d %v", id, d, h.path(id), status, out)
	}
	pk, _ := out["publicKey"].(map[string]any)
	ch, _ := pk["challenge"].(string)
	raw, err := base64.RawURLEncoding.DecodeString(ch)
	if err != nil || len(raw) != challengeSize {
		t.Fatalf("begin %s: challenge %q is not a %d-byte base64url value", id, ch, challengeSize)
	}
	if uv := pk["userVerification"]; uv != "required" {
		t.Errorf("begin %s: userVerification = %v, want required", id, uv)
	}
	return raw
}

// finish posts a signed answer for request id.
func (h *harness) finish(t *testing.T, id string, d decision, cred json.RawMessage) (int, map[string]any) {
	t.Helper()
	return h.post(t, h.path(id)+"/finish", h.origin, map[string]any{"decision": string(d), "credential": cred})
}

func (h *harness) get(t *testing.T, path string) (int, http.Header, string) {
	t.Helper()
	resp, err := h.srv.Client().Get(h.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}
