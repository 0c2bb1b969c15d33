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
	out, errOut, code := run(t, []string{"GATEKEEPER_PREFIX=bots"}, "policy")
	if code != 0 {
		t.Fatalf("policy exit %d: %s", code, errOut)
	}
	for _, want := range []string{`"gatekeeper-bootstrap"`, `"gatekeeper-read"`, `"gatekeeper-write"`, `path "secret/data/bots/*"`} {
		if !strings.Contains(out, want) {
			t.Errorf("policy output lacks %s", want)
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
