package main_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// reload rewrites the config file at path, sends the server a hangup and
// waits for the audit event that says what became of it (config.reloaded
// or config.reload_refused), which it returns.
func reload(t *testing.T, cmd interface{ Signal(os.Signal) error }, path, auditFile, config string) map[string]any {
	t.Helper()
	a := &agent{t: t, audit: auditFile}
	seen := len(reloadEvents(a))
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool { return len(reloadEvents(a)) > seen })
	return reloadEvents(a)[seen]
}

func reloadEvents(a *agent) []map[string]any {
	var out []map[string]any
	for _, ev := range a.auditEvents() {
		if ev["event"] == "config.reloaded" || ev["event"] == "config.reload_refused" {
			out = append(out, ev)
		}
	}
	return out
}

func digest(config string) string {
	sum := sha256.Sum256([]byte(config))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// TestReload changes a running HTTP server's agents with a hangup: an
// added agent can call at once, a removed one is refused and its grants'
// tokens are dead in Vault, a narrowed scope is enforced on an open
// session, and a file that is invalid, or that changes what only a restart
// can, changes nothing.
func TestReload(t *testing.T) {
	t.Parallel()
	e := &env{t: t, srv: vaulttest.Start(t)}
	e.vc, e.root = vaulttest.Client(t, e.srv), vaulttest.Root(e.srv)
	res, err := setup.Apply(t.Context(), e.vc, e.root, setup.Options{Layout: vaulttest.DefaultLayout, Agents: []setup.AgentSetup{
		{Name: "alice"}, {Name: "carol"}, {Name: "dave"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	e.res, e.auth = res, vaulttest.NewAuthenticator(t, res.TOTPURL)
	e.authFor = map[string]*vaulttest.Authenticator{}
	for _, a := range []string{"alice", "carol", "dave"} {
		e.authFor[a] = ownTOTP(t, e, res.EntityID, a)
		if _, err := e.vc.KVWrite(t.Context(), e.root, "secret", "agent/"+a+"/db", map[string]any{"password": "pw-of-" + a}); err != nil {
			t.Fatal(err)
		}
	}
	p := newPKI(t)
	config := func(keys []string, agents ...string) string {
		s := "http:\n  tls_cert_file: " + p.certFile + "\n  tls_key_file: " + p.keyFile + "\n  client_ca_file: " + p.caFile +
			"\nauth:\n  api_keys:\n"
		for _, k := range keys {
			s += "    - {id: " + k + "-key, agent: " + k + ", sha256: " + sha(map[string]string{"alice": aliceKey, "dave": daveKey}[k]) + ", scopes: [read, list, write]}\n"
		}
		s += "agents:\n"
		for _, a := range agents {
			s += "  - " + a + "\n"
		}
		return s
	}
	h := e.serveHTTP(config([]string{"alice"}, "{name: alice}", "{name: carol, scopes: [read, list]}"), p)

	keyed := func(key string) *http.Client { return h.client(nil, map[string]string{"X-API-Key": key}) }
	status := func(key string) int {
		t.Helper()
		resp, err := keyed(key).Post(h.url+"/mcp", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// rest is the REST API's answer to GET path: the same live settings
	// decide there.
	rest := func(c *http.Client, path string) int {
		t.Helper()
		resp, err := c.Get(h.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(daveKey); got != http.StatusUnauthorized {
		t.Fatalf("dave before he is configured: %d", got)
	}
	if got := rest(keyed(daveKey), "/v1/whoami"); got != http.StatusUnauthorized {
		t.Fatalf("dave before he is configured, over REST: %d", got)
	}
	alice := &agent{t: t, e: e, name: "alice", session: h.connect(t, keyed(aliceKey), ""), stderr: h.stderr, audit: h.audit, closed: true}
	alice.authenticate()
	alice.escalate()
	aliceTokens := alice.liveAccessors(2)
	cert := p.clientCert("carol")
	carol := &agent{t: t, e: e, name: "carol", session: h.connect(t, h.client(&cert, nil), "2025-11-25"), stderr: h.stderr, audit: h.audit, closed: true}
	carol.authenticate()
	carol.ok("read_secret", map[string]any{"path": "db"})

	// alice removed, dave added, carol narrowed to list.
	next := config([]string{"dave"}, "{name: carol, scopes: [list]}", "{name: dave}")
	ev := reload(t, h.cmd.Process, h.config, h.audit, next)
	if ev["event"] != "config.reloaded" || ev["outcome"] != "ok" || ev["digest"] != digest(next) ||
		ev["detail"] != "config file; agents added: dave; agents removed: alice" {
		t.Fatalf("the reload = %v\n%s", ev, h.stderr)
	}
	// The reload is audited before it takes effect; the revocation follows.
	waitFor(t, 30*time.Second, func() bool {
		n := 0
		for _, ev := range alice.auditEvents() {
			if ev["event"] == "grant.revoked" && ev["principal"] == "alice" && ev["detail"] == "revoked by an operator" {
				n++
			}
		}
		return n == len(aliceTokens)
	})
	for _, acc := range aliceTokens {
		if e.tokenAlive(acc) {
			t.Errorf("the removed agent's token %s still works in Vault", acc)
		}
	}
	if got := status(aliceKey); got != http.StatusUnauthorized {
		t.Errorf("the removed agent's key: %d", got)
	}
	if _, err := alice.session.CallTool(t.Context(), &mcp.CallToolParams{Name: "token_status", Arguments: map[string]any{}}); err == nil {
		t.Error("the removed agent's connection still calls tools")
	}
	carol.fails("read_secret", map[string]any{"path": "db"}, `needs the "read" scope`)
	carol.ok("list_secrets", map[string]any{"path": ""})
	if got := rest(keyed(aliceKey), "/v1/whoami"); got != http.StatusUnauthorized {
		t.Errorf("the removed agent's key over REST: %d", got)
	}
	if got := rest(h.client(&cert, nil), "/v1/secrets/db"); got != http.StatusForbidden {
		t.Errorf("carol's read over REST after her scope was narrowed: %d", got)
	}
	dave := &agent{t: t, e: e, name: "dave", session: h.connect(t, keyed(daveKey), ""), stderr: h.stderr, audit: h.audit, closed: true}
	dave.authenticate()
	if got := dave.ok("read_secret", map[string]any{"path": "db"})["data"]; got.(map[string]any)["password"] != "pw-of-dave" {
		t.Errorf("the added agent read %v", got)
	}
	if got := rest(keyed(daveKey), "/v1/secrets/db"); got != http.StatusOK {
		t.Errorf("the added agent's read over REST: %d", got)
	}

	// Refused whole: the running configuration stays.
	for _, tc := range []struct{ file, detail string }{
		{next + "  - {name: Eve}\n", "not an agent name"},
		{next + "approval_timeout: 1m\n", "these settings change only with a restart: approval_timeout"},
	} {
		ev := reload(t, h.cmd.Process, h.config, h.audit, tc.file)
		if ev["event"] != "config.reload_refused" || ev["outcome"] != "refused" || !strings.Contains(ev["detail"].(string), tc.detail) {
			t.Errorf("reloading an invalid file = %v, want a refusal with %q", ev, tc.detail)
		}
		if tier := dave.tier(); tier != "read" {
			t.Errorf("dave after a refused reload: %s", tier)
		}
		if got := status(aliceKey); got != http.StatusUnauthorized {
			t.Errorf("alice after a refused reload: %d", got)
		}
		carol.fails("read_secret", map[string]any{"path": "db"}, `needs the "read" scope`)
	}
}

// TestReloadStdio reloads a stdio server's reveal rules with a hangup: the
// agent keeps its grant, and the next read withholds what the new rule
// withholds.
func TestReloadStdio(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := t.TempDir() + "/gatekeeper.yaml"
	if err := os.WriteFile(cfg, []byte("reveal: {default: true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := e.serve("GATEKEEPER_CONFIG=" + cfg)
	a.authenticate()
	if out := a.ok("read_secret", map[string]any{"path": "app/db"}); out["data"] == nil {
		t.Fatalf("read before the reload = %v", out)
	}
	next := "reveal:\n  default: true\n  rules: [{pattern: \"app/**\", reveal: false}]\n"
	if ev := reload(t, a.cmd.Process, cfg, a.audit, next); ev["event"] != "config.reloaded" || ev["digest"] != digest(next) {
		t.Fatalf("the reload = %v\n%s", ev, a.stderr)
	}
	out := a.ok("read_secret", map[string]any{"path": "app/db"})
	if out["data"] != nil || out["revealed"] == true {
		t.Errorf("read after the reload revealed %v", out)
	}
	if tier := a.tier(); tier != "read" {
		t.Errorf("the grant after the reload: %s", tier)
	}
}

// TestReloadFromStatusPage presses the status page's Reload button: an
// operator signed in, with the page's CSRF token and origin, reloads; an
// invalid file is refused on the page and in the audit trail.
func TestReloadFromStatusPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := func(agents string) string {
		return "auth:\n  api_keys:\n    - {id: alice-key, agent: alice, sha256: " + sha(aliceKey) + ", scopes: [read]}\nagents: [" + agents + "]\n"
	}
	h := e.serveHTTP(cfg("{name: alice}"), nil, "GATEKEEPER_OPERATOR_TOKEN="+operatorToken)
	page := h.statusPageURL(t)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(path string, form url.Values) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, page+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", page)
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post("/login", url.Values{"token": {operatorToken}}); code != http.StatusSeeOther {
		t.Fatalf("sign-in: %d %s", code, body)
	}
	resp, err := browser.Get(page + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`action="/reload"><input type="hidden" name="csrf" value="([^"]+)"`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("the status page has no Reload button:\n%s", b)
	}
	events := func(name string) int {
		n := 0
		for _, ev := range h.auditEvents(t) {
			if ev["event"] == name {
				n++
			}
		}
		return n
	}

	next := cfg("{name: alice}, {name: bob}")
	if err := os.WriteFile(h.config, []byte(next), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := post("/reload", url.Values{"csrf": {m[1]}}); code != http.StatusSeeOther {
		t.Fatalf("reload: %d %s", code, body)
	}
	if n := events("config.reloaded"); n != 1 {
		t.Errorf("config.reloaded recorded %d times", n)
	}
	if err := os.WriteFile(h.config, []byte(next+"http: {stateless: true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := post("/reload", url.Values{"csrf": {m[1]}}); code != http.StatusConflict || !strings.Contains(body, "http.stateless") {
		t.Errorf("reloading a file that needs a restart: %d %s", code, body)
	}
	if n := events("config.reload_refused"); n != 1 {
		t.Errorf("config.reload_refused recorded %d times", n)
	}
}
