package main_test

import (
	"encoding/json"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// namespaceProxy stands between Gatekeeper and the dev Vault and records
// the X-Vault-Namespace header of every request as it arrives on the wire,
// then drops it: the OSS dev server has no namespaces.
type namespaceProxy struct {
	url  string
	mu   sync.Mutex
	seen map[string]int // header value → requests
}

func newNamespaceProxy(t *testing.T, vaultAddr string) *namespaceProxy {
	t.Helper()
	target, err := url.Parse(vaultAddr)
	if err != nil {
		t.Fatal(err)
	}
	p := &namespaceProxy{seen: map[string]int{}}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		p.mu.Lock()
		p.seen[r.In.Header.Get("X-Vault-Namespace")]++
		p.mu.Unlock()
		r.Out.Header.Del("X-Vault-Namespace")
		r.SetURL(target)
	}}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

func (p *namespaceProxy) counts() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for k, v := range p.seen {
		out[k] = v
	}
	return out
}

// setupAppRole runs setup --approle --json as root and returns its output.
func setupAppRole(t *testing.T, e *env) map[string]any {
	t.Helper()
	out, errOut, code := run(t, []string{"VAULT_ADDR=" + e.srv.Addr, "VAULT_TOKEN=" + e.root.Reveal()}, "setup", "--approle", "--json")
	if code != 0 {
		t.Fatalf("setup --approle exit %d: %s", code, errOut)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("setup --approle --json printed %q: %v", out, err)
	}
	ar, _ := res["approle"].(map[string]any)
	if ar == nil || ar["role_id"] == "" {
		t.Fatalf("setup --approle --json has no approle.role_id: %s", out)
	}
	return ar
}

// TestSetupAppRole: setup --approle writes a role that gives tokens with
// the bootstrap policy alone, periodic, and says how to get a secret id;
// a second run changes nothing and gives the same role id.
func TestSetupAppRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := setupAppRole(t, e)
	if first["role"] != "gatekeeper" || first["mount"] != "approle" || first["policy"] != "gatekeeper-bootstrap" {
		t.Errorf("setup --approle = %v", first)
	}
	role, err := e.vc.Read(t.Context(), e.root, "auth/approle/role/gatekeeper")
	if err != nil {
		t.Fatal(err)
	}
	if got := role.Data["token_policies"]; len(got.([]any)) != 1 || got.([]any)[0] != "gatekeeper-bootstrap" ||
		role.Data["token_no_default_policy"] != true || role.Data["token_period"].(json.Number).String() != "2764800" {
		t.Errorf("the role is %v", role.Data)
	}
	out, errOut, code := run(t, []string{"VAULT_ADDR=" + e.srv.Addr, "VAULT_TOKEN=" + e.root.Reveal()}, "setup", "--approle")
	if code != 0 {
		t.Fatalf("setup --approle exit %d: %s", code, errOut)
	}
	for _, want := range []string{"VAULT_ROLE_ID=" + first["role_id"].(string), "auth/approle/role/gatekeeper/secret-id", "changed:         nothing"} {
		if !strings.Contains(out, want) {
			t.Errorf("the second setup --approle lacks %q:\n%s", want, out)
		}
	}
}

// TestAppRole: serve starts with only a role id and a secret id against a
// real Vault, every request carrying the namespace; its token, short-lived
// on purpose, runs out and Gatekeeper logs in again and keeps granting
// access; at stop it revokes the token it holds.
func TestAppRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	roleID := setupAppRole(t, e)["role_id"].(string)
	// Tokens that live 4 seconds at most: the test sees them run out.
	if _, err := e.vc.Write(t.Context(), e.root, "auth/approle/role/gatekeeper", map[string]any{
		"token_period": 0, "token_ttl": "2s", "token_max_ttl": "4s",
	}); err != nil {
		t.Fatal(err)
	}
	s, err := e.vc.Write(t.Context(), e.root, "auth/approle/role/gatekeeper/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	secretID := s.Data["secret_id"].(string)
	secretFile := filepath.Join(t.TempDir(), "secret-id")
	if err := os.WriteFile(secretFile, []byte(secretID+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	proxy := newNamespaceProxy(t, e.srv.Addr)
	cfgFile := filepath.Join(t.TempDir(), "gatekeeper.yaml")
	if err := os.WriteFile(cfgFile, []byte("reveal: {default: true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	a := e.serve("VAULT_TOKEN=", "VAULT_ADDR="+proxy.url, "VAULT_NAMESPACE=team-a/gatekeeper",
		"VAULT_ROLE_ID="+roleID, "VAULT_SECRET_ID_FILE="+secretFile, "GATEKEEPER_CONFIG="+cfgFile)
	logins := regexp.MustCompile(`msg="logged in to Vault(?: again)?" method=approle accessor=(\S+) policies=\[gatekeeper-bootstrap\]`)
	accessors := func() []string {
		var out []string
		for _, m := range logins.FindAllStringSubmatch(a.stderr.String(), -1) {
			out = append(out, m[1])
		}
		return out
	}
	first := accessors()
	if len(first) != 1 || !e.tokenAlive(first[0]) {
		t.Fatalf("serve started with logins %v, want one live token", first)
	}
	a.authenticate()
	if got := a.ok("read_secret", map[string]any{"path": "app/db"}); got["data"].(map[string]any)["password"] != "pw-db-5f2c9e" {
		t.Fatalf("read_secret = %v", got)
	}

	// The first token reaches its maximum life; Gatekeeper logs in again
	// before it ends.
	deadline := time.Now().Add(20 * time.Second)
	for len(accessors()) < 2 || e.tokenAlive(first[0]) {
		if time.Now().After(deadline) {
			t.Fatalf("after 20s: logins %v, first token alive %v", accessors(), e.tokenAlive(first[0]))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The next approval goes through the new token: the read-tier login
	// is reached with Gatekeeper's own identity.
	a.ok("logout", nil)
	a.authenticate()
	if got := a.ok("read_secret", map[string]any{"path": "app/db"}); got["data"].(map[string]any)["password"] != "pw-db-5f2c9e" {
		t.Fatalf("read_secret after the new login = %v", got)
	}

	// A reload keeps the identity it logged in with: a secret id rotated
	// in its file since is not a setting that needs a restart.
	if err := os.WriteFile(secretFile, []byte("rotated-"+secretID+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	next := "reveal: {default: true}\nlimits: {rate: {per_minute: 600, burst: 50}}\n"
	if ev := reload(t, a.cmd.Process, cfgFile, a.audit, next); ev["event"] != "config.reloaded" {
		t.Fatalf("a reload under AppRole = %v", ev)
	}
	a.ok("token_status", nil)

	a.stop()
	all := accessors()
	last := all[len(all)-1]
	if e.tokenAlive(last) {
		t.Errorf("Gatekeeper's own token %s outlived it (logins %v)", last, all)
	}
	if !strings.Contains(a.stderr.String(), `msg="revoked Gatekeeper's own Vault token" method=approle accessor=`+last) {
		t.Errorf("no revocation of %s in the log", last)
	}
	if strings.Contains(a.stderr.String(), secretID) {
		t.Error("the secret id reached the log")
	}
	seen := proxy.counts()
	if seen["team-a/gatekeeper"] < 10 || len(seen) != 1 {
		t.Errorf("X-Vault-Namespace on the wire: %v, want team-a/gatekeeper on every request", seen)
	}
}
