package main_test

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The whole KV v2 lifecycle through the tools, against the real Vault.
func TestSecretLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.serve()
	a.authenticate()
	a.escalate()

	// Versions and check-and-set.
	if v := a.ok("write_secret", map[string]any{"path": "app/api", "data": map[string]any{"key": "v2"}, "cas": 1})["version"]; v != 2.0 {
		t.Fatalf("cas write = %v", v)
	}
	a.fails("write_secret", map[string]any{"path": "app/api", "data": map[string]any{"key": "v3"}, "cas": 1}, "someone changed it")
	if got := a.ok("read_secret", map[string]any{"path": "app/api", "version": 1})["data"]; !cmp.Equal(got, map[string]any{"key": "api-key-77b1d0"}) {
		t.Errorf("version 1 = %v", got)
	}
	// Two writers on the same version: exactly one wins.
	var wg sync.WaitGroup
	res := make([]result, 2)
	for i := range res {
		wg.Go(func() {
			res[i] = a.call("write_secret", map[string]any{"path": "app/api", "data": map[string]any{"key": "racer"}, "cas": 2})
		})
	}
	wg.Wait()
	if res[0].isError == res[1].isError {
		t.Fatalf("concurrent cas writes: %+v / %+v, want exactly one to win", res[0], res[1])
	}

	// Patch merges; it answers with the version, never the values.
	out := a.ok("patch_secret", map[string]any{"path": "app/api", "data": map[string]any{"extra": "x"}})
	if _, echoed := out["data"]; echoed || out["version"] != 4.0 {
		t.Errorf("patch answered %v", out)
	}
	if got := a.ok("read_secret", map[string]any{"path": "app/api"})["data"]; !cmp.Equal(got, map[string]any{"key": "racer", "extra": "x"}) {
		t.Errorf("after patch: %v", got)
	}
	a.ok("patch_secret", map[string]any{"path": "app/api", "data": map[string]any{"extra": nil}})
	a.fails("patch_secret", map[string]any{"path": "app/nothing", "data": map[string]any{"a": "b"}}, "Nothing at that path")

	// Metadata: versions and custom metadata, no values.
	if _, err := e.vc.Write(t.Context(), e.root, "secret/metadata/agent/app/api", map[string]any{"custom_metadata": map[string]string{"owner": "team-a"}}); err != nil {
		t.Fatal(err)
	}
	md := a.ok("secret_metadata", map[string]any{"path": "app/api"})
	if md["current_version"] != 5.0 || len(md["versions"].([]any)) != 5 || md["custom_metadata"].(map[string]any)["owner"] != "team-a" {
		t.Errorf("metadata = %v", md)
	}
	if b, _ := json.Marshal(md); strings.Contains(string(b), "racer") {
		t.Error("metadata shows a value")
	}

	// Soft delete and undelete.
	a.ok("delete_secret", map[string]any{"path": "app/api"})
	a.fails("read_secret", map[string]any{"path": "app/api"}, "deleted (recoverable)")
	a.ok("undelete_secret", map[string]any{"path": "app/api", "versions": []int{5}})
	a.ok("read_secret", map[string]any{"path": "app/api"})

	// Destroy: a fresh approval for exactly this path and these versions,
	// every time; the one-shot token is revoked afterwards.
	// The call waits for its own approval (a one-shot is never relayed);
	// the human finds its page where serve announces it.
	destroy := map[string]any{"path": "app/api", "versions": []int{1}, "reason": "leaked key"}
	refused := a.callAnswered("destroy_secret", destroy, func() {
		link := a.announcedLink("destroy", 0)
		for range 3 {
			human.Code(t, link, e.auth.Wrong(t))
		}
	})
	if !refused.isError || !strings.Contains(refused.text, "code was not accepted") {
		t.Fatalf("destroy after three wrong codes: %+v", refused)
	}
	a.ok("read_secret", map[string]any{"path": "app/api", "version": 1}) // nothing destroyed yet
	done := a.callAnswered("destroy_secret", destroy, func() {
		link := a.announcedLink("destroy", 1)
		human.Code(t, link, e.auth.Wrong(t))
		human.Code(t, link, e.auth.Code(t))
	})
	if done.isError {
		t.Fatalf("destroy approved on its page: %s", done.text)
	}
	a.fails("read_secret", map[string]any{"path": "app/api", "version": 1}, "destroyed permanently")
	var destroyTokens []string
	for _, ev := range a.auditEvents() {
		if ev["event"] == "grant.issued" && ev["tier"] == "destroy" {
			destroyTokens = append(destroyTokens, ev["accessor"].(string))
		}
	}
	if len(destroyTokens) != 1 || e.tokenAlive(destroyTokens[0]) {
		t.Errorf("destroy tokens %v: want one, revoked", destroyTokens)
	}
	if tier := a.tier(); tier != "write" {
		t.Errorf("tier after destroy = %s", tier)
	}

	// A bounded recursive list.
	keys := a.ok("list_secrets", map[string]any{"path": "", "recursive": true})["keys"]
	if diff := cmp.Diff([]any{"app/", "team/", "app/api", "app/db", "team/notes"}, keys); diff != "" {
		t.Errorf("recursive list (-want +got):\n%s", diff)
	}
}

