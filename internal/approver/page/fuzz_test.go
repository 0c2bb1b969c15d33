package page

import (
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
)

const fuzzOrigin = "http://localhost:8444"

var fuzzMethods = []string{http.MethodGet, http.MethodPost, http.MethodHead, http.MethodPut, http.MethodDelete}

// FuzzAnswer sends the approval page arbitrary requests: method, path,
// Origin, Content-Type and body. Anyone who can make a browser send a
// request to the page may try, so whatever arrives:
//   - the page does not panic or fail inside (no 500);
//   - a code reaches the approver only from a POST to the page's own
//     /code, from the page's origin, with the request's digest, and as 6
//     to 10 digits;
//   - a Deny takes effect only from a POST to the page's own /deny, from
//     its origin, with its digest;
//   - no response shows a code that was typed.
//
// "{token}", "{digest}" and "{origin}" in any field stand for the open
// page's link token, its request's digest and the page's origin, so that
// the fuzzer can build valid answers.
func FuzzAnswer(f *testing.F) {
	f.Add(uint8(1), "/approve/{token}/code", "{origin}", "application/x-www-form-urlencoded", "digest={digest}&code=123456")
	f.Add(uint8(1), "/approve/{token}/code", "{origin}", "application/x-www-form-urlencoded", "digest={digest}&code=12+34+56")
	f.Add(uint8(1), "/approve/{token}/deny", "{origin}", "application/x-www-form-urlencoded", "digest={digest}")
	f.Add(uint8(1), "/approve/{token}/code", "http://evil.example", "application/x-www-form-urlencoded", "digest={digest}&code=123456")
	f.Add(uint8(1), "/approve/{token}/code", "{origin}", "application/x-www-form-urlencoded", "digest=00&code=123456")
	f.Add(uint8(1), "/approve/{token}/begin", "{origin}", "application/json", `{"decision":"approve"}`)
	f.Add(uint8(0), "/approve/{token}", "", "", "")
	f.Add(uint8(0), "/static/../templates/approve.html", "", "", "")
	f.Fuzz(func(t *testing.T, method uint8, path, origin, ctype, body string) {
		h := newFuzzPage(t)
		fill := strings.NewReplacer("{token}", h.p.token, "{digest}", h.req.Digest, "{origin}", fuzzOrigin).Replace
		path, origin, ctype, body = fill(path), fill(origin), fill(ctype), fill(body)
		if strings.ContainsAny(origin+ctype, "\r\n\x00") {
			return // not a header value
		}
		m := fuzzMethods[int(method)%len(fuzzMethods)]
		r := httptest.NewRequest(m, "/", strings.NewReader(body))
		r.URL = &url.URL{Path: path}
		r.Header = http.Header{}
		for k, v := range map[string]string{"Origin": origin, "Content-Type": ctype} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		w := httptest.NewRecorder()
		h.s.Handler().ServeHTTP(w, r)
		resp := w.Result()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusInternalServerError {
			t.Fatalf("%s %q: 500:\n%s", m, path, out)
		}

		form, _ := url.ParseQuery(body)
		mediaType, _, _ := mime.ParseMediaType(ctype) // as ParseForm reads it: case does not matter
		own := m == http.MethodPost && origin == fuzzOrigin && mediaType == "application/x-www-form-urlencoded" &&
			form.Get("digest") == h.req.Digest
		select {
		case c := <-h.p.codes:
			code := strings.Join(strings.Fields(form.Get("code")), "")
			if !own || path != "/approve/"+h.p.token+"/code" || c.Reveal() != code || !access.WellFormedPasscode(code) {
				t.Fatalf("%s %q (origin %q) delivered a code", m, path, origin)
			}
			if len(code) >= 6 && strings.Contains(string(out), code) {
				t.Fatalf("the response shows the typed code:\n%s", out)
			}
		default:
		}
		select {
		case <-h.p.Decided():
			if !own || path != "/approve/"+h.p.token+"/deny" {
				t.Fatalf("%s %q (origin %q) denied", m, path, origin)
			}
		default:
		}
	})
}

type fuzzPage struct {
	s   *Server
	p   *Pending
	req access.Request
}

// newFuzzPage is a server with one open code page.
func newFuzzPage(t *testing.T) fuzzPage {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	s, err := New(Options{BaseURL: fuzzOrigin, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s.codeWait = time.Millisecond // no approver answers here
	req := testRequest("apr_fuzz", now)
	p, err := s.Open(t.Context(), req, Ask{Kind: Code})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Finish(nil) })
	return fuzzPage{s: s, p: p, req: req}
}
