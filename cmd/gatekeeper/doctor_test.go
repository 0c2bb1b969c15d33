package main_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// doctorReport is gatekeeper doctor --json's output.
type doctorReport struct {
	OK     bool `json:"ok"`
	Checks []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
		Detail string `json:"detail"`
		Fix    string `json:"fix"`
	} `json:"checks"`
}

// doctorEnv is the environment gatekeeper serve would get from env.
func (e *env) doctorEnv(extra ...string) []string {
	return append([]string{
		"VAULT_ADDR=" + e.vaultAddr(),
		"VAULT_TOKEN=" + e.res.BootstrapToken.Reveal(),
		"GATEKEEPER_AUDIT_FILE=" + filepath.Join(e.t.TempDir(), "audit.jsonl"),
		"GATEKEEPER_AUDIT_KEY=" + auditKey,
	}, extra...)
}

// doctorFails runs gatekeeper doctor, as text and as JSON, and requires
// both to name the failed check and a fix containing fix.
func doctorFails(t *testing.T, env []string, check, fix string) {
	t.Helper()
	out, errOut, code := run(t, env, "doctor")
	if code != 1 {
		t.Fatalf("doctor exit %d, want 1\n%s%s", code, out, errOut)
	}
	var line string
	for l := range strings.SplitSeq(out, "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "FAIL" && f[1] == check {
			line = l
		}
	}
	if line == "" || !strings.Contains(line, "fix: ") || !strings.Contains(line, fix) {
		t.Errorf("doctor printed no FAIL line for %q with a fix containing %q:\n%s", check, fix, out)
	}
	if !strings.Contains(out, "check(s) failed: ") {
		t.Errorf("doctor printed no summary:\n%s", out)
	}

	out, errOut, code = run(t, env, "doctor", "--json")
	if code != 1 {
		t.Fatalf("doctor --json exit %d, want 1\n%s%s", code, out, errOut)
	}
	var rep doctorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("doctor --json printed %q: %v", out, err)
	}
	if rep.OK {
		t.Errorf("doctor --json says ok:\n%s", out)
	}
	for _, c := range rep.Checks {
		if c.Name == check {
			if c.Status != "fail" || !strings.Contains(c.Fix, fix) || c.Detail == "" {
				t.Errorf("doctor --json check %q = %+v, want fail with a fix containing %q", check, c, fix)
			}
			return
		}
	}
	t.Errorf("doctor --json has no check %q:\n%s", check, out)
}

func TestDoctorHealthy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out, errOut, code := run(t, e.doctorEnv(), "doctor")
	if code != 0 {
		t.Fatalf("doctor exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("gatekeeper doctor:\n%s", out)
	for _, name := range []string{"config", "vault", "unsealed", "clock", "token", "policies", "kv", "login", "mfa", "audit"} {
		if !strings.Contains(out, "OK    "+name+" ") {
			t.Errorf("doctor printed no OK line for %s:\n%s", name, out)
		}
	}
	if !strings.Contains(out, "every check passed") {
		t.Errorf("doctor printed no summary:\n%s", out)
	}
	if strings.Contains(out, e.res.BootstrapToken.Reveal()) || strings.Contains(errOut, e.res.BootstrapToken.Reveal()) {
		t.Error("doctor printed the token")
	}

	out, _, code = run(t, e.doctorEnv(), "doctor", "--json")
	var rep doctorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || !rep.OK {
		t.Fatalf("doctor --json exit %d, %v:\n%s", code, err, out)
	}
	for _, c := range rep.Checks {
		if c.Status == "fail" {
			t.Errorf("check %s failed: %+v", c.Name, c)
		}
	}
}

func TestDoctorWrongAddress(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t)
	untrusted := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(untrusted.Close)
	for _, tc := range []struct {
		name, addr, fix string
	}{
		{"nothing-listens", "http://127.0.0.1:1", "set VAULT_ADDR to where it listens"},
		{"https-to-plain-http", "https://" + strings.TrimPrefix(srv.Addr, "http://"), "use http:// in VAULT_ADDR"},
		{"certificate-not-trusted", untrusted.URL, "set VAULT_CACERT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := []string{"VAULT_ADDR=" + tc.addr, "VAULT_TOKEN=s.doctor"}
			doctorFails(t, env, "vault", tc.fix)
			if out, _, _ := run(t, env, "doctor"); !strings.Contains(out, "SKIP  token ") {
				t.Errorf("the token was checked without a Vault:\n%s", out)
			}
		})
	}
}

