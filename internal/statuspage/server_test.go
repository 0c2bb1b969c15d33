package statuspage

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

func TestNewRefusesUnusableOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"fail/no-access", Options{OperatorToken: sensitive.New(testToken), Origins: []string{"http://127.0.0.1:1"}}, "no access model"},
		{"fail/short-token", Options{Access: &fakeAccess{}, OperatorToken: sensitive.New("short"), Origins: []string{"http://127.0.0.1:1"}}, "at least 32 bytes"},
		{"fail/no-origin", Options{Access: &fakeAccess{}, OperatorToken: sensitive.New(testToken)}, "no origin"},
		{"fail/origin-with-path", Options{Access: &fakeAccess{}, OperatorToken: sensitive.New(testToken), Origins: []string{"http://127.0.0.1:1/status"}}, "is not an origin"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	h := newHarness(t, nil)
	b := h.browser(t)
	csrf := b.login()
	responses := map[string]response{
		"login page":  b.get("/login"),
		"status page": b.get("/"),
		"style sheet": b.get("/static/status.css"),
		"not found":   b.get("/nothing"),
		"refused":     b.post("/revoke", "https://evil.example", url.Values{"csrf": {csrf}}),
		"revoked":     b.post("/revoke", h.origin, url.Values{"csrf": {csrf}, "principal": {"alice"}, "tier": {"write"}, "approval_id": {"apr_write1"}}),
	}
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-store",
		"Referrer-Policy":         "same-origin",
	}
	for name, r := range responses {
		got := map[string]string{}
		for k := range want {
			got[k] = r.header.Get(k)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (%d): headers (-want +got):\n%s", name, r.status, diff)
		}
	}
	if r := responses["style sheet"]; r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/css") {
		t.Errorf("style sheet: %d %s", r.status, r.header.Get("Content-Type"))
	}
	for _, name := range []string{"login page", "status page"} {
		if body := responses[name].body; strings.Contains(body, "<script") && !strings.Contains(body, "&lt;script") {
			t.Errorf("%s carries a script", name)
		}
	}
}

func TestWithoutSessionTheStatusPageSendsToSignIn(t *testing.T) {
	h := newHarness(t, nil)
	b := h.browser(t)
	r := b.get("/")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login" {
		t.Fatalf("GET / without a session: %d %q", r.status, r.header.Get("Location"))
	}
	if strings.Contains(r.body, "acc-alice") {
		t.Error("the redirect shows grants")
	}
	if r := b.get("/login"); r.status != http.StatusOK || !strings.Contains(r.body, `name="token"`) {
		t.Errorf("sign-in page: %d\n%s", r.status, r.body)
	}
}

func TestSignIn(t *testing.T) {
	tests := []struct {
		name    string
		origin  string
		ctype   string
		body    string
		status  int
		outcome audit.Outcome // the audit event; "" for none
		detail  string
	}{
		{name: "ok", body: "token=" + testToken, status: http.StatusSeeOther, outcome: audit.OK, detail: "operator signed in to the status page"},
		{name: "fail/wrong-token", body: "token=" + testToken + "x", status: http.StatusUnauthorized, outcome: audit.Refused, detail: "wrong operator token"},
		{name: "fail/prefix-of-the-token", body: "token=" + testToken[:20], status: http.StatusUnauthorized, outcome: audit.Refused, detail: "wrong operator token"},
		{name: "fail/empty-token", body: "token=", status: http.StatusUnauthorized, outcome: audit.Refused, detail: "wrong operator token"},
		{name: "fail/foreign-origin", origin: "https://evil.example", body: "token=" + testToken, status: http.StatusForbidden},
		{name: "fail/no-origin", origin: "-", body: "token=" + testToken, status: http.StatusForbidden},
		{name: "fail/null-origin", origin: "null", body: "token=" + testToken, status: http.StatusForbidden},
		{name: "fail/json", ctype: "application/json", body: `{"token":"` + testToken + `"}`, status: http.StatusUnsupportedMediaType},
		{name: "fail/too-large", body: "token=" + testToken + "&pad=" + strings.Repeat("x", maxBody), status: http.StatusRequestEntityTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			b := h.browser(t)
			req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/login", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			switch tc.origin {
			case "":
				req.Header.Set("Origin", h.origin)
			case "-":
			default:
				req.Header.Set("Origin", tc.origin)
			}
			r := b.do(req)
			if r.status != tc.status {
				t.Fatalf("status = %d, want %d\n%s", r.status, tc.status, r.body)
			}
			cookies := r.header.Values("Set-Cookie")
			if tc.status != http.StatusSeeOther {
				if len(cookies) != 0 {
					t.Errorf("a refused sign-in set cookies: %v", cookies)
				}
				if !strings.Contains(r.body, "Nothing was changed") {
					t.Errorf("the refusal does not say nothing changed:\n%s", r.body)
				}
				if g := b.get("/"); g.status != http.StatusSeeOther {
					t.Errorf("after a refused sign-in, GET / = %d, want a redirect to sign in", g.status)
				}
			} else {
				if len(cookies) != 1 {
					t.Fatalf("cookies = %v", cookies)
				}
				c := cookies[0]
				for _, attr := range []string{"HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=3600", "gatekeeper_status="} {
					if !strings.Contains(c, attr) {
						t.Errorf("session cookie %q lacks %s", c, attr)
					}
				}
				if strings.Contains(c, "Secure") {
					t.Errorf("session cookie %q is Secure on plain http (the browser would drop it)", c)
				}
			}
			var got []string
			for _, ev := range h.audit.list() {
				if ev.Event != audit.Authentication || ev.Method != "operator_token" || ev.Principal != "operator" {
					t.Errorf("audit event = %+v", ev)
				}
				got = append(got, string(ev.Outcome)+": "+ev.Detail)
			}
			var want []string
			if tc.outcome != "" {
				want = []string{string(tc.outcome) + ": " + tc.detail}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("audit (-want +got):\n%s", diff)
			}
			for _, ev := range h.audit.list() {
				if strings.Contains(ev.Detail+ev.CorrelationID+ev.Path, testToken[:20]) {
					t.Errorf("the audit event shows the token: %+v", ev)
				}
			}
		})
	}
}

