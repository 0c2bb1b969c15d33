package main_test

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Every fault ends in an actionable message and no access beyond what was
// approved.

func TestVaultDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.serve()
	a.authenticate()
	e.srv.Stop()
	a.fails("read_secret", map[string]any{"path": "app/db"}, "Vault is not answering")
	a.fails("escalate", map[string]any{"reason": "x"}, "Vault is not answering")
	if tier := a.tier(); tier == "write" {
		t.Fatalf("tier = %s with Vault down", tier)
	}
}

func TestVaultDownBeforeAnyGrant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.serve()
	e.srv.Stop()
	a.fails("authenticate", nil, "Vault is not answering")
	a.fails("read_secret", map[string]any{"path": "app/db"}, "")
	if tier := a.tier(); tier != "none" {
		t.Fatalf("tier = %s", tier)
	}
}

func TestVaultSealed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.serve()
	a.authenticate()
	if _, err := e.vc.Write(t.Context(), e.root, "sys/seal", nil); err != nil {
		t.Fatal(err)
	}
	a.fails("read_secret", map[string]any{"path": "app/db"}, "Vault is sealed")
	a.fails("escalate", map[string]any{"reason": "x"}, "Vault is sealed")
	if tier := a.tier(); tier != "read" {
		t.Fatalf("tier = %s, want the read grant kept but unusable", tier)
	}
	// Unsealed, the same grant works again: sealing revoked nothing.
	if _, err := e.vc.Write(t.Context(), e.root, "sys/unseal", map[string]any{"key": e.srv.UnsealKey()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() bool { return !a.call("read_secret", map[string]any{"path": "app/db"}).isError })
}

func TestBootstrapTokenRevoked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.serve()
	if err := e.vc.RevokeSelf(t.Context(), e.res.BootstrapToken); err != nil {
		t.Fatal(err)
	}
	a.fails("authenticate", nil, "Gatekeeper's own Vault credential was refused")
	a.fails("read_secret", map[string]any{"path": "app/db"}, "")
	if tier := a.tier(); tier != "none" {
		t.Fatalf("tier = %s", tier)
	}
}

func TestTierTokensRevokedOutside(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.serve()
	a.authenticate()
	a.escalate()
	acc := a.accessors()

	e.revokeAccessor(acc["write"][0])
	a.fails("write_secret", map[string]any{"path": "app/api", "data": map[string]any{"key": "x"}}, "revoked outside Gatekeeper")
	if tier := a.tier(); tier != "read" {
		t.Fatalf("tier after the write token was revoked = %s, want read", tier)
	}
	a.ok("read_secret", map[string]any{"path": "app/db"})

	e.revokeAccessor(acc["read"][0])
	a.fails("read_secret", map[string]any{"path": "app/db"}, "revoked outside Gatekeeper")
	if tier := a.tier(); tier != "none" {
		t.Fatalf("tier after the read token was revoked = %s, want none", tier)
	}
	lost := 0
	for _, ev := range a.auditEvents() {
		if ev["event"] == "grant.lost" {
			lost++
		}
	}
	if lost != 2 {
		t.Errorf("grant.lost events = %d, want 2", lost)
	}
}

func TestSignalsRevokeEverything(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			e := newEnv(t)
			a := e.serve()
			a.authenticate()
			a.escalate()
			live := a.liveAccessors(2)
			if err := a.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { _, err := a.cmd.Process.Wait(); exited <- err }()
			select {
			case <-exited: //nolint:errcheck // only that it exited matters
			case <-time.After(30 * time.Second):
				t.Fatal("gatekeeper did not exit after the signal")
			}
			for _, acc := range live {
				if e.tokenAlive(acc) {
					t.Errorf("token %s still valid after %s", acc, sig)
				}
			}
			if !strings.Contains(a.stderr.String(), "all grants revoked") {
				t.Errorf("stderr does not report the revocation:\n%s", a.stderr)
			}
		})
	}
}

// assertNoSecretsLogged checks stderr and the audit log for every secret
// the test knows: sample values, account passwords, the bootstrap token.
func assertNoSecretsLogged(t *testing.T, e *env, a *agent) {
	t.Helper()
	var secrets []string
	for _, data := range samples {
		for _, v := range data {
			if s, ok := v.(string); ok && len(s) > 6 {
				secrets = append(secrets, s)
			}
		}
	}
	secrets = append(secrets, "api-key-rotated", e.res.BootstrapToken.Reveal())
	for _, p := range []string{"gatekeeper/tier/read", "gatekeeper/tier/write"} {
		s, err := e.vc.KVRead(t.Context(), e.root, "secret", p)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, s.Data["password"].(string))
	}
	auditLog, err := os.ReadFile(a.audit)
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"stderr": a.stderr.String(), "audit": string(auditLog)} {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s contains a secret value or token", name)
			}
		}
		for _, prefix := range []string{"hvs.", "s."} {
			for _, field := range strings.Fields(text) {
				if strings.HasPrefix(strings.Trim(field, `"=:,{}`), prefix) && len(field) > 20 {
					t.Errorf("%s contains something shaped like a token: %.8s…", name, field)
				}
			}
		}
	}
}
