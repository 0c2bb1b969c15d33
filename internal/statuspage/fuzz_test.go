package statuspage

import (
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

const fuzzOrigin = "http://127.0.0.1:8445"

var fuzzMethods = []string{http.MethodGet, http.MethodPost, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions}

// FuzzRequest sends the status page arbitrary requests: method, path, Host,
// Origin, Content-Type, Cookie and body. Any page on the web can make a
// browser send most of that to a loopback address, so whatever arrives:
//   - the page does not panic or fail inside (no 500);
//   - a grant or an agent is revoked, or an approval denied, only by a
//     POST from the page's own origin that carries a live session's cookie
//     and that session's CSRF token in its form body;
//   - a session starts only with the operator token posted from the page's
//     own origin;
//   - no response shows the operator token or the session cookie's value
//     (other than a redirect repeating the requested path).
//
// To let the fuzzer build valid requests, "{session}", "{csrf}", "{token}",
// "{origin}" and "{host}" in any field stand for the live session's cookie,
// its CSRF token, the operator token and the page's origin and host. Each
// input runs against a new page with one signed-in session. The seed corpus
// (testdata/fuzz/FuzzRequest) has the page's own forms and the usual
// cross-site and rebinding attempts on them.
func FuzzRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, method uint8, path, host, origin, ctype, cookie, body string) {
		fuzzRequest(t, method, path, host, origin, ctype, cookie, body)
	})
}

// fuzzRequest is one input of FuzzRequest; it returns the revocations and
// denials the request made.
func fuzzRequest(t *testing.T, method uint8, path, host, origin, ctype, cookie, body string) []string {
	fa := &fakeAccess{snap: testSnapshot()}
	s, err := New(Options{
		Access: fa, OperatorToken: sensitive.New(testToken), Origins: []string{fuzzOrigin},
		Now: func() time.Time { return t0 }, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	session, csrf := signIn(t, h)
	u, _ := url.Parse(fuzzOrigin)
	fill := strings.NewReplacer("{session}", session, "{csrf}", csrf, "{token}", testToken, "{origin}", fuzzOrigin, "{host}", u.Host).Replace
	path, host, origin, ctype, cookie, body = fill(path), fill(host), fill(origin), fill(ctype), fill(cookie), fill(body)
	if strings.ContainsAny(host+origin+ctype+cookie, "\r\n\x00") {
		return nil // not a header value
	}
	m := fuzzMethods[int(method)%len(fuzzMethods)]
	r := httptest.NewRequest(m, "/", strings.NewReader(body))
	r.URL = &url.URL{Path: path}
	r.Host = host
	r.Header = http.Header{}
	for k, v := range map[string]string{"Origin": origin, "Content-Type": ctype, "Cookie": cookie} {
		if v != "" {
			r.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	resp := w.Result()
	out, _ := io.ReadAll(resp.Body)

	if resp.StatusCode == http.StatusInternalServerError {
		t.Fatalf("%s %q: 500:\n%s", m, path, out)
	}
	form, _ := url.ParseQuery(body)
	fromPage := m == http.MethodPost && strings.ToLower(origin) == fuzzOrigin && strings.EqualFold(host, u.Host)
	if calls := fa.called(); len(calls) > 0 {
		c, err := r.Cookie("gatekeeper_status")
		if !fromPage || err != nil || c.Value != session || form.Get("csrf") != csrf {
			t.Fatalf("%s %q from %q (cookie %q, csrf %q) revoked: %v", m, path, origin, cookie, form.Get("csrf"), calls)
		}
	}
	for _, c := range resp.Cookies() {
		if c.Name == "gatekeeper_status" && c.Value != "" && (!fromPage || path != "/login" || form.Get("token") != testToken) {
			t.Fatalf("%s %q from %q started a session", m, path, origin)
		}
	}
	shown := string(out)
	if loc := resp.Header.Get("Location"); loc != "" {
		for _, secret := range []string{testToken, session} {
			if strings.Contains(loc, secret) && !strings.Contains(path, secret) {
				t.Fatalf("%s %q: the redirect shows the operator token or the session", m, path)
			}
		}
		// A redirect may repeat the requested path, in Location and in its
		// one-line body (ServeMux redirects a path it cleans, such as one
		// without a leading slash): that is the requester's own input.
		shown = strings.ReplaceAll(shown, html.EscapeString(loc), "")
	}
	if strings.Contains(shown, testToken) || strings.Contains(shown, session) {
		t.Fatalf("%s %q: the response shows the operator token or the session", m, path)
	}
	return fa.called()
}

// TestFuzzRequestReachesRevocation: the fuzz target's placeholders do build
// a request that revokes, so its main property is not vacuous.
func TestFuzzRequestReachesRevocation(t *testing.T) {
	form := "csrf={csrf}&principal=alice&tier=read&approval_id=apr_read1"
	tests := []struct {
		name, path, origin, cookie, body string
		want                             int
	}{
		{"ok", "/revoke", "{origin}", "gatekeeper_status={session}", form, 1},
		{"ok/deny", "/deny", "{origin}", "gatekeeper_status={session}", "csrf={csrf}&principal=bob&approval_id=apr_pending", 1},
		{"fail/other-origin", "/revoke", "http://evil.example", "gatekeeper_status={session}", form, 0},
		{"fail/no-session", "/revoke", "{origin}", "", form, 0},
		{"fail/csrf-in-cookie-only", "/revoke", "{origin}", "gatekeeper_status={session}; csrf={csrf}", "principal=alice&tier=read&approval_id=apr_read1", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := fuzzRequest(t, 1, tc.path, "{host}", tc.origin, "application/x-www-form-urlencoded", tc.cookie, tc.body)
			if len(calls) != tc.want {
				t.Errorf("revocations %v, want %d", calls, tc.want)
			}
		})
	}
}

// signIn starts a session through the page, as a browser does, and
// returns its cookie's value and its CSRF token.
func signIn(t *testing.T, h http.Handler) (session, csrf string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, fuzzOrigin+"/login", strings.NewReader(url.Values{"token": {testToken}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Origin", fuzzOrigin)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.Name == "gatekeeper_status" {
			session = c.Value
		}
	}
	r = httptest.NewRequest(http.MethodGet, fuzzOrigin+"/", nil)
	r.AddCookie(&http.Cookie{Name: "gatekeeper_status", Value: session})
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	m := csrfField.FindStringSubmatch(w.Body.String())
	if session == "" || m == nil {
		t.Fatalf("signing in: no session (%d)", w.Code)
	}
	return session, m[1]
}