func TestTransitTools(t *testing.T) {
	t.Parallel()
	m := newManyAgents(t)
	alice, bob := m.session(t, "alice", ""), m.session(t, "bob", "")
	alice.authenticate()
	bob.authenticate()
	plain := base64.StdEncoding.EncodeToString([]byte("the launch codes"))
	ct := alice.ok("encrypt", map[string]any{"plaintext": plain})["ciphertext"].(string)
	if !strings.HasPrefix(ct, "vault:v1:") {
		t.Fatalf("ciphertext = %q", ct)
	}
	if got := alice.ok("decrypt", map[string]any{"ciphertext": ct})["plaintext"]; got != plain {
		t.Errorf("round trip = %v", got)
	}
	// Bob's key cannot open Alice's ciphertext, and Bob cannot name hers.
	bob.fails("decrypt", map[string]any{"ciphertext": ct}, "does not belong to this key")
	bob.fails("decrypt", map[string]any{"ciphertext": ct, "key": "../alice.default"}, "key must be a name")
	// Rewrap after a rotation moves the ciphertext to the new key version.
	if _, err := m.e.vc.Write(t.Context(), m.e.root, "transit/keys/alice.default/rotate", nil); err != nil {
		t.Fatal(err)
	}
	re := alice.ok("rewrap", map[string]any{"ciphertext": ct})["ciphertext"].(string)
	if !strings.HasPrefix(re, "vault:v2:") || alice.ok("decrypt", map[string]any{"ciphertext": re})["plaintext"] != plain {
		t.Errorf("rewrap = %q", re)
	}
	sig := alice.ok("sign", map[string]any{"input": plain})["signature"].(string)
	if v := alice.ok("verify", map[string]any{"input": plain, "signature": sig})["valid"]; v != true {
		t.Errorf("verify = %v", v)
	}
	tampered := base64.StdEncoding.EncodeToString([]byte("the launch codez"))
	if v := alice.ok("verify", map[string]any{"input": tampered, "signature": sig})["valid"]; v != false {
		t.Errorf("verify of tampered input = %v", v)
	}
}