func TestSecureCookieUnderTLS(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Secure = true })
	r := h.browser(t).post("/login", h.origin, url.Values{"token": {testToken}})
	c := r.header.Get("Set-Cookie")
	if !strings.HasPrefix(c, "__Host-gatekeeper_status=") || !strings.Contains(c, "Secure") {
		t.Errorf("cookie under TLS = %q, want __Host- and Secure", c)
	}
}

func TestSignInThatCannotBeAuditedIsRefused(t *testing.T) {
	h := newHarness(t, nil)
	h.audit.fail = true
	b := h.browser(t)
	r := b.post("/login", h.origin, url.Values{"token": {testToken}})
	if r.status != http.StatusServiceUnavailable || len(r.header.Values("Set-Cookie")) != 0 {
		t.Fatalf("sign-in without an audit log: %d, cookies %v", r.status, r.header.Values("Set-Cookie"))
	}
	if g := b.get("/"); g.status != http.StatusSeeOther {
		t.Errorf("GET / = %d, want no session", g.status)
	}
}

func TestAnotherHostIsRefused(t *testing.T) {
	h := newHarness(t, nil)
	b := h.browser(t)
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/login", nil)
	req.Host = "rebound.evil.example"
	if r := b.do(req); r.status != http.StatusMisdirectedRequest || !strings.Contains(r.body, h.origin) {
		t.Fatalf("request for another host: %d\n%s", r.status, r.body)
	}
}

