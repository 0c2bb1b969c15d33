package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
)

var base = []string{"VAULT_ADDR=https://vault.example:8200", "VAULT_TOKEN=s.bootstrap", "PATH=/usr/bin"}

func TestDefaults(t *testing.T) {
	c, err := Load(base, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	got := []any{c.VaultAddr, c.VaultToken.Reveal(), c.KVMount, c.Prefix, c.ReadTTL, c.WriteTTL, c.ApprovalTimeout, c.AuditFile}
	want := []any{"https://vault.example:8200", "s.bootstrap", "secret", "agent", 4 * time.Hour, 15 * time.Minute, 2 * time.Minute, ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestOverrides(t *testing.T) {
	c, err := Load(append(base, "GATEKEEPER_KV_MOUNT=kv", "GATEKEEPER_PREFIX=bots/ci", "GATEKEEPER_READ_TTL=1h",
		"GATEKEEPER_WRITE_TTL=90s", "GATEKEEPER_APPROVAL_TIMEOUT=45s", "GATEKEEPER_AUDIT_FILE=/tmp/a.log", "GATEKEEPER_AUDIT_KEY="+testAuditKey, "GATEKEEPER_LOG_LEVEL=debug"), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.KVMount != "kv" || c.Prefix != "bots/ci" || c.ReadTTL != time.Hour || c.WriteTTL != 90*time.Second || c.ApprovalTimeout != 45*time.Second || c.AuditFile != "/tmp/a.log" {
		t.Errorf("overrides not applied: %+v", c)
	}
}

func TestEveryProblemAtOnce(t *testing.T) {
	env := []string{
		"VAULT_ADDR=vault.example", // no scheme
		"GATEKEEPER_PREFIX=../x",
		"GATEKEEPER_KV_MOUNT=/secret",
		"GATEKEEPER_READ_TTL=forever",
		"GATEKEEPER_WRITE_TTL=1500ms",
		"GATEKEEPER_APROVAL_TIMEOUT=1m", // typo
		"GATEKEEPER_LOG_LEVEL=loud",
	}
	c, parseErr := Load(env, "")
	valErr := c.Validate()
	var msgs string
	if parseErr != nil {
		msgs += parseErr.Error()
	}
	if valErr != nil {
		msgs += valErr.Error()
	}
	for _, want := range []string{
		"GATEKEEPER_APROVAL_TIMEOUT is not a Gatekeeper setting",
		"GATEKEEPER_READ_TTL",
		"GATEKEEPER_LOG_LEVEL",
		"VAULT_ADDR \"vault.example\" is not an http(s) URL",
		"VAULT_TOKEN is required",
		"GATEKEEPER_PREFIX",
		"GATEKEEPER_KV_MOUNT",
		"GATEKEEPER_WRITE_TTL must be a whole number of seconds",
	} {
		if !strings.Contains(msgs, want) {
			t.Errorf("errors lack %q:\n%s", want, msgs)
		}
	}
}

func TestPrefixMayNotOverlapOwnFolder(t *testing.T) {
	for _, p := range []string{"gatekeeper", "gatekeeper/tier"} {
		c, err := Load(append(base, "GATEKEEPER_PREFIX="+p), "")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "overlaps") {
			t.Errorf("prefix %q: Validate() = %v, want an overlap error", p, err)
		}
	}
}

func TestTokenNeverInErrors(t *testing.T) {
	c, _ := Load([]string{"VAULT_TOKEN=hvs.very-secret", "VAULT_ADDR=bad"}, "")
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), "very-secret") {
		t.Errorf("Validate() = %v", err)
	}
}

const goodFile = `
vault_addr: https://vault.example:8200
prefix: team
read_ttl: 2h
http:
  listen: 127.0.0.1:8443
auth:
  api_keys:
    - id: ci-1
      agent: ci
      sha256: 6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b
      scopes: [read, list]
  mtls:
    spiffe:
      "spiffe://example.org/builder": builder
    trusted_proxies: [10.0.0.0/8]
agents:
  - name: ci
    write_ttl: 5m
  - name: builder
    scopes: [read]
    approvals: {per_minute: 1, burst: 1}
`

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gatekeeper.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// loadChecked loads env and, unless empty, a config file holding file, then
// validates: the first error of the two.
func loadChecked(t *testing.T, env []string, file string) (Config, error) {
	t.Helper()
	path := ""
	if file != "" {
		path = writeFile(t, file)
	}
	c, err := Load(env, path)
	if err == nil {
		err = c.Validate()
	}
	return c, err
}

func TestFile(t *testing.T) {
	p := writeFile(t, goodFile)
	c, err := Load([]string{"VAULT_TOKEN=s.x", "GATEKEEPER_READ_TTL=3h"}, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Prefix != "team" || c.ReadTTL != 3*time.Hour || c.WriteTTL != 15*time.Minute {
		t.Errorf("file then environment: prefix %q read %s write %s", c.Prefix, c.ReadTTL, c.WriteTTL)
	}
	if got := c.TTL("ci", access.Write); got != 5*time.Minute {
		t.Errorf("ci write TTL = %s, want its own 5m", got)
	}
	if got := c.TTL("builder", access.Write); got != 15*time.Minute {
		t.Errorf("builder write TTL = %s, want the global 15m", got)
	}
	if diff := cmp.Diff([]string{"api_key", "mtls"}, c.AuthMethods()); diff != "" {
		t.Errorf("auth methods (-want +got):\n%s", diff)
	}
	// The same file through GATEKEEPER_CONFIG.
	if c2, err := Load([]string{"GATEKEEPER_CONFIG=" + p}, ""); err != nil || c2.Prefix != "team" {
		t.Errorf("GATEKEEPER_CONFIG: %v, %q", err, c2.Prefix)
	}
}

func TestFileUnknownKeyIsAnError(t *testing.T) {
	p := writeFile(t, "vault_addr: https://v:8200\nagents:\n  - name: a\n    scope: [read]\n")
	if _, err := Load(nil, p); err == nil || !strings.Contains(err.Error(), "scope") {
		t.Fatalf("Load() = %v, want the unknown key named", err)
	}
}

func TestFileProblemsAllAtOnce(t *testing.T) {
	p := writeFile(t, `
vault_addr: https://v:8200
http:
  listen: 0.0.0.0:8443
  client_ca_file: ca.pem
  max_sessions_per_agent: 0
auth:
  api_keys:
    - id: k
      agent: ghost
      sha256: not-a-hash
      scopes: [read, admin]
  jwt:
    leeway: 5m
  mtls:
    trusted_proxies: [10.0.0.0]
agents:
  - name: Bad Name
  - name: ok
    approvals: {per_minute: 0, burst: 0}
`)
	c, err := Load([]string{"VAULT_TOKEN=s.x"}, p)
	if err != nil {
		t.Fatal(err)
	}
	msg := c.Validate().Error()
	for _, want := range []string{
		`agent "ghost" is not declared`, "sha256 must be 64 hex digits", `unknown scope "admin"`,
		"leeway must be between 1s and 60s", `"10.0.0.0" is not a CIDR prefix`, `"Bad Name"`,
		"per_minute must be positive", "client certificates (client_ca_file) need HTTPS",
		"http.max_sessions_per_agent must be at least 1",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("errors lack %q:\n%s", want, msg)
		}
	}
}

func TestSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	tok, sec := filepath.Join(dir, "token"), filepath.Join(dir, "jwt")
	_ = os.WriteFile(tok, []byte("s.bootstrap\n"), 0o600)
	_ = os.WriteFile(sec, []byte(strings.Repeat("k", 40)), 0o600)
	p := writeFile(t, "vault_addr: https://v:8200\nvault_token_file: "+tok+"\nauth:\n  jwt:\n    hs256_secret_file: "+sec+"\n")
	c, err := Load(nil, p)
	if err != nil {
		t.Fatal(err)
	}
	if c.VaultToken.Reveal() != "s.bootstrap" || len(c.JWTSecret.Reveal()) != 40 {
		t.Errorf("secrets not read from their files")
	}
	c, _ = Load([]string{"VAULT_TOKEN=s.env"}, p)
	if c.VaultToken.Reveal() != "s.env" {
		t.Errorf("VAULT_TOKEN does not win over vault_token_file")
	}
}

