package passkey

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
)

// registerSoftKey puts a software key in the store, as registration would.
func registerSoftKey(t *testing.T, h *harness, name string) *softKey {
	t.Helper()
	k := newSoftKey(t)
	if err := h.store.Add(context.Background(), k.credential(t, name)); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestAnswer(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    decision
		want error
	}{
		{"ok/approve", approve, nil},
		{"ok/deny", deny, access.ErrDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			k := registerSoftKey(t, h, "soft")
			p := h.start(t, testRequest("apr_1", h.clock.Now()))
			status, out := h.finish(t, "apr_1", tc.d, k.assertion(h.begin(t, "apr_1", tc.d), h.origin).json(t))
			if status != http.StatusOK || out["state"] != map[decision]string{approve: "approved", deny: "denied"}[tc.d] {
				t.Fatalf("finish: %d %v", status, out)
			}
			if err := p.result(t); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Approve = %v, want %v", err, tc.want)
			}
			creds, _ := h.store.Credentials(context.Background())
			if creds[0].SignCount != k.count {
				t.Errorf("stored sign count = %d, want %d", creds[0].SignCount, k.count)
			}
			// The page now says what happened, and answers no more.
			code, _, body := h.get(t, h.path("apr_1"))
			if code != http.StatusOK || !strings.Contains(body, "already answered") || strings.Contains(body, "data-decision") {
				t.Errorf("page after the answer: %d, buttons or no 'already answered':\n%s", code, body)
			}
			if status, _ := h.post(t, h.path("apr_1")+"/begin", h.origin, map[string]string{"decision": "approve"}); status != http.StatusConflict {
				t.Errorf("begin after the answer: %d, want %d", status, http.StatusConflict)
			}
		})
	}
}

