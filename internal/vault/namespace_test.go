package vault_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// headerRecorder is a Vault stand-in that records each request's
// X-Vault-Namespace header as it arrives, and answers with a body that
// every call can parse.
type headerRecorder struct {
	mu   sync.Mutex
	seen map[string]string // "METHOD path" → namespace
}

func (h *headerRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.seen[r.Method+" "+r.URL.Path] = r.Header.Get("X-Vault-Namespace")
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"initialized":true,"sealed":false,"auth":{"client_token":"t","accessor":"a","lease_duration":60},` +
		`"data":{"data":{"k":"v"},"metadata":{"version":1},"keys":["a"],"ciphertext":"vault:v1:x","plaintext":"eA==","ttl":60,"accessor":"a"}}`))
}

// calls exercise every kind of request the client makes: raw reads and
// writes, KV, transit, logins (with no token), MFA validation and health.
func calls(ctx context.Context, c *vault.Client) {
	tok := sensitive.New("s.token")
	_, _ = c.Read(ctx, tok, "sys/mounts")
	_, _ = c.List(ctx, tok, "secret/metadata/agent")
	_ = c.Delete(ctx, tok, "secret/data/x")
	_, _ = c.KVRead(ctx, tok, "secret", "agent/db")
	_, _ = c.KVWrite(ctx, tok, "secret", "agent/db", map[string]any{"k": "v"})
	_, _ = c.TransitEncrypt(ctx, tok, "transit", "k", "eA==")
	_, _ = c.LookupSelf(ctx, tok)
	_, _ = c.RenewSelf(ctx, tok, time.Hour)
	_, _ = c.AppRoleLogin(ctx, "approle", "role", sensitive.New("secret"))
	_, _ = c.KubernetesLogin(ctx, "kubernetes", "gk", sensitive.New("jwt"))
	_, _ = c.UserpassLogin(ctx, "userpass", "u", sensitive.New("pw"))
	_, _ = c.ValidateMFA(ctx, "req", map[string][]string{"m": {"123456"}})
	_, _ = c.Health(ctx)
}

// TestNamespaceOnEveryRequest: with a namespace every request carries it;
// without one none does, whatever the process environment says (the API
// client would read BAO_NAMESPACE and VAULT_NAMESPACE from it).
func TestNamespaceOnEveryRequest(t *testing.T) {
	t.Setenv("VAULT_NAMESPACE", "from-process-env")
	t.Setenv("BAO_NAMESPACE", "from-process-env")
	for _, tc := range []struct{ name, ns string }{{"ok/namespace", "admin/team-a"}, {"ok/none", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &headerRecorder{seen: map[string]string{}}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			c, err := vault.New(vault.Options{Address: srv.URL, Namespace: tc.ns})
			if err != nil {
				t.Fatal(err)
			}
			calls(t.Context(), c)
			want := map[string]string{}
			for req := range rec.seen {
				want[req] = tc.ns
			}
			if len(rec.seen) < 13 {
				t.Fatalf("only %d requests reached the server: %v", len(rec.seen), rec.seen)
			}
			if diff := cmp.Diff(want, rec.seen); diff != "" {
				t.Errorf("namespace per request (-want +got):\n%s", diff)
			}
		})
	}
}
