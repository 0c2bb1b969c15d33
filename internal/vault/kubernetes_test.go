package vault_test

import (
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// TestKubernetesLogin logs in through a real Vault's Kubernetes auth
// method; only the Kubernetes API's TokenReview is a stand-in.
func TestKubernetesLogin(t *testing.T) {
	srv := vaulttest.Start(t)
	c, root := vaulttest.Client(t, srv), vaulttest.Root(srv)
	if _, err := c.Write(t.Context(), root, "sys/policies/acl/gk-test", map[string]any{"policy": `path "secret/*" { capabilities = ["read"] }`}); err != nil {
		t.Fatal(err)
	}
	kube := vaulttest.StartKubeAPI(t)
	vaulttest.EnableKubernetesAuth(t, srv, kube, "kubernetes", vaulttest.KubeRole{
		Name: "gatekeeper", Namespace: "gk", ServiceAccount: "gatekeeper",
		Policies: []string{"gk-test"}, Audience: "vault", Period: time.Hour,
	})
	forger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	good := vaulttest.ServiceAccount{Namespace: "gk", Name: "gatekeeper", Audience: []string{"vault"}}
	tests := []struct {
		name string
		role string
		sa   func(vaulttest.ServiceAccount) vaulttest.ServiceAccount
		want error // nil: the login succeeds
	}{
		{"ok", "gatekeeper", func(s vaulttest.ServiceAccount) vaulttest.ServiceAccount { return s }, nil},
		{"fail/other-service-account", "gatekeeper", func(s vaulttest.ServiceAccount) vaulttest.ServiceAccount { s.Name = "agent"; return s }, vault.ErrPermissionDenied},
		{"fail/other-namespace", "gatekeeper", func(s vaulttest.ServiceAccount) vaulttest.ServiceAccount { s.Namespace = "default"; return s }, vault.ErrPermissionDenied},
		{"fail/other-audience", "gatekeeper", func(s vaulttest.ServiceAccount) vaulttest.ServiceAccount { s.Audience = []string{"api"}; return s }, vault.ErrPermissionDenied},
		{"fail/expired", "gatekeeper", func(s vaulttest.ServiceAccount) vaulttest.ServiceAccount { s.TTL = -time.Minute; return s }, vault.ErrPermissionDenied},
		{"fail/forged", "gatekeeper", func(s vaulttest.ServiceAccount) vaulttest.ServiceAccount { s.Key = forger; return s }, vault.ErrPermissionDenied},
		{"fail/unknown-role", "admin", func(s vaulttest.ServiceAccount) vaulttest.ServiceAccount { return s }, vault.ErrInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			jwt := kube.Token(t, tc.sa(good))
			auth, err := c.KubernetesLogin(t.Context(), "kubernetes", tc.role, jwt)
			if tc.want != nil {
				if err == nil {
					t.Fatalf("login succeeded with policies %v", auth.Policies)
				}
				wantKind(t, err, tc.want)
				noValue(t, err, jwt.Reveal())
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			info, err := c.LookupSelf(t.Context(), auth.Token)
			if err != nil {
				t.Fatal(err)
			}
			if info.Period != time.Hour || !info.Renewable || strings.Join(info.Policies, ",") != "default,gk-test" {
				t.Errorf("token: period %s renewable %v policies %v, want 1h, renewable, [default gk-test]", info.Period, info.Renewable, info.Policies)
			}
		})
	}
}