// TestAnswerForged is the forged-input matrix: every answer here is refused
// and leaves the request pending, and a real answer still works after.
func TestAnswerForged(t *testing.T) {
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		name string
		// forge returns the decision to post and the credential JSON.
		forge  func(t *testing.T, h *harness, k *softKey) (decision, json.RawMessage)
		status int
	}{
		{"fail/other-origin", func(t *testing.T, h *harness, k *softKey) (decision, json.RawMessage) {
			a := k.assertion(h.begin(t, "apr_1", approve), "http://evil.example")
			return approve, a.json(t)
		}, http.StatusForbidden},
		{"fail/other-rp-id", func(t *testing.T, h *harness, k *softKey) (decision, json.RawMessage) {
			a := k.assertion(h.begin(t, "apr_1", approve), h.origin)
			a.rpID = "evil.example"
			return approve, a.json(t)
		}, http.StatusForbidden},
		{"fail/no-user-verification", func(t *testing.T, h *harness, k *softKey) (decision, json.RawMessage) {
			a := k.assertion(h.begin(t, "apr_1", approve), h.origin)
			a.flags = 0x01
			return approve, a.json(t)
		}, http.StatusForbidden},
		{"fail/no-user-presence", func(t *testing.T, h *harness, k *softKey) (decision, json.RawMessage) {
			a := k.assertion(h.begin(t, "apr_1", approve), h.origin)
			a.flags = 0x04
			return approve, a.json(t)
		}, http.StatusForbidden},
		{"fail/registration-type", func(t *testing.T, h *harness, k *softKey) (decision, json.RawMessage) {
			a := k.assertion(h.begin(t, "apr_1", approve), h.origin)
			a.typ = "webauthn.create"
			return approve, a.json(t)
		}, http.StatusForbidden},
		{"fail/wrong-signer", func(t *testing.T, h *harness, k *softKey) (decision, json.RawMessage) {
			a := k.assertion(h.begin(t, "apr_1", approve), h.origin)
			a.signer = otherKey
			return approve, a.json(t)
		}, http.StatusForbidden},
		{"fail/unregistered-key", func(t *testing.T, h *harness, _ *softKey) (decision, json.RawMessage) {
			return approve, newSoftKey(t).assertion(h.begin(t, "apr_1", approve), h.origin).json(t)
		}, http.StatusForbidden},
		{"fail/other-user-handle", func(t *testing.T, h *harness, k *softKey) (decision, json.RawMessage) {
			a := k.assertion(h.begin(t, "apr_1", approve), h.origin)
			a.userHandle = []byte("someone-else")
			return approve, a.json(t)
		}, http.StatusForbidden},
		{"fail/counter-not-increasing", func(t *testing.T, h *harness, k *softKey) (decision, json.RawMessage) {
			if err := h.store.SetSignCount(context.Background(), k.id, 50); err != nil {
				t.Fatal(err)
			}
			a := k.assertion(h.begin(t, "apr_1", approve), h.origin)
			a.count, k.count = 50, 50
			return approve, a.json(t)
		}, http.StatusForbidden},
		{"fail/challenge-never-issued", func(t *testing.T, h *harness, k *softKey) (decision, json.RawMessage) {
			ch := make([]byte, 32)
			_, _ = rand.Read(ch)
			return approve, k.assertion(ch, h.origin).json(t)
		}, http.StatusForbidden},
		{"fail/challenge-of-other-request", func(t *testing.T, h *harness, k *softKey) (decision, json.RawMessage) {
			return approve, k.assertion(h.begin(t, "apr_2", approve), h.origin).json(t)
		}, http.StatusForbidden},
		{"fail/approve-signed-as-deny", func(t *testing.T, h *harness, k *softKey) (decision, json.RawMessage) {
			return approve, k.assertion(h.begin(t, "apr_1", deny), h.origin).json(t)
		}, http.StatusForbidden},
		{"fail/deny-signed-as-approve", func(t *testing.T, h *harness, k *softKey) (decision, json.RawMessage) {
			return deny, k.assertion(h.begin(t, "apr_1", approve), h.origin).json(t)
		}, http.StatusForbidden},
		{"fail/challenge-spent", func(t *testing.T, h *harness, k *softKey) (decision, json.RawMessage) {
			a := k.assertion(h.begin(t, "apr_1", approve), h.origin)
			// The first use fails for another reason and still spends it.
			if status, _ := h.finish(t, "apr_1", deny, a.json(t)); status != http.StatusForbidden {
				t.Fatalf("first use: %d", status)
			}
			return approve, a.json(t)
		}, http.StatusForbidden},
		{"fail/challenge-expired", func(t *testing.T, h *harness, k *softKey) (decision, json.RawMessage) {
			a := k.assertion(h.begin(t, "apr_1", approve), h.origin)
			h.clock.Advance(challengeTTL + time.Second) // the request itself lives on
			return approve, a.json(t)
		}, http.StatusForbidden},
		{"fail/unknown-decision", func(t *testing.T, h *harness, k *softKey) (decision, json.RawMessage) {
			return "maybe", k.assertion(h.begin(t, "apr_1", approve), h.origin).json(t)
		}, http.StatusBadRequest},
		{"fail/not-an-assertion", func(_ *testing.T, _ *harness, _ *softKey) (decision, json.RawMessage) {
			return approve, json.RawMessage(`{"id":"x","type":"public-key"}`)
		}, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			k := registerSoftKey(t, h, "soft")
			p := h.start(t, testRequest("apr_1", h.clock.Now()))
			p2 := h.start(t, testRequest("apr_2", h.clock.Now()))
			d, cred := tc.forge(t, h, k)
			status, out := h.finish(t, "apr_1", d, cred)
			if status != tc.status {
				t.Fatalf("finish: %d %v, want %d", status, out, tc.status)
			}
			h.assertPending(t, p)
			h.assertPending(t, p2)
			// The real key still answers.
			status, out = h.finish(t, "apr_1", approve, k.assertion(h.begin(t, "apr_1", approve), h.origin).json(t))
			if status != http.StatusOK {
				t.Fatalf("real answer after the forged one: %d %v", status, out)
			}
			if err := p.result(t); err != nil {
				t.Fatalf("Approve = %v", err)
			}
		})
	}
}

