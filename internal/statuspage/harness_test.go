package statuspage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

const testToken = "operator-0123456789abcdef-0123456789"

var t0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

// fakeAccess stands in for the access model, whose revocation is tested
// with its own fake Vault in package access and with a real Vault end to
// end. It records what the page asked.
type fakeAccess struct {
	mu    sync.Mutex
	snap  access.Snapshot
	calls []string // "grant alice read apr_1 (ref)" or "agent alice (ref)"
	// failed, if set, is a grant Vault does not confirm revoking.
	failed *access.GrantView
}

func (f *fakeAccess) Snapshot() access.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap
}

func (f *fakeAccess) RevokeGrant(ctx context.Context, p access.Principal, t access.Tier, id string) (access.Revocation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("grant %s %s %s (%s)", p, t, id, audit.CorrelationID(ctx)))
	rev := access.Revocation{Principal: p}
	for _, g := range f.snap.Grants {
		if g.Principal == p && g.Tier == t && g.ApprovalID == id {
			rev.Grants = append(rev.Grants, g)
		}
	}
	if len(rev.Grants) == 0 {
		return rev, access.ErrNoSuchGrant
	}
	if f.failed != nil {
		rev.Failed = []access.GrantView{*f.failed}
		return rev, errors.New("vault down")
	}
	return rev, nil
}

func (f *fakeAccess) RevokeAgent(ctx context.Context, p access.Principal) (access.Revocation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("agent %s (%s)", p, audit.CorrelationID(ctx)))
	rev := access.Revocation{Principal: p}
	for _, g := range f.snap.Grants {
		if g.Principal == p {
			rev.Grants = append(rev.Grants, g)
		}
	}
	for _, pv := range f.snap.Pending {
		if pv.Principal == p {
			rev.Cancelled = append(rev.Cancelled, pv)
		}
	}
	if len(rev.Grants)+len(rev.Cancelled) == 0 {
		return rev, access.ErrNothingToRevoke
	}
	return rev, nil
}

func (f *fakeAccess) DenyApproval(ctx context.Context, p access.Principal, id string) (access.PendingView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("deny %s %s (%s)", p, id, audit.CorrelationID(ctx)))
	for i, pv := range f.snap.Pending {
		if pv.Principal == p && pv.ApprovalID == id {
			f.snap.Pending = append(f.snap.Pending[:i:i], f.snap.Pending[i+1:]...)
			return pv, nil
		}
	}
	return access.PendingView{}, access.ErrNoSuchApproval
}

func (f *fakeAccess) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// events collects the page's audit events.
type events struct {
	mu   sync.Mutex
	all  []audit.Event
	fail bool
}

func (e *events) Record(_ context.Context, ev audit.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail {
		return fmt.Errorf("%w: disk full", audit.ErrUnavailable)
	}
	e.all = append(e.all, ev)
	return nil
}

func (e *events) list() []audit.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]audit.Event(nil), e.all...)
}

// tee is the audit stream as the server wires it: the page's events reach
// the audit log and, once recorded there, the page's own list.
type tee struct {
	log    *events
	recent *Recent
}

func (t tee) Record(ctx context.Context, ev audit.Event) error {
	if err := t.log.Record(ctx, ev); err != nil {
		return err
	}
	return t.recent.Record(ctx, ev)
}

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

type harness struct {
	s      *Server
	srv    *httptest.Server
	access *fakeAccess
	audit  *events
	recent *Recent
	clock  *clock
	origin string
}

func testSnapshot() access.Snapshot {
	return access.Snapshot{
		At: t0,
		Grants: []access.GrantView{
			{Principal: "alice", Tier: access.Read, Scope: "secret/agent/alice/", IssuedAt: t0.Add(-time.Hour), ExpiresAt: t0.Add(3 * time.Hour),
				SecondsLeft: 3 * 3600, ApprovalID: "apr_read1", Accessor: "acc-alice-read"},
			{Principal: "alice", Tier: access.Write, Scope: "secret/agent/alice/", Paths: []string{"db/"}, IssuedAt: t0, ExpiresAt: t0.Add(15 * time.Minute),
				SecondsLeft: 900, ApprovalID: "apr_write1", Accessor: "acc-alice-write", Credentials: []access.CredentialView{
					{Name: "app-db-rw", Engine: "database", Tier: access.Write, LeaseID: "database/creds/alice-rw/lease1", ExpiresAt: t0.Add(10 * time.Minute)},
				}},
		},
		Pending: []access.PendingView{
			{Principal: "bob", Tier: access.Read, ApprovalID: "apr_pending", Reason: "<script>alert(1)</script>", Trigger: "read_secret db", Expires: t0.Add(2 * time.Minute)},
		},
	}
}

func newHarness(t *testing.T, mod func(*Options)) *harness {
	t.Helper()
	h := &harness{access: &fakeAccess{snap: testSnapshot()}, audit: &events{}, recent: NewRecent(10), clock: &clock{now: t0}}
	h.srv = httptest.NewUnstartedServer(nil)
	h.origin = "http://" + h.srv.Listener.Addr().String()
	opts := Options{
		Access: h.access, OperatorToken: sensitive.New(testToken), Origins: []string{h.origin},
		Recent: h.recent, Audit: tee{h.audit, h.recent}, Now: h.clock.Now, SessionTTL: time.Hour,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	h.srv.Config.Handler = s.Handler()
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	return h
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// browser is a client with its own cookies that does not follow redirects.
type browser struct {
	t   *testing.T
	h   *harness
	c   *http.Client
	jar *cookiejar.Jar
}

func (h *harness) browser(t *testing.T) *browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, h: h, jar: jar, c: &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type response struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(req *http.Request) response {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(body)}
}

func (b *browser) get(path string) response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.h.srv.URL+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post sends a form from origin ("" sends no Origin header).
func (b *browser) post(path, origin string, form url.Values) response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.h.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	return b.do(req)
}

// login signs in and returns the page's CSRF token.
func (b *browser) login() string {
	b.t.Helper()
	if r := b.post("/login", b.h.origin, url.Values{"token": {testToken}}); r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		b.t.Fatalf("login: %d %s %s", r.status, r.header.Get("Location"), r.body)
	}
	return b.csrf()
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) csrf() string {
	b.t.Helper()
	r := b.get("/")
	m := csrfField.FindStringSubmatch(r.body)
	if r.status != http.StatusOK || m == nil {
		b.t.Fatalf("status page: %d, no CSRF token:\n%s", r.status, r.body)
	}
	return m[1]
}