func TestJWKSMustBeHTTPS(t *testing.T) {
	for url, ok := range map[string]bool{
		"https://idp.example/jwks": true, "http://127.0.0.1:9999/jwks": true, "http://localhost/jwks": true,
		"http://idp.example/jwks": false, "ftp://idp.example/jwks": false,
	} {
		c, err := Load(append(base, "GATEKEEPER_CONFIG="+writeFile(t, "auth:\n  jwt:\n    jwks_url: "+url+"\n")), "")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); (err == nil) != ok {
			t.Errorf("jwks_url %s: Validate() = %v, want ok=%v", url, err, ok)
		}
	}
}

func TestApprovalValidation(t *testing.T) {
	tests := []struct {
		name, file string
		env        []string
		dev        bool
		want       string // "" means valid
	}{
		{"ok/default-vault-mfa", "", nil, false, ""},
		{"ok/duo", "approval: {strategy: brokered, approver: duo, duo: {host: api-x.duosecurity.com, integration_key: DIXXX, username: ada}}", []string{"GATEKEEPER_DUO_SECRET_KEY=s"}, false, ""},
		{"ok/passkey", "approval: {strategy: brokered, approver: passkey, passkey: {credentials_file: /var/lib/gk/passkeys.json}}", nil, false, ""},
		{"ok/dev-in-dev", "approval: {strategy: brokered, approver: dev}", nil, true, ""},
		{"fail/dev-outside-dev", "approval: {strategy: brokered, approver: dev}", nil, false, "only for gatekeeper dev"},
		{"fail/agent-dev", "approval: {strategy: brokered, approver: duo, duo: {host: h, integration_key: i}}\nagents: [{name: a, approver: dev}]", []string{"GATEKEEPER_DUO_SECRET_KEY=s"}, false, "only for gatekeeper dev"},
		{"fail/no-approver", "approval: {strategy: brokered}", nil, false, "needs an approver"},
		{"fail/approver-without-brokered", "approval: {approver: duo}", nil, false, "needs approval.strategy brokered"},
		{"fail/duo-stdio-without-username", "approval: {strategy: brokered, approver: duo, duo: {host: h, integration_key: i}}", []string{"GATEKEEPER_DUO_SECRET_KEY=s"}, false, "username is required for the stdio agent"},
		{"fail/duo-without-secret", "approval: {strategy: brokered, approver: duo, duo: {host: h, integration_key: i}}", nil, false, "GATEKEEPER_DUO_SECRET_KEY"},
		{"fail/passkey-public-without-tls", "approval: {strategy: brokered, approver: passkey, passkey: {listen: 0.0.0.0:8444, credentials_file: f}}", nil, false, "needs tls_cert_file"},
		{"fail/strategy", "approval: {strategy: magic}", nil, false, "not vault-mfa or brokered"},
		{"fail/webhook-http", "approval: {notify: {webhook_url: http://hooks.example/x}}", nil, false, "must be https"},
		{"ok/page", "approval: {page: {listen: 127.0.0.1:9000, public_url: https://gk.example/approvals}}", nil, false, ""},
		{"ok/page-fallback", "approval: {passcode_fallback: true}", nil, false, ""},
		{"ok/page-env", "", []string{"GATEKEEPER_APPROVAL_PAGE_ADDR=127.0.0.1:9000", "GATEKEEPER_APPROVAL_PAGE_URL=http://localhost:9000"}, false, ""},
		{"ok/page-old-names-agree", "approval: {page: {listen: 127.0.0.1:9000}, passkey: {listen: 127.0.0.1:9000}}", nil, false, ""},
		{"fail/page-old-names-disagree", "approval: {page: {listen: 127.0.0.1:9000}, passkey: {listen: 127.0.0.1:9001}}", nil, false, "older name of approval.page.listen"},
		{"fail/page-public-without-tls", "approval: {page: {listen: 0.0.0.0:8444}}", nil, false, "approval.page off loopback needs tls_cert_file"},
		{"fail/page-listen", "", []string{"GATEKEEPER_APPROVAL_PAGE_ADDR=:8444x"}, false, "approval.page.listen"},
		{"fail/page-url", "approval: {page: {public_url: ftp://x}}", nil, false, "approval.page.public_url"},
		{"fail/page-tls-half", "approval: {page: {tls_cert_file: c.pem}}", nil, false, "both a certificate and a key"},
		{"fail/fallback-not-bool", "", []string{"GATEKEEPER_PASSCODE_FALLBACK=sometimes"}, false, "GATEKEEPER_PASSCODE_FALLBACK"},
		{"ok/exec-env", "exec: {enabled: true, allowed: [/usr/local/bin/deploy], env: {/usr/local/bin/deploy: [GITHUB_TOKEN]}}", nil, false, ""},
		{"fail/exec-env-denied-name", "exec: {enabled: true, allowed: [/usr/local/bin/deploy], env: {/usr/local/bin/deploy: [KUBECONFIG]}}", nil, false, "KUBECONFIG makes programs load code"},
		{"fail/exec-env-unknown-command", "exec: {enabled: true, allowed: [/usr/local/bin/deploy], env: {/usr/bin/psql: [PGPASSWORD]}}", nil, false, `exec.env: "/usr/bin/psql" is not one of exec.allowed`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(append(append([]string{}, base...), tc.env...), writeFile(t, tc.file))
			if err != nil && (tc.want == "" || !strings.Contains(err.Error(), tc.want)) {
				t.Fatal(err)
			}
			c.DevMode = tc.dev
			err = errors.Join(err, c.Validate())
			if tc.want == "" && err != nil {
				t.Fatalf("Validate() = %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestApprovalPageDefaults: a free loopback port, except with the passkey
// approver (whose keys are bound to the page's origin), and the older
// passkey names still apply.
func TestApprovalPageDefaults(t *testing.T) {
	for _, tc := range []struct {
		name, file, want string
	}{
		{"ok/vault-mfa", "", DefaultPageListen},
		{"ok/duo", "approval: {strategy: brokered, approver: duo}", DefaultPageListen},
		{"ok/passkey", "approval: {strategy: brokered, approver: passkey}", DefaultPasskeyPageListen},
		{"ok/agent-passkey", "approval: {strategy: brokered, approver: duo}\nagents: [{name: a, approver: passkey}]", DefaultPasskeyPageListen},
		{"ok/old-name", "approval: {passkey: {listen: 127.0.0.1:7000}}", "127.0.0.1:7000"},
		{"ok/new-name", "approval: {page: {listen: 127.0.0.1:7001}, strategy: brokered, approver: passkey}", "127.0.0.1:7001"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(base, writeFile(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.ApprovalPage().Listen; got != tc.want {
				t.Errorf("listen = %q, want %q", got, tc.want)
			}
			if c.Approval.PasscodeFallback {
				t.Error("the passcode fallback is on by default")
			}
		})
	}
}
