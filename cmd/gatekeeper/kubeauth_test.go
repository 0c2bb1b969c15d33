package main_test

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/nodetest"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// TestKubernetesAuth runs serve with vault_auth.method kubernetes against a
// real Vault whose Kubernetes auth method has the gatekeeper-bootstrap
// policy on a periodic role: no VAULT_TOKEN anywhere. Only the Kubernetes
// API's TokenReview is a stand-in (there is no cluster here).
func TestKubernetesAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	kube := vaulttest.StartKubeAPI(t)
	vaulttest.EnableKubernetesAuth(t, e.srv, kube, "kubernetes",
		vaulttest.KubeRole{Name: "gatekeeper", Namespace: "gatekeeper", ServiceAccount: "gatekeeper",
			Policies: []string{"gatekeeper-bootstrap"}, Audience: "vault", Period: time.Hour})
	if _, err := runSetupAgent(t, e, "k8s"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.vc.KVWrite(t.Context(), e.root, "secret", "agent/k8s/db", map[string]any{"password": "pw-k8s"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	jwtFile := filepath.Join(dir, "token")
	saToken := kube.Token(t, vaulttest.ServiceAccount{Namespace: "gatekeeper", Name: "gatekeeper", Audience: []string{"vault"}}).Reveal()
	if err := os.WriteFile(jwtFile, []byte(saToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vaultAuth := func(role, file string) string {
		return "vault_auth:\n  method: kubernetes\n  kubernetes: {role: " + role + ", jwt_file: " + file + "}\n"
	}

	h := e.serveHTTP(vaultAuth("gatekeeper", jwtFile)+webhookHuman(t, func() string { return e.auth.Code(t) })+`
auth:
  api_keys:
    - {id: k8s, agent: k8s, sha256: `+sha(recipeKey)+`, scopes: [read]}
agents:
  - {name: k8s}
`, nil, "VAULT_TOKEN=") // an empty value is no token
	resp, err := http.Get(h.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz = %d with the Kubernetes-auth token", resp.StatusCode)
	}
	// The first call relays the approval's page; the human, reached by
	// the notifier, answers it; the second waits for that answer.
	res := nodetest.ClientScript(t, nodetest.ClientSpec{
		URL:     h.url + "/mcp",
		Headers: map[string]string{"X-API-Key": recipeKey},
		Calls: []nodetest.ToolCall{
			{Name: "authenticate"},
			{Name: "authenticate"},
			{Name: "read_secret", Arguments: map[string]any{"path": "db"}},
		},
	})
	if c := res.Calls[2]; c.IsError || c.StructuredContent["data"].(map[string]any)["password"] != "pw-k8s" {
		t.Fatalf("read with access approved through the Kubernetes-auth token: %+v", c)
	}

	// Its own token is revoked when Gatekeeper stops.
	m := regexp.MustCompile(`msg="logged in to Vault" method=kubernetes accessor=(\S+)`).FindStringSubmatch(h.stderr.String())
	if m == nil {
		t.Fatalf("no login line with an accessor in:\n%s", h.stderr)
	}
	if !e.tokenAlive(m[1]) {
		t.Fatal("Gatekeeper's token is not alive while it runs")
	}
	_ = h.cmd.Process.Signal(os.Interrupt)
	_ = h.cmd.Wait()
	if e.tokenAlive(m[1]) {
		t.Errorf("Gatekeeper's own token outlived it")
	}
	if i := strings.LastIndex(saToken, "."); strings.Contains(h.stderr.String(), saToken[i+1:]) {
		t.Errorf("the service account token reached the log")
	}

	otherSA := filepath.Join(dir, "other")
	if err := os.WriteFile(otherSA, []byte(kube.Token(t, vaulttest.ServiceAccount{Namespace: "gatekeeper", Name: "agent", Audience: []string{"vault"}}).Reveal()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, config, want string
	}{
		{"fail/other-service-account", vaultAuth("gatekeeper", otherSA), "permission denied"},
		{"fail/no-token-file", vaultAuth("gatekeeper", filepath.Join(dir, "missing")), "reading the service account token"},
		{"fail/token-too", vaultAuth("gatekeeper", jwtFile), "do not also set VAULT_TOKEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "gatekeeper.yaml")
			if err := os.WriteFile(cfg, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			env := []string{"VAULT_ADDR=" + e.srv.Addr}
			if tc.name == "fail/token-too" {
				env = append(env, "VAULT_TOKEN="+e.res.BootstrapToken.Reveal())
			}
			_, errOut, code := run(t, env, "serve", "--config", cfg)
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Errorf("serve exit %d, want an error with %q:\n%s", code, tc.want, errOut)
			}
		})
	}
}