// TestAnswerReplayed: a valid answer works once, for its request only.
func TestAnswerReplayed(t *testing.T) {
	h := newHarness(t, nil)
	k := registerSoftKey(t, h, "soft")
	p1 := h.start(t, testRequest("apr_1", h.clock.Now()))
	p2 := h.start(t, testRequest("apr_2", h.clock.Now()))
	answer := k.assertion(h.begin(t, "apr_1", approve), h.origin).json(t)

	if status, _ := h.finish(t, "apr_2", approve, answer); status != http.StatusForbidden {
		t.Errorf("answer for apr_1 posted to apr_2: %d, want 403", status)
	}
	h.assertPending(t, p2)
	if status, _ := h.finish(t, "apr_1", approve, answer); status != http.StatusOK {
		t.Fatalf("answer posted to apr_1: %d", status)
	}
	if err := p1.result(t); err != nil {
		t.Fatalf("Approve(apr_1) = %v", err)
	}
	if status, _ := h.finish(t, "apr_1", approve, answer); status != http.StatusConflict {
		t.Errorf("answer replayed to apr_1: %d, want 409", status)
	}
	if status, _ := h.finish(t, "apr_2", approve, answer); status != http.StatusForbidden {
		t.Errorf("answer replayed to apr_2: %d, want 403", status)
	}
	h.assertPending(t, p2)
}

// TestAnswerMalformedBodies posts the bodies in testdata to the JSON
// endpoints: each is refused with a 4xx and changes nothing.
func TestAnswerMalformedBodies(t *testing.T) {
	h := newHarness(t, nil)
	registerSoftKey(t, h, "soft")
	p := h.start(t, testRequest("apr_1", h.clock.Now()))
	f, err := os.Open("testdata/malformed_bodies.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		n++
		for _, path := range []string{h.path("apr_1") + "/begin", h.path("apr_1") + "/finish", "/register/begin", "/register/finish"} {
			if status, out := h.post(t, path, h.origin, []byte(line)); status < 400 || status > 499 {
				t.Errorf("POST %s %s: %d %v, want 4xx", path, line, status, out)
			}
		}
	}
	if n == 0 {
		t.Fatal("no bodies in testdata/malformed_bodies.txt")
	}
	h.assertPending(t, p)
}

func TestAnswerRequestChecks(t *testing.T) {
	h := newHarness(t, nil)
	k := registerSoftKey(t, h, "soft")
	p := h.start(t, testRequest("apr_1", h.clock.Now()))
	body := map[string]string{"decision": "approve"}
	for _, tc := range []struct {
		name, origin string
		want         int
	}{
		{"fail/no-origin", "", http.StatusForbidden},
		{"fail/foreign-origin", "http://evil.example", http.StatusForbidden},
		{"fail/null-origin", "null", http.StatusForbidden},
		{"fail/other-port", "http://localhost:1", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, _ := h.post(t, h.path("apr_1")+"/begin", tc.origin, body); status != tc.want {
				t.Errorf("begin: %d, want %d", status, tc.want)
			}
			cred := k.assertion(make([]byte, 32), h.origin).json(t)
			if status, _ := h.post(t, h.path("apr_1")+"/finish", tc.origin, map[string]any{"decision": "approve", "credential": cred}); status != tc.want {
				t.Errorf("finish: %d, want %d", status, tc.want)
			}
		})
	}
	t.Run("fail/too-large", func(t *testing.T) {
		big := `{"decision":"approve","credential":"` + strings.Repeat("A", 64<<10) /* the page's bound on a JSON body */ + `"}`
		if status, _ := h.post(t, h.path("apr_1")+"/finish", h.origin, []byte(big)); status != http.StatusRequestEntityTooLarge {
			t.Errorf("finish: %d, want 413", status)
		}
	})
	t.Run("fail/form-post", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, h.srv.URL+h.path("apr_1")+"/begin", strings.NewReader("decision=approve"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", h.origin)
		resp, err := h.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("form POST: %d, want 415", resp.StatusCode)
		}
	})
	t.Run("fail/unknown-request", func(t *testing.T) {
		if status, _ := h.post(t, "/approve/apr_nope/begin", h.origin, body); status != http.StatusNotFound {
			t.Errorf("begin: %d, want 404", status)
		}
		code, _, page := h.get(t, "/approve/apr_nope")
		if code != http.StatusNotFound || !strings.Contains(page, "Unknown approval request") {
			t.Errorf("page: %d\n%s", code, page)
		}
	})
	h.assertPending(t, p)
}

