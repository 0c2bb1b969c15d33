package main_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestToolsAndAnnotations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.serve()
	res, err := a.session.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	type hints struct {
		ReadOnly, Destructive, Idempotent bool
	}
	got := map[string]hints{}
	for _, tool := range res.Tools {
		if tool.Description == "" {
			t.Errorf("%s has no description", tool.Name)
		}
		an := tool.Annotations
		if an == nil || an.DestructiveHint == nil {
			t.Fatalf("%s lacks annotations with an explicit destructiveHint", tool.Name)
		}
		got[tool.Name] = hints{an.ReadOnlyHint, *an.DestructiveHint, an.IdempotentHint}
	}
	want := map[string]hints{
		"authenticate":    {false, false, true},
		"escalate":        {false, false, true},
		"token_status":    {true, false, true},
		"release":         {false, false, true},
		"logout":          {false, false, true},
		"read_secret":     {true, false, true},
		"secret_metadata": {true, false, true},
		"list_secrets":    {true, false, true},
		"write_secret":    {false, true, true},
		"patch_secret":    {false, true, true},
		"delete_secret":   {false, true, true},
		"undelete_secret": {false, false, true},
		"destroy_secret":  {false, true, true},
		"encrypt":         {true, false, true},
		"decrypt":         {true, false, true},
		"rewrap":          {true, false, true},
		"sign":            {true, false, true},
		"verify":          {true, false, true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tools and hints (-want +got):\n%s", diff)
	}
	for _, tool := range res.Tools {
		schema, _ := tool.InputSchema.(map[string]any)
		required, _ := schema["required"].([]any)
		switch tool.Name {
		case "escalate":
			if !slices.Contains(required, any("reason")) {
				t.Errorf("escalate does not require reason: %v", schema)
			}
		case "read_secret", "list_secrets":
			if !slices.Contains(required, any("path")) {
				t.Errorf("%s does not require path: %v", tool.Name, schema)
			}
		case "write_secret":
			if !slices.Contains(required, any("path")) || !slices.Contains(required, any("data")) {
				t.Errorf("write_secret does not require path and data: %v", schema)
			}
		}
	}
}

// TestLifecycle walks an agent from no access to write and back, with every
// approval made the way a human with an authenticator app makes it.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.serve()

	if tier := a.tier(); tier != "none" {
		t.Fatalf("starting tier = %q, want none", tier)
	}
	// A read with no grant starts the read approval; the agent relays its
	// page, where the human answers (a code passed by the agent is refused
	// and never reaches Vault).
	link := linkIn(a.fails("read_secret", map[string]any{"path": "app/db"}, "approval page"))
	a.fails("authenticate", map[string]any{"passcode": e.auth.Code(t)}, "does not take approval codes")
	if state := human.Code(t, link, e.auth.Wrong(t)); state != "pending" {
		t.Fatalf("page after a wrong code: %s, want it to ask again", state)
	}
	if tier := a.tier(); tier != "none" {
		t.Fatalf("tier after a wrong code = %q", tier)
	}
	if state := human.Code(t, link, e.auth.Code(t)); state != "approved" {
		t.Fatalf("page after the right code: %s", state)
	}
	if out := a.ok("authenticate", nil); out["tier"] != "read" {
		t.Fatalf("after the approval on the page: %v", out)
	}
	st := a.ok("token_status", nil)
	grants := st["grants"].([]any)
	if len(grants) != 1 {
		t.Fatalf("grants = %v", grants)
	}
	left := grants[0].(map[string]any)["seconds_left"].(float64)
	if left < 4*3600-60 || left > 4*3600 {
		t.Errorf("read grant seconds_left = %v, want about 4h", left)
	}

	got := a.ok("read_secret", map[string]any{"path": "app/db"})
	if diff := cmp.Diff(map[string]any{"username": "app", "password": "pw-db-5f2c9e"}, got["data"]); diff != "" {
		t.Errorf("read_secret data (-want +got):\n%s", diff)
	}
	keys := a.ok("list_secrets", map[string]any{"path": ""})["keys"]
	if diff := cmp.Diff([]any{"app/", "team/"}, keys); diff != "" {
		t.Errorf("list_secrets top (-want +got):\n%s", diff)
	}
	if keys := a.ok("list_secrets", map[string]any{"path": "nothing/here"})["keys"]; len(keys.([]any)) != 0 {
		t.Errorf("list of a missing folder = %v, want empty", keys)
	}
	a.fails("read_secret", map[string]any{"path": "app/missing"}, "Nothing at that path")

	// A write never escalates by itself.
	a.fails("write_secret", map[string]any{"path": "app/api", "data": map[string]any{"key": "new"}}, "Call escalate")
	a.fails("escalate", map[string]any{"reason": "  ", "passcode": "123456"}, "needs a reason")
	a.escalate()
	w := a.ok("write_secret", map[string]any{"path": "app/api", "data": map[string]any{"key": "api-key-rotated"}})
	if w["version"].(float64) != 2 {
		t.Errorf("write version = %v, want 2", w["version"])
	}
	stored, err := e.vc.KVRead(t.Context(), e.root, "secret", "agent/app/api")
	if err != nil || stored.Data["key"] != "api-key-rotated" {
		t.Fatalf("Vault holds %v, %v", stored, err)
	}
	// Escalating again while write is live asks nobody.
	if out := a.ok("escalate", map[string]any{"reason": "another write"}); out["tier"] != "write" {
		t.Errorf("escalate while write is live: %v", out)
	}

	acc := a.accessors()
	if len(acc["read"]) != 1 || len(acc["write"]) != 1 {
		t.Fatalf("issued grants = %v", acc)
	}
	if out := a.ok("release", nil); out["tier"] != "read" {
		t.Fatalf("after release: %v", out)
	}
	if e.tokenAlive(acc["write"][0]) {
		t.Error("release left the write token valid in Vault")
	}
	a.fails("write_secret", map[string]any{"path": "app/api", "data": map[string]any{"key": "x"}}, "Call escalate")
	a.ok("read_secret", map[string]any{"path": "app/api"})

	if out := a.ok("logout", nil); out["tier"] != "none" {
		t.Fatalf("after logout: %v", out)
	}
	if e.tokenAlive(acc["read"][0]) {
		t.Error("logout left the read token valid in Vault")
	}

	assertNoSecretsLogged(t, e, a)
}

