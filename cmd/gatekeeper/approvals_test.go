package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/duo/duotest"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/passkey"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// brokeredEnv is a Vault set up for the brokered strategy; the stdio
// server uses the broker token.
func brokeredEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, srv: vaulttest.Start(t)}
	e.vc, e.root = vaulttest.Client(t, e.srv), vaulttest.Root(e.srv)
	res, err := setup.Apply(t.Context(), e.vc, e.root, setup.Options{Layout: vaulttest.DefaultLayout, Brokered: true})
	if err != nil {
		t.Fatal(err)
	}
	e.res = res
	for p, data := range samples {
		if _, err := e.vc.KVWrite(t.Context(), e.root, "secret", "agent/"+p, data); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// serveWithConfig starts gatekeeper serve (stdio) with a config file and
// the broker token.
func (e *env) serveBrokered(config string, extraEnv ...string) *agent {
	path := filepath.Join(e.t.TempDir(), "gatekeeper.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return e.serve(append([]string{"GATEKEEPER_CONFIG=" + path, "VAULT_TOKEN=" + e.res.BrokerToken.Reveal()}, extraEnv...)...)
}

func duoConfig(t *testing.T, d *duotest.Server) string {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "duo-ca.pem")
	if err := os.WriteFile(ca, d.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return `
approval:
  strategy: brokered
  approver: duo
  duo: {host: "` + d.Host + `", integration_key: ` + d.IKey + `, username: ada, ca_file: ` + ca + `}
`
}

// TestDuoPushBrokered: Gatekeeper pushes the request to the human's phone
// (a local Duo API that checks every signature), mints the token only on a
// yes, and never bothers the human twice for one need.
func TestDuoPushBrokered(t *testing.T) {
	t.Parallel()
	e := brokeredEnv(t)
	d := duotest.Start(t)
	d.SetUser("ada", duotest.User{Script: duotest.Script{Answer: duotest.Allow, AfterPolls: 1}})
	// Tool calls are not limited here, so that every one of the calls below
	// reaches the approval logic (with the default limit most would be
	// refused earlier, which bothers the human no more).
	a := e.serveBrokered(duoConfig(t, d)+"limits: {rate: {per_minute: 100000, burst: 1000}}\n", "GATEKEEPER_DUO_SECRET_KEY="+d.SKey)

	// 50 reads at once with no grant: one push, and every read succeeds.
	var wg sync.WaitGroup
	results := make([]result, 50)
	for i := range results {
		wg.Go(func() { results[i] = a.call("read_secret", map[string]any{"path": "app/db"}) })
	}
	wg.Wait()
	for i, r := range results {
		if r.isError {
			t.Fatalf("read %d: %s", i, r.text)
		}
	}
	if n := d.PushCount(); n != 1 {
		t.Fatalf("pushes for 50 concurrent reads = %d, want 1", n)
	}
	shown := map[string]string{}
	for _, p := range d.Pushes()[0].PushInfo {
		shown[p.Key] = p.Value
	}
	for key, want := range map[string]string{"Agent": "stdio", "Access": "read", "Asked by": "read_secret app/db"} {
		if shown[key] != want {
			t.Errorf("the push showed %s = %q, want %q (all: %v)", key, shown[key], want, shown)
		}
	}

	// 200 escalations at once: one push, every call gets the one grant.
	d.SetUser("ada", duotest.User{Script: duotest.Script{Answer: duotest.Allow, AfterPolls: 2}})
	results = make([]result, 200)
	for i := range results {
		wg.Go(func() {
			results[i] = a.call("escalate", map[string]any{"reason": "rotate the API key", "paths": []string{"app/api"}})
		})
	}
	wg.Wait()
	for i, r := range results {
		if r.isError {
			t.Fatalf("escalate %d: %s", i, r.text)
		}
	}
	if n := d.PushCount(); n != 2 {
		t.Fatalf("pushes after 200 escalations = %d, want 2 (one read, one write)", n)
	}
	if shown := pushInfo(d.Pushes()[1]); shown["Paths"] != "app/api in secret/agent/" || shown["Reason"] != "rotate the API key" {
		t.Errorf("the write push showed %v", shown)
	}
	a.ok("write_secret", map[string]any{"path": "app/api", "data": map[string]any{"key": "new"}})
	a.fails("write_secret", map[string]any{"path": "app/db", "data": map[string]any{"k": "v"}}, "covers other paths")

	// The minted write token is exactly the grant: its tier policy, its
	// approval in Vault's own metadata; release revokes it.
	var write map[string]any
	for _, ev := range a.auditEvents() {
		if ev["event"] == "grant.issued" && ev["tier"] == "write" {
			write = ev
		}
	}
	info, err := e.vc.Write(t.Context(), e.root, "auth/token/lookup-accessor", map[string]any{"accessor": write["accessor"]})
	if err != nil {
		t.Fatal(err)
	}
	if pols := info.Data["policies"].([]any); len(pols) != 1 || pols[0] != "gatekeeper-write" {
		t.Errorf("write token policies = %v", pols)
	}
	if meta := info.Data["meta"].(map[string]any); meta["approval_id"] != write["approval_id"] {
		t.Errorf("write token meta = %v, want approval %v", meta, write["approval_id"])
	}
	a.ok("release", nil)
	if e.tokenAlive(write["accessor"].(string)) {
		t.Error("release left the minted write token valid")
	}

	// A denial: no access, and the next 200 attempts never reach the human.
	d.SetUser("ada", duotest.User{Script: duotest.Script{Answer: duotest.Deny}})
	a.fails("escalate", map[string]any{"reason": "one more write"}, "denied")
	before := d.PushCount()
	for range 200 {
		a.fails("escalate", map[string]any{"reason": "please"}, "will not ask them again")
	}
	if n := d.PushCount(); n != before {
		t.Errorf("pushes during the cool-down = %d", n-before)
	}
	if tier := a.tier(); tier != "read" {
		t.Errorf("tier after the denial = %s", tier)
	}
}

func TestDuoNobodyAnswers(t *testing.T) {
	t.Parallel()
	e := brokeredEnv(t)
	d := duotest.Start(t)
	d.SetUser("ada", duotest.User{Script: duotest.Script{Answer: duotest.Wait}})
	a := e.serveBrokered(duoConfig(t, d), "GATEKEEPER_DUO_SECRET_KEY="+d.SKey, "GATEKEEPER_APPROVAL_TIMEOUT=3s")
	a.fails("authenticate", nil, "Nobody approved in time")
	if tier := a.tier(); tier != "none" {
		t.Errorf("tier = %s", tier)
	}
}

func TestDuoWrongSecretGrantsNothing(t *testing.T) {
	t.Parallel()
	e := brokeredEnv(t)
	d := duotest.Start(t)
	d.SetUser("ada", duotest.User{Script: duotest.Script{Answer: duotest.Allow}})
	a := e.serveBrokered(duoConfig(t, d), "GATEKEEPER_DUO_SECRET_KEY=not-the-secret-key-0000000000000000000000")
	// Duo refuses the start-up check's signed call: every tool call says so.
	if r := a.call("authenticate", nil); !r.isError || !strings.Contains(r.text, `start-up check "approver" failed`) || !strings.Contains(r.text, "approval.duo") {
		t.Errorf("authenticate = %q, want the approver check and its fix", r.text)
	}
	if n := d.PushCount(); n != 0 {
		t.Errorf("%d pushes, want none", n)
	}
}

// TestPasskeyLinkReachesTheHuman: with the passkey approver, the approval
// link goes to the webhook and the page shows the request. (Answering with
// a passkey in a real browser is tested in the passkey package.)
func TestPasskeyLinkReachesTheHuman(t *testing.T) {
	t.Parallel()
	e := brokeredEnv(t)
	hooks := make(chan map[string]any, 4)
	receiver := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		hooks <- body
	}))
	t.Cleanup(receiver.Close)
	creds := filepath.Join(t.TempDir(), "passkeys.json")
	// A passkey registered, as serve's start-up checks require; this test
	// never answers with it.
	store, err := passkey.NewFileStore(creds)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Add(t.Context(), passkey.Credential{ID: []byte("key-1"), PublicKey: []byte("never used"), Name: "test"}); err != nil {
		t.Fatal(err)
	}
	a := e.serveBrokered(`
approval:
  strategy: brokered
  approver: passkey
  passkey: {listen: "127.0.0.1:0", credentials_file: `+creds+`}
  notify: {webhook_url: "`+receiver.URL+`", kind: generic}
`, "GATEKEEPER_PASSKEY_ENROLL_TOKEN=enroll-token-for-tests-0000", "GATEKEEPER_APPROVAL_TIMEOUT=5s")

	// The call relays the page (this client cannot be shown links); the
	// webhook gets the same one.
	relayed := linkIn(a.fails("authenticate", nil, "approval page"))
	hook := <-hooks
	link, _ := hook["link"].(string)
	if link != relayed || linkIn(link) != link || strings.Contains(link, hook["request_id"].(string)) {
		t.Fatalf("webhook body = %v, relayed link %q", hook, relayed)
	}
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"stdio", "read", "session access", "authenticate"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("approval page lacks %q", want)
		}
	}
	// Calling again waits for the answer, which never comes.
	a.fails("authenticate", nil, "Nobody approved in time")
}

func pushInfo(p duotest.Push) map[string]string {
	out := map[string]string{}
	for _, kv := range p.PushInfo {
		out[kv.Key] = kv.Value
	}
	return out
}