func TestRevokeNeedsSessionCSRFAndOrigin(t *testing.T) {
	revoke := url.Values{"principal": {"alice"}, "tier": {"write"}, "approval_id": {"apr_write1"}}
	with := func(extra map[string]string) url.Values {
		v := url.Values{}
		for k, vs := range revoke {
			v[k] = vs
		}
		for k, x := range extra {
			v.Set(k, x)
		}
		return v
	}
	tests := []struct {
		name    string
		path    string
		origin  string // "" is the page's own
		form    func(csrf, otherCSRF string) url.Values
		signOut bool // the session ended before the POST
		expire  bool
		status  int
		message string
		calls   []string // asked of the access model
	}{
		{name: "ok/grant", path: "/revoke", form: func(c, _ string) url.Values { return with(map[string]string{"csrf": c}) },
			status: http.StatusSeeOther, calls: []string{"grant alice write apr_write1 (REF)"}},
		{name: "ok/agent", path: "/revoke-agent", form: func(c, _ string) url.Values { return url.Values{"csrf": {c}, "principal": {"alice"}} },
			status: http.StatusSeeOther, calls: []string{"agent alice (REF)"}},
		{name: "fail/no-csrf", path: "/revoke", form: func(string, string) url.Values { return with(nil) },
			status: http.StatusForbidden, message: "stale or did not come from your status page"},
		{name: "fail/wrong-csrf", path: "/revoke", form: func(c, _ string) url.Values { return with(map[string]string{"csrf": c + "x"}) },
			status: http.StatusForbidden, message: "stale or did not come from your status page"},
		{name: "fail/csrf-of-another-session", path: "/revoke-agent", form: func(_, o string) url.Values {
			return url.Values{"csrf": {o}, "principal": {"alice"}}
		}, status: http.StatusForbidden, message: "stale or did not come from your status page"},
		{name: "fail/foreign-origin", path: "/revoke", origin: "https://evil.example", form: func(c, _ string) url.Values { return with(map[string]string{"csrf": c}) },
			status: http.StatusForbidden, message: "did not come from the status page"},
		{name: "fail/sibling-port-origin", path: "/revoke", origin: "http://127.0.0.1:1", form: func(c, _ string) url.Values { return with(map[string]string{"csrf": c}) },
			status: http.StatusForbidden, message: "did not come from the status page"},
		{name: "fail/signed-out", path: "/revoke", signOut: true, form: func(c, _ string) url.Values { return with(map[string]string{"csrf": c}) },
			status: http.StatusUnauthorized, message: "not signed in"},
		{name: "fail/session-expired", path: "/revoke", expire: true, form: func(c, _ string) url.Values { return with(map[string]string{"csrf": c}) },
			status: http.StatusUnauthorized, message: "not signed in"},
		{name: "fail/unknown-grant", path: "/revoke", form: func(c, _ string) url.Values { return with(map[string]string{"csrf": c, "approval_id": "apr_gone"}) },
			status: http.StatusConflict, message: "is no longer live", calls: []string{"grant alice write apr_gone (REF)"}},
		{name: "fail/unknown-agent", path: "/revoke-agent", form: func(c, _ string) url.Values { return url.Values{"csrf": {c}, "principal": {"mallory"}} },
			status: http.StatusConflict, message: "mallory holds no grant", calls: []string{"agent mallory (REF)"}},
		{name: "fail/destroy-tier", path: "/revoke", form: func(c, _ string) url.Values { return with(map[string]string{"csrf": c, "tier": "destroy"}) },
			status: http.StatusBadRequest, message: "no tier"},
		{name: "fail/no-principal", path: "/revoke-agent", form: func(c, _ string) url.Values { return url.Values{"csrf": {c}} },
			status: http.StatusBadRequest, message: "does not name an agent"},
		{name: "ok/deny", path: "/deny", form: func(c, _ string) url.Values {
			return url.Values{"csrf": {c}, "principal": {"bob"}, "approval_id": {"apr_pending"}}
		}, status: http.StatusSeeOther, calls: []string{"deny bob apr_pending (REF)"}},
		{name: "fail/deny-foreign-origin", path: "/deny", origin: "https://evil.example", form: func(c, _ string) url.Values {
			return url.Values{"csrf": {c}, "principal": {"bob"}, "approval_id": {"apr_pending"}}
		}, status: http.StatusForbidden, message: "did not come from the status page"},
		{name: "fail/deny-no-csrf", path: "/deny", form: func(string, string) url.Values {
			return url.Values{"principal": {"bob"}, "approval_id": {"apr_pending"}}
		}, status: http.StatusForbidden, message: "stale or did not come from your status page"},
		{name: "fail/deny-not-pending", path: "/deny", form: func(c, _ string) url.Values {
			return url.Values{"csrf": {c}, "principal": {"bob"}, "approval_id": {"apr_gone"}}
		}, status: http.StatusConflict, message: "is no longer pending", calls: []string{"deny bob apr_gone (REF)"}},
		{name: "fail/deny-no-approval-id", path: "/deny", form: func(c, _ string) url.Values { return url.Values{"csrf": {c}, "principal": {"bob"}} },
			status: http.StatusBadRequest, message: "does not name the approval to deny"},
		{name: "fail/no-approval-id", path: "/revoke", form: func(c, _ string) url.Values { return with(map[string]string{"csrf": c, "approval_id": ""}) },
			status: http.StatusBadRequest, message: "does not name the grant&#39;s approval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			b := h.browser(t)
			csrf := b.login()
			otherCSRF := h.browser(t).login()
			if tc.signOut {
				if r := b.post("/logout", h.origin, url.Values{"csrf": {csrf}}); r.status != http.StatusSeeOther {
					t.Fatalf("logout: %d", r.status)
				}
			}
			if tc.expire {
				h.clock.Advance(time.Hour)
			}
			origin := tc.origin
			if origin == "" {
				origin = h.origin
			}
			r := b.post(tc.path, origin, tc.form(csrf, otherCSRF))
			if r.status != tc.status {
				t.Fatalf("status = %d, want %d\n%s", r.status, tc.status, r.body)
			}
			if tc.message != "" && (!strings.Contains(r.body, tc.message) || !strings.Contains(r.body, "Nothing")) {
				t.Errorf("page lacks %q and what changed:\n%s", tc.message, r.body)
			}
			ref := h.sessionRef(t)
			var want []string
			for _, c := range tc.calls {
				want = append(want, strings.ReplaceAll(c, "REF", ref))
			}
			if diff := cmp.Diff(want, h.access.called()); diff != "" {
				t.Errorf("asked of the access model (-want +got):\n%s", diff)
			}
		})
	}
}

