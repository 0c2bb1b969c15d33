package main_test

import (
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/pgtest"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// databaseEnv is a Vault whose database engine manages a real PostgreSQL,
// with a read-only role and a read-write role for agent (""= the stdio
// agent), set up so that its read tier may issue from the first and its
// write tier from the second; and the config file naming them app-db and
// app-db-admin.
func databaseEnv(t *testing.T, agent string) (*env, *pgtest.Server, string) {
	t.Helper()
	pg := pgtest.Start(t)
	e := &env{t: t, srv: vaulttest.Start(t)}
	e.vc, e.root = vaulttest.Client(t, e.srv), vaulttest.Root(e.srv)
	vaulttest.EnableDatabase(t, e.srv, pg, "database",
		vaulttest.DatabaseRole{Name: "app-ro", Grants: []string{vaulttest.GrantRead}},
		vaulttest.DatabaseRole{Name: "app-rw", Grants: []string{vaulttest.GrantWrite}})
	l := vaulttest.DefaultLayout
	l.Roles = map[setup.Agent][]setup.Role{setup.Agent(agent): {
		{Engine: setup.EngineDatabase, Mount: "database", Name: "app-ro", Tier: access.Read},
		{Engine: setup.EngineDatabase, Mount: "database", Name: "app-rw", Tier: access.Write},
	}}
	opts := setup.Options{Layout: l}
	if agent != "" {
		opts.Agents = []setup.AgentSetup{{Name: setup.Agent(agent)}}
	}
	res, err := setup.Apply(t.Context(), e.vc, e.root, opts)
	if err != nil {
		t.Fatal(err)
	}
	e.res, e.auth = res, vaulttest.NewAuthenticator(t, res.TOTPURL)
	cfg := filepath.Join(t.TempDir(), "gatekeeper.yaml")
	body := "credentials:\n" +
		"  - {name: app-db, engine: database, role: app-ro}\n" +
		"  - {name: app-db-admin, engine: database, role: app-rw, tier: write}\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return e, pg, cfg
}

// login is a database login issue_credential returned.
type login struct{ user, password string }

func loginOf(t *testing.T, out map[string]any) login {
	t.Helper()
	data, _ := out["data"].(map[string]any)
	l := login{user: str(data["username"]), password: str(data["password"])}
	if l.user == "" || l.password == "" || out["lease_id"] == "" {
		t.Fatalf("issue_credential returned no leased login: %v", out)
	}
	return l
}

func str(v any) string { s, _ := v.(string); return s }

// works runs SELECT 1 as l.
func works(t *testing.T, pg *pgtest.Server, l login) bool {
	t.Helper()
	out, err := pg.Exec(t, l.user, l.password, "SELECT 1")
	return err == nil && strings.TrimSpace(out) == "1"
}

// gone waits for Vault to drop l's role, and checks it cannot log in.
func gone(t *testing.T, pg *pgtest.Server, l login, after string) {
	t.Helper()
	if err := pg.WaitRoleGone(t, l.user, 30*time.Second); err != nil {
		t.Fatalf("after %s: %v", after, err)
	}
	if works(t, pg, l) {
		t.Fatalf("after %s the login still works", after)
	}
}

// TestDatabaseLoginDiesWithTheGrant: over stdio, a login issued under
// read runs SELECT 1; the read-write role is refused under read; a
// read-write login issued under write dies at release while the read-only
// one lives on, until logout.
func TestDatabaseLoginDiesWithTheGrant(t *testing.T) {
	t.Parallel()
	e, pg, cfg := databaseEnv(t, "")
	a := e.serve("GATEKEEPER_CONFIG=" + cfg)
	ro := loginOf(t, a.approved("issue_credential", map[string]any{"name": "app-db"}))
	if !works(t, pg, ro) {
		t.Fatal("the read-only login does not run SELECT 1")
	}
	if _, err := pg.Exec(t, ro.user, ro.password, "CREATE TABLE nope (x int)"); err == nil {
		t.Error("the read-only login created a table")
	}
	a.fails("issue_credential", map[string]any{"name": "app-db-admin"}, "needs write access")

	a.escalate()
	rw := loginOf(t, a.ok("issue_credential", map[string]any{"name": "app-db-admin"}))
	if !works(t, pg, rw) {
		t.Fatal("the read-write login does not work")
	}
	a.ok("release", nil)
	gone(t, pg, rw, "release")
	if !works(t, pg, ro) {
		t.Fatal("release ended the read-only login, issued with the read grant")
	}
	a.ok("logout", nil)
	gone(t, pg, ro, "logout")
	assertNoSecretsLogged(t, e, a)
	if strings.Contains(a.stderr.String(), ro.password) || strings.Contains(a.stderr.String(), rw.password) {
		t.Error("a database password is in Gatekeeper's log")
	}
}

// TestDatabaseLoginDiesWithExpiry: the login ends when the grant expires,
// with Gatekeeper alive (it revokes the token) and after Gatekeeper was
// killed (Vault ends the token, and its leases, at the grant's end).
func TestDatabaseLoginDiesWithExpiry(t *testing.T) {
	for _, kill := range []bool{false, true} {
		name := map[bool]string{false: "ok/expiry", true: "ok/sigkill-then-expiry"}[kill]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e, pg, cfg := databaseEnv(t, "")
			// A read grant just long enough for a credential (at least a
			// minute must be left).
			a := e.serve("GATEKEEPER_CONFIG="+cfg, "GATEKEEPER_READ_TTL=65s")
			out := a.approved("issue_credential", map[string]any{"name": "app-db"})
			l := loginOf(t, out)
			end, err := time.Parse(time.RFC3339, str(out["expires_at"]))
			if err != nil || time.Until(end) > 65*time.Second {
				t.Fatalf("the login ends %v, after its 65s grant", out["expires_at"])
			}
			if !works(t, pg, l) {
				t.Fatal("the login does not work")
			}
			if kill {
				if err := a.cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				a.closed = true
			}
			time.Sleep(time.Until(end))
			if err := pg.WaitRoleGone(t, l.user, 60*time.Second); err != nil {
				t.Fatalf("after the grant's end: %v", err)
			}
			if works(t, pg, l) {
				t.Fatal("the login works after the grant's end")
			}
		})
	}
}

