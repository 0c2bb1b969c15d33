package cli

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/clientauth"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// TestReloadNewJWTSecretEndsCachedTokens: verified JWTs are cached, and a
// reload that changes the HS256 secret leaves none of them honoured: a
// token of the old secret, verified (and cached) just before, is refused
// by the new settings.
func TestReloadNewJWTSecretEndsCachedTokens(t *testing.T) {
	h := newReloadHarness(t)
	secretFile := filepath.Join(t.TempDir(), "jwt-secret")
	useSecret := func(secret string) {
		t.Helper()
		if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
			t.Fatal(err)
		}
		file := "vault_addr: http://127.0.0.1:1\nhttp: {listen: \"127.0.0.1:0\"}\n" +
			"auth: {jwt: {audience: gatekeeper, hs256_secret_file: " + secretFile + "}}\nagents: [{name: alice}]\n"
		if err := os.WriteFile(h.path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := h.c.reloadConfig(t.Context(), h.load); err != nil {
			t.Fatal(err)
		}
	}
	jwtOf := func(secret string) string {
		t.Helper()
		token, err := clientauth.MintHS256(sensitive.New(secret), h.c.settings().cfg.JWTIssuer(), "gatekeeper", "alice", []string{"read"}, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	agentOf := func(s *settings, token string) string {
		r := httptest.NewRequest("POST", "/mcp", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		id, err := s.auth.Authenticate(r)
		if err != nil {
			return ""
		}
		return id.Agent
	}

	const oldSecret, newSecret = "old-secret-0123456789abcdef0123456789", "new-secret-0123456789abcdef0123456789"
	useSecret(oldSecret)
	held := h.c.settings()
	oldToken := jwtOf(oldSecret)
	for range 2 { // verified, then from the cache
		if got := agentOf(held, oldToken); got != "alice" {
			t.Fatalf("token of the running secret authenticated as %q", got)
		}
	}
	useSecret(newSecret)
	now := h.c.settings()
	if got := agentOf(now, oldToken); got != "" {
		t.Errorf("after the reload, the old secret's token authenticated as %q", got)
	}
	if got := agentOf(now, jwtOf(newSecret)); got != "alice" {
		t.Errorf("after the reload, the new secret's token authenticated as %q", got)
	}
}