// TestApprovePage: everything Describe gives is on the page, escaped, with
// the security headers.
func TestApprovePage(t *testing.T) {
	h := newHarness(t, nil)
	req := testRequest("apr_1", h.clock.Now())
	req.Reason = `<script>alert("pwned")</script> & <img src=x onerror=alert(1)>`
	req.Paths = []string{`a"b/<c>`, "d'e"}
	h.start(t, req)
	code, hdr, body := h.get(t, h.path("apr_1"))
	if code != http.StatusOK {
		t.Fatalf("GET: %d", code)
	}
	for _, f := range approver.Describe(req) {
		if !strings.Contains(body, html.EscapeString(f.Value)) && !strings.Contains(body, templateEscape(f.Value)) {
			t.Errorf("page lacks %s = %q", f.Label, f.Value)
		}
	}
	if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img") {
		t.Errorf("page carries the reason unescaped:\n%s", body)
	}
	if strings.Contains(body, "never-shown-passcode") {
		t.Error("page shows the passcode")
	}
	if n := strings.Count(body, "<script"); n != 1 {
		t.Errorf("page has %d script elements, want only the embedded one", n)
	}
	wantHeaders := map[string]string{
		"Content-Security-Policy": "script-src 'self'",
		"X-Frame-Options":         "DENY",
		"Cache-Control":           "no-store",
		"Referrer-Policy":         "same-origin",
		"X-Content-Type-Options":  "nosniff",
	}
	for k, v := range wantHeaders {
		if !strings.Contains(hdr.Get(k), v) {
			t.Errorf("%s = %q, want it to contain %q", k, hdr.Get(k), v)
		}
	}
	if csp := hdr.Get("Content-Security-Policy"); strings.Contains(csp, "unsafe") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP = %q", csp)
	}
	for _, name := range []string{"passkey.js", "page.css"} {
		if code, _, _ := h.get(t, "/static/"+name); code != http.StatusOK {
			t.Errorf("GET /static/%s: %d", name, code)
		}
	}
	if code, _, _ := h.get(t, "/static/../templates/approve.html"); code == http.StatusOK {
		t.Error("templates are served as static files")
	}
}

// templateEscape is how html/template writes text: it escapes quotes as
// numeric references, where html.EscapeString uses named ones.
func templateEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;", "+", "&#43;").Replace(s)
}

func TestAnswerWithoutKeys(t *testing.T) {
	h := newHarness(t, nil)
	p := h.start(t, testRequest("apr_1", h.clock.Now()))
	status, out := h.post(t, h.path("apr_1")+"/begin", h.origin, map[string]string{"decision": "approve"})
	if status != http.StatusConflict || !strings.Contains(out["error"].(string), "register") {
		t.Errorf("begin with no registered key: %d %v", status, out)
	}
	h.assertPending(t, p)
}

// TestAnswerNotDisplaced: whoever holds the link (the agent may) can ask
// for as many challenges as it likes; none of them displaces the human's,
// before or after the human pressed the button, so the human's signed
// answer lands.
func TestAnswerNotDisplaced(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    decision
		want error
	}{
		{"ok/deny", deny, access.ErrDenied},
		{"ok/approve", approve, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			k := registerSoftKey(t, h, "soft")
			p := h.start(t, testRequest("apr_1", h.clock.Now()))
			flood := func() {
				for i := range 20 {
					h.begin(t, "apr_1", []decision{approve, deny}[i%2])
				}
			}
			flood()
			ch := h.begin(t, "apr_1", tc.d)
			flood()
			status, out := h.finish(t, "apr_1", tc.d, k.assertion(ch, h.origin).json(t))
			if status != http.StatusOK {
				t.Fatalf("the human's answer after 40 other begins: %d %v", status, out)
			}
			if err := p.result(t); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Approve = %v, want %v", err, tc.want)
			}
		})
	}
}