// TestShutdownRevokesEverything closes stdin, as an MCP client does when it
// exits: every live grant is revoked in Vault.
func TestShutdownRevokesEverything(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.serve()
	a.authenticate()
	a.escalate()
	live := a.liveAccessors(2)
	a.stop()
	for _, acc := range live {
		if e.tokenAlive(acc) {
			t.Errorf("token %s is still valid after shutdown", acc)
		}
	}
	assertNoSecretsLogged(t, e, a)
}

func TestPathsOutsideThePrefixAreUnreachable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.serve()
	a.authenticate()
	a.escalate()
	for _, p := range []string{
		"../gatekeeper/tier/read", "..", "/secret/data/gatekeeper/bootstrap", "app/../../gatekeeper/bootstrap",
		"app//db", "%2e%2e/gatekeeper/tier/write", "app/db\x00", "app/db?version=1", "app/\u202edb",
		strings.Repeat("a/", 300) + "b",
	} {
		for _, tool := range []string{"read_secret", "write_secret", "list_secrets"} {
			args := map[string]any{"path": p, "data": map[string]any{"k": "v"}}
			if tool != "write_secret" {
				delete(args, "data")
			}
			a.fails(tool, args, "invalid path")
		}
	}
	// A relative path that names Gatekeeper's folder stays inside the prefix.
	a.fails("read_secret", map[string]any{"path": "gatekeeper/tier/read"}, "Nothing at that path")
	a.ok("write_secret", map[string]any{"path": "gatekeeper/tier/read", "data": map[string]any{"password": "x"}})
	own, err := e.vc.KVRead(t.Context(), e.root, "secret", "gatekeeper/tier/read")
	if err != nil || own.Data["password"] == "x" {
		t.Fatalf("Gatekeeper's own account was reachable: %v, %v", own, err)
	}
	// Refused paths are audited and never reached Vault as a request.
	refused := 0
	for _, ev := range a.auditEvents() {
		if ev["event"] == "tool.call" && ev["outcome"] == "refused" {
			refused++
		}
	}
	if refused < 30 {
		t.Errorf("refused tool calls audited = %d, want every bad path", refused)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.serve()
	a.authenticate()
	a.escalate()
	a.fails("write_secret", map[string]any{"path": "app/api", "data": map[string]any{}}, "at least one key")
	a.fails("write_secret", map[string]any{"path": "app/api", "data": map[string]any{"k": strings.Repeat("x", 70000)}}, "at most")
	a.fails("authenticate", map[string]any{"passcode": "12 34 56"}, "without spaces")
	a.fails("escalate", map[string]any{"reason": "x\x07y"}, "reason has U+0007")
	cur, err := e.vc.KVRead(t.Context(), e.root, "secret", "agent/app/api")
	if err != nil || cur.Version != 1 {
		t.Fatalf("secret changed by bad input: %v, %v", cur, err)
	}
}

func TestWriteExpiresToRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.serve("GATEKEEPER_WRITE_TTL=3s")
	a.authenticate()
	a.escalate()
	acc := a.accessors()["write"][0]
	// The write-tier account's token TTL (15m) was cut down to the grant.
	info, err := e.vc.Write(t.Context(), e.root, "auth/token/lookup-accessor", map[string]any{"accessor": acc})
	if err != nil {
		t.Fatal(err)
	}
	if ttl, _ := info.Data["ttl"].(interface{ Int64() (int64, error) }); ttl != nil {
		if n, _ := ttl.Int64(); n > 3 {
			t.Errorf("write token TTL %ds, want at most the 3s grant", n)
		}
	}
	waitFor(t, 10*time.Second, func() bool { return a.tier() == "read" })
	if e.tokenAlive(acc) {
		t.Error("expired write token still valid in Vault")
	}
	a.fails("write_secret", map[string]any{"path": "app/api", "data": map[string]any{"key": "x"}}, "Call escalate")
	a.ok("read_secret", map[string]any{"path": "app/db"})
	expired := false
	for _, ev := range a.auditEvents() {
		expired = expired || (ev["event"] == "grant.expired" && ev["tier"] == "write" && ev["outcome"] == "ok")
	}
	if !expired {
		t.Error("no grant.expired event for the write grant")
	}
}

func TestReadRenewsThroughNewApproval(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.serve("GATEKEEPER_READ_TTL=3s")
	a.authenticate()
	first := a.accessors()["read"][0]
	waitFor(t, 10*time.Second, func() bool { return a.tier() == "none" })
	if e.tokenAlive(first) {
		t.Error("expired read token still valid")
	}
	// The next read starts one new approval and relays its page.
	link := linkIn(a.fails("read_secret", map[string]any{"path": "app/db"}, "approval page"))
	if state := human.Code(t, link, a.code()); state != "approved" {
		t.Fatalf("the renewal's page after the code: %s", state)
	}
	a.ok("read_secret", map[string]any{"path": "app/db"})
}

func waitFor(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", limit)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestStdioAsNamedAgent: GATEKEEPER_AGENT makes a stdio server act as one
// of the named agents, with that agent's folder and accounts.
func TestStdioAsNamedAgent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, err := runSetupAgent(t, e, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.vc.KVWrite(t.Context(), e.root, "secret", "agent/alice/db", map[string]any{"password": "alice-pw"}); err != nil {
		t.Fatal(err)
	}
	a := e.serve("GATEKEEPER_AGENT=alice")
	a.authenticate()
	if got := a.ok("read_secret", map[string]any{"path": "db"})["data"].(map[string]any)["password"]; got != "alice-pw" {
		t.Errorf("read db = %v, want alice's", got)
	}
	a.fails("read_secret", map[string]any{"path": "app/db"}, "Nothing at that path") // the stdio agent's, not alice's
	for _, ev := range a.auditEvents() {
		if ev["event"] == "grant.issued" && ev["principal"] != "alice" {
			t.Errorf("grant issued to %v", ev["principal"])
		}
	}
}

// TestStdioCannotReachNamedAgents: with the bootstrap token of a Vault set
// up for named agents, a stdio server acting as the single stdio agent gets
// no access at all, even with the human approving: there is no account
// whose folder holds every agent's, so it reads and lists no agent's
// secrets. Its start-up checks find the missing account and say so.
func TestStdioCannotReachNamedAgents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, name := range []string{"alice", "bob"} {
		if out, err := runSetupAgent(t, e, name); err != nil {
			t.Fatalf("setup --agent %s: %v\n%s", name, err, out)
		}
	}
	if _, err := e.vc.KVWrite(t.Context(), e.root, "secret", "agent/alice/db", map[string]any{"password": "alice-pw"}); err != nil {
		t.Fatal(err)
	}
	a := e.serve()
	r := a.call("authenticate", nil)
	if link := linkIn(r.text); link != "" {
		t.Logf("the approval page after the code: %s", human.Code(t, link, a.code()))
		r = a.call("authenticate", nil)
	}
	if !r.isError || !strings.Contains(r.text, `start-up check "login" failed`) || !strings.Contains(r.text, "GATEKEEPER_AGENT") {
		t.Errorf("authenticate as the stdio agent = %q %v, want no access and the login check's fix", r.text, r.out)
	}
	for _, c := range []struct {
		name string
		args map[string]any
	}{
		{"read_secret", map[string]any{"path": "alice/db"}},
		{"list_secrets", map[string]any{"path": "alice"}},
		{"list_secrets", map[string]any{"path": ""}},
	} {
		r := a.call(c.name, c.args)
		if !r.isError || strings.Contains(r.text, "alice-pw") {
			t.Errorf("%s(%v) = %q %v, want an error", c.name, c.args, r.text, r.out)
		}
	}
}
