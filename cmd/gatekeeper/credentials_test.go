package main_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// credentialEnv is a Vault with a PKI engine whose role "web" the stdio
// agent's read tier may issue from, set up, with serve's config file.
func credentialEnv(t *testing.T, extraConfig string) (*env, string) {
	t.Helper()
	e := &env{t: t, srv: vaulttest.Start(t)}
	e.vc, e.root = vaulttest.Client(t, e.srv), vaulttest.Root(e.srv)
	vaulttest.EnablePKI(t, e.srv, "pki", vaulttest.PKIRole{Name: "web", Domain: "test.internal"})
	l := vaulttest.DefaultLayout
	l.Roles = map[setup.Agent][]setup.Role{"": {{Engine: setup.EnginePKI, Mount: "pki", Name: "web", Tier: access.Read}}}
	e.res = vaulttest.SetUp(t, e.srv, l)
	e.auth = vaulttest.NewAuthenticator(t, e.res.TOTPURL)
	cfg := filepath.Join(t.TempDir(), "gatekeeper.yaml")
	body := "credentials:\n  - {name: web-cert, engine: pki, role: web, common_names: [\"*.test.internal\"]}\n" + extraConfig
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return e, cfg
}

// leaseAlive reports whether Vault still knows a lease.
func (e *env) leaseAlive(lease string) bool {
	_, err := e.vc.Write(e.t.Context(), e.root, "sys/leases/lookup", map[string]any{"lease_id": lease})
	return err == nil
}

// TestCertificateDiesWithTheGrant: over stdio, the agent gets a
// certificate issued with its read grant's token: NotAfter no later than
// the grant, its lease in Vault until the agent logs out, and the tools
// exist only because the operator configured a credential.
func TestCertificateDiesWithTheGrant(t *testing.T) {
	t.Parallel()
	e, cfg := credentialEnv(t, "")
	a := e.serve("GATEKEEPER_CONFIG=" + cfg)
	for _, tool := range []string{"issue_credential", "list_credentials", "revoke_credential"} {
		if !contains(toolNames(t, a), tool) {
			t.Fatalf("%s is missing with a credential configured", tool)
		}
	}
	a.fails("issue_credential", map[string]any{"name": "web-cert", "common_name": "evil.example.com"}, "not one of the names")
	out := a.approved("issue_credential", map[string]any{"name": "web-cert", "common_name": "app.test.internal"})
	data, _ := out["data"].(map[string]any)
	block, _ := pem.Decode([]byte(data["certificate"].(string)))
	if block == nil {
		t.Fatalf("issue_credential = %v", out)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	grant := a.ok("token_status", nil)["grants"].([]any)[0].(map[string]any)
	grantEnd, _ := time.Parse(time.RFC3339, grant["expires_at"].(string))
	if cert.NotAfter.After(grantEnd.Add(time.Second)) { // expires_at is shown to the second
		t.Errorf("NotAfter %s after the grant's end %s", cert.NotAfter, grantEnd)
	}
	lease, _ := out["lease_id"].(string)
	if lease == "" || !e.leaseAlive(lease) {
		t.Fatalf("lease %q is not live in Vault", lease)
	}
	live := a.ok("list_credentials", nil)["live"].([]any)
	if len(live) != 1 || live[0].(map[string]any)["lease_id"] != lease {
		t.Errorf("list_credentials live = %v", live)
	}
	a.ok("logout", nil)
	waitFor(t, 20*time.Second, func() bool { return !e.leaseAlive(lease) })
	evs := a.auditEvents()
	var issued, ended int
	for _, ev := range evs {
		switch ev["event"] {
		case "credential.issued":
			issued++
			if ev["lease_id"] != lease {
				t.Errorf("credential.issued without its lease: %v", ev)
			}
		case "credential.revoked":
			ended++
		}
	}
	if issued != 1 || ended != 1 {
		t.Errorf("credential events: %d issued, %d ended", issued, ended)
	}
	if strings.Contains(a.stderr.String(), data["private_key"].(string)) {
		t.Error("the private key is in Gatekeeper's log")
	}
}

// TestWithheldCredentialIsUsedNotRead: where the reveal rules withhold
// credentials, the agent gets field names only and uses the values through
// a placeholder; they come back redacted.
func TestWithheldCredentialIsUsedNotRead(t *testing.T) {
	t.Parallel()
	e, cfg := credentialEnv(t, "reveal:\n  rules: [{pattern: \"credentials/**\", reveal: false}]\nexec:\n  enabled: true\n  allowed: [/bin/sh]\n  env: {/bin/sh: [KEY]}\n")
	a := e.serve("GATEKEEPER_CONFIG=" + cfg)
	out := a.approved("issue_credential", map[string]any{"name": "web-cert", "common_name": "app.test.internal"})
	if out["revealed"] != false || out["data"] != nil || !contains(anyStrings(out["fields"]), "private_key") {
		t.Fatalf("a withheld credential: %v", out)
	}
	run := a.ok("run_with_secret", map[string]any{
		"env":     map[string]any{"KEY": `{{credential "web-cert" "private_key"}}`},
		"command": "/bin/sh", "args": []string{"-c", `printf '%s' "$KEY"; printf '%s' "$KEY" | grep -c 'PRIVATE KEY-----$' >&2`},
	})
	if run["stdout"] != "[REDACTED:credentials/web-cert#private_key]" || run["stderr"] != "2\n" {
		t.Errorf("run_with_secret with a credential placeholder = %v", run)
	}
	a.ok("revoke_credential", map[string]any{"name": "web-cert"})
	a.fails("run_with_secret", map[string]any{
		"env": map[string]any{"KEY": `{{credential "web-cert" "private_key"}}`}, "command": "/bin/sh", "args": []string{"-c", "true"},
	}, "issue_credential first")
}

func anyStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