func TestDoctorTokenRevoked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.vc.RevokeSelf(t.Context(), e.res.BootstrapToken); err != nil {
		t.Fatal(err)
	}
	doctorFails(t, e.doctorEnv(), "token", "run gatekeeper setup")
}

func TestDoctorTokenExpired(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s, err := e.vc.Write(t.Context(), e.root, "auth/token/create", map[string]any{
		"policies": []string{setup.BootstrapPolicy}, "ttl": "1s", "no_default_policy": true,
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // Vault's own clock decides; nothing to inject
	doctorFails(t, e.doctorEnv("VAULT_TOKEN="+s.Auth.ClientToken), "token", "run gatekeeper setup")
}

func TestDoctorPolicyMissing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.vc.Delete(t.Context(), e.root, "sys/policies/acl/"+setup.BootstrapPolicy); err != nil {
		t.Fatal(err)
	}
	doctorFails(t, e.doctorEnv(), "policies", "run gatekeeper setup to write the policy "+setup.BootstrapPolicy)
}

func TestDoctorTokenWithoutPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s, err := e.vc.Write(t.Context(), e.root, "auth/token/create", map[string]any{"policies": []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	doctorFails(t, e.doctorEnv("VAULT_TOKEN="+s.Auth.ClientToken), "policies", "give serve a token with the policy "+setup.BootstrapPolicy)
}

func TestDoctorMFAMissing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.vc.Delete(t.Context(), e.root, "identity/mfa/login-enforcement/"+setup.Agent("").Enforcement()); err != nil {
		t.Fatal(err)
	}
	doctorFails(t, e.doctorEnv(), "mfa", "creates the MFA method and enforces it")
	// The probe's token, issued without a second factor, was given back:
	// only the root and bootstrap tokens are left.
	s, err := e.vc.List(t.Context(), e.root, "auth/token/accessors")
	if err != nil {
		t.Fatal(err)
	}
	if keys, _ := s.Data["keys"].([]any); len(keys) != 2 {
		t.Errorf("%d tokens left, want 2 (root, bootstrap): the probe's token was not revoked", len(keys))
	}
}

func TestDoctorSealed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, err := e.vc.Write(t.Context(), e.root, "sys/seal", nil); err != nil {
		t.Fatal(err)
	}
	doctorFails(t, e.doctorEnv(), "unsealed", "vault operator unseal")
}

func TestDoctorAuditUnwritable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{
		"a folder":                   t.TempDir(),
		"a file inside a plain file": filepath.Join(notDir, "audit.jsonl"),
	} {
		t.Run(name, func(t *testing.T) {
			doctorFails(t, e.doctorEnv("GATEKEEPER_AUDIT_FILE="+path), "audit", "GATEKEEPER_AUDIT_FILE")
		})
	}
}

// TestServeAnswersWithTheFailingCheck: a stdio server whose start-up checks
// fail still lists its tools, answers every tool call with the failing
// check and its fix, and serves once the check passes again.
func TestServeAnswersWithTheFailingCheck(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, err := e.vc.Write(t.Context(), e.root, "sys/seal", nil); err != nil {
		t.Fatal(err)
	}
	a := e.serve()
	res, err := a.session.ListTools(t.Context(), nil)
	if err != nil || len(res.Tools) == 0 {
		t.Fatalf("tools/list = %v, %v", res, err)
	}
	for _, tool := range []string{"authenticate", "read_secret"} {
		r := a.call(tool, map[string]any{"path": "app/db"})
		if !r.isError || !strings.Contains(r.text, `check "unsealed" failed`) || !strings.Contains(r.text, "vault operator unseal") {
			t.Errorf("%s answered %q, want the unsealed check and its fix", tool, r.text)
		}
	}
	if _, err := e.vc.Write(t.Context(), e.root, "sys/unseal", map[string]any{"key": e.srv.UnsealKey()}); err != nil {
		t.Fatal(err)
	}
	// The checks run again at most every 10 seconds.
	waitFor(t, 30*time.Second, func() bool {
		return !strings.Contains(a.call("token_status", nil).text, "start-up check")
	})
	a.authenticate()
}
