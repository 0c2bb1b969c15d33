package passkey

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// beginRegister starts a registration and returns its session and challenge.
func (h *harness) beginRegister(t *testing.T, token, name string) (int, string, []byte, map[string]any) {
	t.Helper()
	status, out := h.post(t, "/register/begin", h.origin, map[string]string{"token": token, "name": name})
	if status != http.StatusOK {
		return status, "", nil, out
	}
	pk := out["publicKey"].(map[string]any)
	ch, err := base64.RawURLEncoding.DecodeString(pk["challenge"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return status, out["session"].(string), ch, out
}

func TestRegister(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, nil)
	k := newSoftKey(t)
	status, session, ch, out := h.beginRegister(t, testToken, "  soft key  ")
	if status != http.StatusOK {
		t.Fatalf("begin: %d %v", status, out)
	}
	sel := out["publicKey"].(map[string]any)["authenticatorSelection"].(map[string]any)
	if sel["userVerification"] != "required" {
		t.Errorf("authenticatorSelection = %v, want userVerification required", sel)
	}
	status, out = h.post(t, "/register/finish", h.origin, map[string]any{"session": session, "credential": k.attestation(t, ch, h.origin, 0x45)})
	if status != http.StatusOK || out["state"] != "registered" {
		t.Fatalf("finish: %d %v", status, out)
	}
	creds, _ := h.store.Credentials(ctx)
	if len(creds) != 1 || creds[0].Name != "soft key" || string(creds[0].ID) != string(k.id) || creds[0].EnrollToken != tokenHash(sensitive.New(testToken)) {
		t.Fatalf("stored: %+v", creds)
	}

	// The token is spent, for this Approver and for one restarted on the
	// same store with the same token.
	if status, _, _, out := h.beginRegister(t, testToken, "second"); status != http.StatusForbidden || !strings.Contains(out["error"].(string), "already used") {
		t.Errorf("second registration: %d %v", status, out)
	}
	restarted, err := New(h.a.opts)
	if err != nil {
		t.Fatal(err)
	}
	h.a = restarted
	h.pages.UsePasskey(restarted, restarted.Handler())
	if status, _, _, _ := h.beginRegister(t, testToken, "third"); status != http.StatusForbidden {
		t.Errorf("registration after a restart with the spent token: %d", status)
	}
	// The session cannot be finished twice.
	if status, _ := h.post(t, "/register/finish", h.origin, map[string]any{"session": session, "credential": newSoftKey(t).attestation(t, ch, h.origin, 0x45)}); status != http.StatusForbidden {
		t.Errorf("finishing a session twice: %d", status)
	}
	// And the registered key approves.
	p := h.start(t, testRequest("apr_1", h.clock.Now()))
	if status, out := h.finish(t, "apr_1", approve, k.assertion(h.begin(t, "apr_1", approve), h.origin).json(t)); status != http.StatusOK {
		t.Fatalf("answer with the registered key: %d %v", status, out)
	}
	if err := p.result(t); err != nil {
		t.Fatal(err)
	}
}

func TestRegisterRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		token string
		want  int
	}{
		{"fail/no-token", "", http.StatusForbidden},
		{"fail/wrong-token", "enroll-0123456789abcdeX", http.StatusForbidden},
		{"fail/token-prefix", testToken[:len(testToken)-1], http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			if status, _, _, out := h.beginRegister(t, tc.token, "key"); status != tc.want {
				t.Errorf("begin: %d %v, want %d", status, out, tc.want)
			}
			if creds, _ := h.store.Credentials(context.Background()); len(creds) != 0 {
				t.Errorf("stored %d credentials", len(creds))
			}
		})
	}
	for _, tc := range []struct {
		name   string
		flags  byte
		origin string
	}{
		{"fail/no-user-verification", 0x41, ""},
		{"fail/other-origin", 0x45, "http://evil.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			if tc.origin == "" {
				tc.origin = h.origin
			}
			_, session, ch, _ := h.beginRegister(t, testToken, "key")
			status, out := h.post(t, "/register/finish", h.origin, map[string]any{"session": session, "credential": newSoftKey(t).attestation(t, ch, tc.origin, tc.flags)})
			if status != http.StatusForbidden {
				t.Errorf("finish: %d %v, want 403", status, out)
			}
			if creds, _ := h.store.Credentials(context.Background()); len(creds) != 0 {
				t.Errorf("stored %d credentials", len(creds))
			}
			// A refused registration does not spend the token.
			if status, _, _, _ := h.beginRegister(t, testToken, "key"); status != http.StatusOK {
				t.Errorf("begin after a refused registration: %d", status)
			}
		})
	}
}

// TestRegisterRace: two registrations begun with one token; only the first
// to finish registers.
func TestRegisterRace(t *testing.T) {
	h := newHarness(t, nil)
	_, s1, c1, _ := h.beginRegister(t, testToken, "one")
	_, s2, c2, _ := h.beginRegister(t, testToken, "two")
	if status, out := h.post(t, "/register/finish", h.origin, map[string]any{"session": s2, "credential": newSoftKey(t).attestation(t, c2, h.origin, 0x45)}); status != http.StatusOK {
		t.Fatalf("first finish: %d %v", status, out)
	}
	if status, _ := h.post(t, "/register/finish", h.origin, map[string]any{"session": s1, "credential": newSoftKey(t).attestation(t, c1, h.origin, 0x45)}); status != http.StatusForbidden {
		t.Errorf("second finish: %d, want 403", status)
	}
	if creds, _ := h.store.Credentials(context.Background()); len(creds) != 1 || creds[0].Name != "two" {
		t.Errorf("stored: %+v", creds)
	}
}

func TestRegisterClosed(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.EnrollToken = sensitive.String{} })
	code, _, body := h.get(t, "/register?token=anything")
	if code != http.StatusOK || !strings.Contains(body, "Registration is closed") || strings.Contains(body, "<form") {
		t.Errorf("register page: %d\n%s", code, body)
	}
	if status, _, _, out := h.beginRegister(t, "anything-at-all-long", "key"); status != http.StatusForbidden {
		t.Errorf("begin: %d %v, want 403", status, out)
	}
}