// sessionRef is the reference of the harness's first session, as the
// login audit event gives it.
func (h *harness) sessionRef(t *testing.T) string {
	t.Helper()
	for _, ev := range h.audit.list() {
		if ev.Outcome == audit.OK {
			return ev.CorrelationID
		}
	}
	t.Fatal("no sign-in was audited")
	return ""
}

func TestRevokeShowsWhatEnded(t *testing.T) {
	h := newHarness(t, nil)
	b := h.browser(t)
	csrf := b.login()
	r := b.post("/revoke-agent", h.origin, url.Values{"csrf": {csrf}, "principal": {"alice"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Fatalf("revoke: %d %q", r.status, r.header.Get("Location"))
	}
	page := b.get("/").body
	for _, want := range []string{"ended alice&#39;s read and write access", "Revoked in Vault", "next call needs a new approval"} {
		if !strings.Contains(page, want) {
			t.Errorf("the status page after revoking lacks %q:\n%s", want, page)
		}
	}
	if again := b.get("/").body; strings.Contains(again, "Revoked in Vault") {
		t.Error("the notice shows twice")
	}
	r = b.post("/revoke", h.origin, url.Values{"csrf": {csrf}, "principal": {"alice"}, "tier": {"write"}, "approval_id": {"apr_write1"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("revoke write: %d", r.status)
	}
	if page := b.get("/").body; !strings.Contains(page, "alice keeps read access") {
		t.Errorf("after revoking write only, the page does not say read stays:\n%s", page)
	}
}

func TestRevokeThatVaultDidNotConfirm(t *testing.T) {
	h := newHarness(t, nil)
	g := testSnapshot().Grants[1]
	h.access.failed = &g
	b := h.browser(t)
	csrf := b.login()
	r := b.post("/revoke", h.origin, url.Values{"csrf": {csrf}, "principal": {"alice"}, "tier": {"write"}, "approval_id": {"apr_write1"}})
	if r.status != http.StatusBadGateway {
		t.Fatalf("status = %d, want 502", r.status)
	}
	for _, want := range []string{"acc-alice-write", "vault token revoke -accessor", "2026-11-24T09:15:00Z"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the page lacks %q:\n%s", want, r.body)
		}
	}
}

func TestStatusPageShowsGrantsPendingAndEvents(t *testing.T) {
	h := newHarness(t, nil)
	_ = h.recent.Record(t.Context(), audit.Event{Event: audit.GrantIssued, Outcome: audit.OK, Principal: "alice", Tier: "write", Accessor: "acc-alice-write", ApprovalID: "apr_write1"})
	b := h.browser(t)
	b.login()
	page := b.get("/").body
	for _, want := range []string{
		`data-principal="alice"`, `data-approval="apr_read1"`, `data-accessor="acc-alice-read"`, "all of secret/agent/alice/",
		"db/", "2026-11-24 09:15:00Z", `data-seconds="900">15m 00s</td>`, `action="/revoke"`, `action="/revoke-agent"`,
		"Revoke all of alice's access", `data-approval="apr_pending"`, "&lt;script&gt;alert(1)&lt;/script&gt;", "read_secret db",
		`data-event="grant.issued"`, `data-event="authentication"`, "operator signed in to the status page",
		`data-credential="app-db-rw"`, "database/creds/alice-rw/lease1", "2026-11-24 09:10:00Z",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the status page lacks %q", want)
		}
	}
	if strings.Contains(page, testToken) || strings.Contains(page, "<script>") {
		t.Errorf("the status page shows the operator token or a script:\n%s", page)
	}
	// bob only waits for an approval: he has a row, with its revoke button.
	if !strings.Contains(page, `<form class="inline revoke-agent" method="post" action="/revoke-agent" data-principal="bob">`) {
		t.Errorf("no revoke button for an agent with only a pending approval:\n%s", page)
	}
}

func TestEmptyStatusPage(t *testing.T) {
	h := newHarness(t, nil)
	h.access.snap = access.Snapshot{At: t0}
	b := h.browser(t)
	b.login()
	page := b.get("/").body
	for _, want := range []string{"No agent holds access", "No approval is waiting"} {
		if !strings.Contains(page, want) {
			t.Errorf("the empty status page lacks %q", want)
		}
	}
}

func TestSignOut(t *testing.T) {
	h := newHarness(t, nil)
	b := h.browser(t)
	csrf := b.login()
	r := b.post("/logout", h.origin, url.Values{"csrf": {csrf}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?signed_out=1" || !strings.Contains(r.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("logout: %d %q %q", r.status, r.header.Get("Location"), r.header.Get("Set-Cookie"))
	}
	if g := b.get("/"); g.status != http.StatusSeeOther {
		t.Errorf("GET / after sign-out = %d, want a redirect to sign in", g.status)
	}
	if p := b.get("/login?signed_out=1"); !strings.Contains(p.body, "You are signed out") {
		t.Errorf("sign-in page after sign-out:\n%s", p.body)
	}
}

func TestSessionsAreBounded(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxSessions = 2 })
	first := h.browser(t)
	first.login()
	h.clock.Advance(time.Minute)
	second, third := h.browser(t), h.browser(t)
	second.login()
	h.clock.Advance(time.Minute)
	third.login()
	if r := first.get("/"); r.status != http.StatusSeeOther {
		t.Errorf("the oldest session survived: %d", r.status)
	}
	for _, b := range []*browser{second, third} {
		if r := b.get("/"); r.status != http.StatusOK {
			t.Errorf("a newer session ended: %d", r.status)
		}
	}
}

// TestPendingApprovalLinksItsPage: a pending approval this replica runs
// shows the link to its approval page; one it does not, says so.
func TestPendingApprovalLinksItsPage(t *testing.T) {
	const link = "http://localhost:8444/approve/dG9rZW4tb2YtdGhlLXBlbmRpbmctYXBwcm92YWwtcGFnZQ"
	h := newHarness(t, func(o *Options) {
		o.ApprovalLink = func(id string) (string, bool) { return link, id == "apr_pending" }
	})
	b := h.browser(t)
	b.login()
	page := b.get("/").body
	if !strings.Contains(page, `<a class="answer" href="`+link+`"`) {
		t.Errorf("the pending approval does not link its page:\n%s", page)
	}
	h.s.opts.ApprovalLink = func(string) (string, bool) { return "", false }
	if page := b.get("/").body; strings.Contains(page, link) || !strings.Contains(page, "not held here") {
		t.Errorf("an approval without a page here:\n%s", page)
	}
}

// TestStatusPageShowsHiddenCharacters: what an agent chose (its name from
// a credential, a pending approval's reason, trigger and paths, an audit
// event's fields) is shown with every character that would make it look
// like something else written out.
func TestStatusPageShowsHiddenCharacters(t *testing.T) {
	h := newHarness(t, nil)
	h.access.snap.Pending = []access.PendingView{{
		Principal: "bob\u2066", Tier: access.Write, ApprovalID: "apr_hidden", Paths: []string{"db\u2028x"},
		Reason: "read only\u202e etirw dna", Trigger: "write_secret db\u200b/x", Expires: t0.Add(2 * time.Minute),
	}}
	_ = h.recent.Record(t.Context(), audit.Event{Event: audit.ToolCall, Outcome: audit.Refused, Principal: "eve\u200f", Tool: "escalate", Path: "p\ufeffq", Detail: "d\u2029e"})
	b := h.browser(t)
	b.login()
	page := b.get("/").body
	for _, want := range []string{`bob\u2066`, `db\u2028x`, `read only\u202E etirw dna`, `write_secret db\u200B/x`, `eve\u200F`, `p\uFEFFq`, `d\u2029e`} {
		if !strings.Contains(page, want) {
			t.Errorf("the status page lacks %q", want)
		}
	}
	// Attributes keep the real name (the revoke forms post it back); the
	// text between the tags is what the operator reads.
	text := regexp.MustCompile(`<[^>]*>`).ReplaceAllString(page, "")
	if i := strings.IndexFunc(text, func(r rune) bool { return r != '\n' && access.Misleading(r) }); i >= 0 {
		t.Errorf("the status page shows a hidden character at byte %d: %q", i, text[max(0, i-40):min(len(text), i+40)])
	}
}