// TestRevealPolicy: for paths the deployment keeps out of the model, no tool
// returns a value: not read, not patch, not metadata, not an error.
func TestRevealPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := filepath.Join(t.TempDir(), "gk.yaml")
	if err := os.WriteFile(cfg, []byte("reveal:\n  default: true\n  rules:\n    - {pattern: \"app/**\", reveal: false}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := e.serve("GATEKEEPER_CONFIG=" + cfg)
	a.authenticate()
	a.escalate()
	var outputs []string
	record := func(r result) {
		b, _ := json.Marshal(r.out)
		outputs = append(outputs, r.text, string(b))
	}
	read := a.call("read_secret", map[string]any{"path": "app/db"})
	record(read)
	if read.isError || read.out["revealed"] != false || !cmp.Equal(read.out["fields"], []any{"password", "username"}) {
		t.Errorf("withheld read = %+v", read)
	}
	record(a.call("read_secret", map[string]any{"path": "app/db", "version": 1}))
	record(a.call("patch_secret", map[string]any{"path": "app/db", "data": map[string]any{"note": "x"}}))
	record(a.call("secret_metadata", map[string]any{"path": "app/db"}))
	record(a.call("read_secret", map[string]any{"path": "app/db", "version": 99}))
	record(a.call("write_secret", map[string]any{"path": "app/db", "data": map[string]any{"password": "pw-db-5f2c9e"}, "cas": 1}))
	for _, o := range outputs {
		if strings.Contains(o, "pw-db-5f2c9e") {
			t.Fatalf("a withheld value reached the agent: %s", o)
		}
	}
	if got := a.ok("read_secret", map[string]any{"path": "team/notes"})["data"]; !cmp.Equal(got, map[string]any{"text": "hello"}) {
		t.Errorf("revealed read = %v", got)
	}
	reveals := map[string]int{}
	for _, ev := range a.auditEvents() {
		if ev["event"] == "tool.call" && ev["tool"] == "read_secret" && ev["reveal"] != nil {
			reveals[ev["reveal"].(string)]++
		}
	}
	if reveals["withheld"] < 1 || reveals["revealed"] != 1 {
		t.Errorf("audit reveal counts = %v", reveals)
	}
}

func TestRunWithSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if tools := toolNames(t, e.serve()); contains(tools, "run_with_secret") {
		t.Fatal("run_with_secret exists without being enabled")
	}
	cfg := filepath.Join(t.TempDir(), "gk.yaml")
	if err := os.WriteFile(cfg, []byte("exec:\n  enabled: true\n  allowed: [/bin/sh]\n  env: {/bin/sh: [PW, KEY]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := e.serve("GATEKEEPER_CONFIG=" + cfg)
	a.authenticate()
	out := a.ok("run_with_secret", map[string]any{
		"path": "app/db", "env": map[string]any{"PW": "password"},
		"command": "/bin/sh", "args": []string{"-c", `printf 'len=%s val=%s' "${#PW}" "$PW"`},
	})
	if out["exit_code"] != 0.0 || out["stdout"] != "len=12 val=[REDACTED:app/db#password]" || out["redacted"] != 1.0 {
		t.Errorf("run_with_secret = %v", out)
	}
	// A placeholder names any secret, without path; it is refused in args.
	out = a.ok("run_with_secret", map[string]any{
		"env":     map[string]any{"PW": `{{secret "app/db" "password"}}`, "KEY": `{{secret "app/api" "key"}}`},
		"command": "/bin/sh", "args": []string{"-c", `printf '%s %s' "$PW" "$KEY"`},
	})
	if out["stdout"] != "[REDACTED:app/db#password] [REDACTED:app/api#key]" || out["redacted"] != 2.0 {
		t.Errorf("run_with_secret with placeholders = %v", out)
	}
	a.fails("run_with_secret", map[string]any{
		"env": map[string]any{"PW": `{{secret "app/db" "password"}}`}, "command": "/bin/sh",
		"args": []string{"-c", `echo {{secret "app/db" "password"}}`},
	}, "holds a placeholder")
	a.fails("run_with_secret", map[string]any{"path": "app/db", "env": map[string]any{"PW": "password"}, "command": "/usr/bin/env"}, "")
	// Only the variables the operator lists for the command.
	a.fails("run_with_secret", map[string]any{
		"path": "app/db", "env": map[string]any{"PSQLRC": "password"}, "command": "/bin/sh", "args": []string{"-c", "true"},
	}, "PSQLRC is not a variable the operator allows this command")
	for _, ev := range a.auditEvents() {
		if ev["tool"] == "run_with_secret" && ev["outcome"] == "ok" && ev["reveal"] != "injected" {
			t.Errorf("audit reveal = %v", ev["reveal"])
		}
	}
}

func toolNames(t *testing.T, a *agent) []string {
	t.Helper()
	res, err := a.session.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tool := range res.Tools {
		out = append(out, tool.Name)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
