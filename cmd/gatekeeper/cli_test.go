package main_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// run runs the gatekeeper binary with only the given environment.
func run(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestSetupJSONTwice(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t)
	env := []string{"VAULT_ADDR=" + srv.Addr, "VAULT_TOKEN=" + srv.RootToken}
	var runs []map[string]any
	for range 2 {
		out, errOut, code := run(t, env, "setup", "--json")
		if code != 0 {
			t.Fatalf("setup --json exit %d: %s", code, errOut)
		}
		var res map[string]any
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("setup --json printed %q: %v", out, err)
		}
		runs = append(runs, res)
	}
	first, second := runs[0], runs[1]
	for _, key := range []string{"bootstrap_token", "totp_url", "kv_mount", "prefix"} {
		if _, ok := first[key]; !ok {
			t.Errorf("setup --json lacks %q: %v", key, first)
		}
	}
	if first["kv_mount"] != "secret" || first["prefix"] != "agent" || !strings.HasPrefix(first["totp_url"].(string), "otpauth://totp/") {
		t.Errorf("first run = %v", first)
	}
	if second["totp_url"] != "" || second["bootstrap_token"] != first["bootstrap_token"] {
		t.Errorf("second run re-enrolled or replaced the bootstrap token: %v", second)
	}
}

func TestSetupTextShowsEnrollment(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t)
	out, errOut, code := run(t, []string{"VAULT_ADDR=" + srv.Addr, "VAULT_TOKEN=" + srv.RootToken}, "setup")
	if code != 0 {
		t.Fatalf("setup exit %d: %s", code, errOut)
	}
	for _, want := range []string{"otpauth://totp/", "▀", "Bootstrap token"} {
		if !strings.Contains(out, want) {
			t.Errorf("setup output lacks %q:\n%s", want, out)
		}
	}
}

func TestPolicyTouchesNoVault(t *testing.T) {
	t.Parallel()
	out, errOut, code := run(t, []string{"GATEKEEPER_PREFIX=bots"}, "policy", "--agent", "ci")
	if code != 0 {
		t.Fatalf("policy exit %d: %s", code, errOut)
	}
	for _, want := range []string{`"gatekeeper-bootstrap"`, `"gatekeeper-ci-read"`, `"gatekeeper-ci-write"`, `path "secret/data/bots/ci/*"`, `path "secret/data/gatekeeper/agents/+/tier/read"`} {
		if !strings.Contains(out, want) {
			t.Errorf("policy output lacks %s", want)
		}
	}
	// Named agents' policies only: nothing of the stdio agent, whose
	// folder is the whole prefix.
	for _, unwanted := range []string{`"gatekeeper-read"`, `path "secret/data/gatekeeper/tier/read"`, `path "secret/data/bots/*"`} {
		if strings.Contains(out, unwanted) {
			t.Errorf("policy output has %s", unwanted)
		}
	}
}

func TestServeRefusesBadConfig(t *testing.T) {
	t.Parallel()
	_, errOut, code := run(t, []string{"VAULT_ADDR=vault:8200", "GATEKEEPER_READ_TTL=soon", "GATEKEEPER_PREFX=x"}, "serve")
	if code == 0 {
		t.Fatal("serve started with a bad configuration")
	}
	for _, want := range []string{"VAULT_ADDR", "VAULT_TOKEN is required", "GATEKEEPER_READ_TTL", "GATEKEEPER_PREFX is not a Gatekeeper setting"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("serve's error lacks %q:\n%s", want, errOut)
		}
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	if _, _, code := run(t, nil, "frobnicate"); code != 2 {
		t.Errorf("unknown command exit = %d, want 2", code)
	}
	if out, _, code := run(t, nil, "help"); code != 0 || !strings.Contains(out, "gatekeeper serve") {
		t.Errorf("help exit %d: %s", code, out)
	}
	if _, errOut, code := run(t, nil, "serve", "-h"); code != 0 || !strings.Contains(errOut, "Usage: gatekeeper serve") {
		t.Errorf("serve -h exit %d: %s", code, errOut)
	}
}

func TestConfigCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := dir + "/bad.yaml"
	_ = os.WriteFile(bad, []byte("vault_addr: nope\nagents:\n  - {name: Bad}\nauth:\n  api_keys:\n    - {id: k, agent: ghost, sha256: xyz}\n"), 0o600)
	out, _, code := run(t, nil, "config", "check", "--config", bad, "--http", "127.0.0.1:8080")
	if code == 0 {
		t.Fatal("config check passed a bad file")
	}
	for _, want := range []string{"VAULT_ADDR", "VAULT_TOKEN", `"Bad"`, `agent "ghost" is not declared`, "sha256 must be 64 hex digits"} {
		if !strings.Contains(out, want) {
			t.Errorf("config check output lacks %q:\n%s", want, out)
		}
	}
	good := dir + "/good.yaml"
	_ = os.WriteFile(good, []byte("vault_addr: https://v:8200\nagents:\n  - {name: ci}\n"), 0o600)
	out, errOut, code := run(t, []string{"VAULT_TOKEN=s.x", "GATEKEEPER_JWT_SECRET=" + strings.Repeat("k", 32)}, "config", "check", "--config", good, "--http", "127.0.0.1:8080")
	if code != 0 || !strings.Contains(out, "ok: http on 127.0.0.1:8080") || !strings.Contains(out, "auth: jwt") {
		t.Errorf("config check on a good file: %d %s %s", code, out, errOut)
	}
}

func TestTokenCommand(t *testing.T) {
	t.Parallel()
	secret := "GATEKEEPER_JWT_SECRET=" + strings.Repeat("k", 32)
	out, errOut, code := run(t, []string{secret}, "token", "--sub", "alice", "--scope", "read,list", "--ttl", "5m")
	if code != 0 || strings.Count(strings.TrimSpace(out), ".") != 2 {
		t.Fatalf("token: %d %q %s", code, out, errOut)
	}
	for _, args := range [][]string{
		{"token", "--sub", "Not An Agent"},
		{"token", "--sub", "alice", "--scope", "admin"},
	} {
		if _, _, code := run(t, []string{secret}, args...); code == 0 {
			t.Errorf("%v succeeded", args)
		}
	}
	if _, errOut, code := run(t, nil, "token", "--sub", "alice"); code == 0 || !strings.Contains(errOut, "GATEKEEPER_JWT_SECRET") {
		t.Errorf("token without a secret: %d %s", code, errOut)
	}
}