// TestDatabaseLoginAndTheOperator: over HTTP, an operator's revocation on
// the status page ends the login with the grant; the status page lists
// it under the grant; its password appears in no log, audit record,
// metric or status page.
func TestDatabaseLoginAndTheOperator(t *testing.T) {
	t.Parallel()
	e, pg, cfg := databaseEnv(t, "dbagent")
	creds, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := e.serveHTTP(string(creds)+`
auth:
  api_keys:
    - {id: db-key, agent: dbagent, sha256: `+sha(confKey)+`, scopes: [read, list, write]}
agents:
  - {name: dbagent}
`, nil, "GATEKEEPER_OPERATOR_TOKEN="+operatorToken, "GATEKEEPER_STATUS_ADDR=127.0.0.1:0")
	a := &agent{t: t, e: e, name: "dbagent", session: h.connect(t, h.client(nil, map[string]string{"X-API-Key": confKey}), ""),
		stderr: h.stderr, audit: h.audit, closed: true}
	l := loginOf(t, a.approved("issue_credential", map[string]any{"name": "app-db"}))
	if !works(t, pg, l) {
		t.Fatal("the login does not work")
	}
	o := signIn(t, h)
	page := o.get(t, "/")
	if !strings.Contains(page, `data-credential="app-db"`) {
		t.Fatalf("the status page does not list the credential:\n%s", page)
	}
	resp, err := h.client(nil, nil).Get(h.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	o.post(t, "/revoke-agent", url.Values{"principal": {"dbagent"}})
	gone(t, pg, l, "an operator's revocation")
	auditFile, err := os.ReadFile(h.audit)
	if err != nil {
		t.Fatal(err)
	}
	for where, text := range map[string]string{"log": h.stderr.String(), "audit file": string(auditFile), "metrics": string(metrics), "status page": page} {
		if strings.Contains(text, l.password) {
			t.Errorf("the %s holds the database password", where)
		}
	}
	if !strings.Contains(string(auditFile), `"event":"credential.revoked"`) || !strings.Contains(string(auditFile), "revoked by an operator") {
		t.Error("the audit trail does not say the credential ended with the operator's revocation")
	}
}
