package vaulttest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/pgtest"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// TestDatabaseCredentialDiesWithItsToken is issue 14's promise in small: a
// database login issued with a token stops existing when that token is
// revoked, because Vault revokes the token's leases with it.
func TestDatabaseCredentialDiesWithItsToken(t *testing.T) {
	t.Parallel()
	srv, pg := vaulttest.Start(t), pgtest.Start(t)
	pg.ExecSuper(t, "CREATE TABLE items (id int); INSERT INTO items VALUES (1), (2);")
	vaulttest.EnableDatabase(t, srv, pg, "database",
		vaulttest.DatabaseRole{Name: "ro", Grants: []string{vaulttest.GrantRead}, TTL: 10 * time.Minute})

	c, root := vaulttest.Client(t, srv), vaulttest.Root(srv)
	ctx := t.Context()
	if _, err := c.Write(ctx, root, "sys/policies/acl/db-ro", map[string]any{
		// Like a grant's tier policy: the credential, and revoking itself.
		"policy": `path "database/creds/ro" { capabilities = ["read"] }
path "auth/token/revoke-self" { capabilities = ["update"] }`,
	}); err != nil {
		t.Fatal(err)
	}
	tok, err := c.Write(ctx, root, "auth/token/create", map[string]any{"policies": []string{"db-ro"}, "no_default_policy": true, "ttl": "15m"})
	if err != nil {
		t.Fatal(err)
	}
	grant := sensitive.New(tok.Auth.ClientToken)

	cred, err := c.Read(ctx, grant, "database/creds/ro")
	if err != nil {
		t.Fatalf("reading a database credential with the grant's token: %v", err)
	}
	user, _ := cred.Data["username"].(string)
	password, _ := cred.Data["password"].(string)
	if user == "" || password == "" || cred.LeaseID == "" {
		t.Fatalf("credential has username %q, a password: %t, lease %q", user, password != "", cred.LeaseID)
	}
	if got := time.Duration(cred.LeaseDuration) * time.Second; got > 10*time.Minute {
		t.Errorf("lease of %s, longer than the role's 10m", got)
	}

	got, err := pg.Exec(t, user, password, "SELECT 1; SELECT count(*) FROM items;")
	if err != nil {
		t.Fatalf("logging in with the issued credential: %v", err)
	}
	if diff := cmp.Diff("1\n2", got); diff != "" {
		t.Errorf("queries mismatch (-want +got):\n%s", diff)
	}
	if _, err := pg.Exec(t, user, password, "INSERT INTO items VALUES (3)"); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("INSERT with a read-only credential: err = %v, want permission denied", err)
	}
	// PostgreSQL itself ends the login when the lease would: VALID UNTIL.
	if until := pg.ExecSuper(t, "SELECT rolvaliduntil IS NOT NULL FROM pg_roles WHERE rolname = '"+strings.ReplaceAll(user, "'", "''")+"'"); until != "t" {
		t.Errorf("the issued login has no VALID UNTIL (got %q)", until)
	}

	if err := c.RevokeSelf(ctx, grant); err != nil {
		t.Fatalf("revoking the grant's token: %v", err)
	}
	// RevokeSelf takes a token it cannot look up for a revoked one; root
	// can tell.
	if _, err := c.Write(ctx, root, "auth/token/lookup", map[string]any{"token": grant.Reveal()}); err == nil {
		t.Fatal("the grant's token is still alive after RevokeSelf")
	}
	if err := pg.WaitRoleGone(t, user, 30*time.Second); err != nil {
		t.Fatalf("after the token's revocation: %v", err)
	}
	if _, err := pg.Exec(t, user, password, "SELECT 1"); err == nil {
		t.Error("the credential still logs in after its token was revoked")
	}
}

// TestDatabaseRoleNotAllowed: the connection allows only the roles
// EnableDatabase was given, so a role added later issues nothing.
func TestDatabaseRoleNotAllowed(t *testing.T) {
	t.Parallel()
	srv, pg := vaulttest.Start(t), pgtest.Start(t)
	vaulttest.EnableDatabase(t, srv, pg, "db", vaulttest.DatabaseRole{Name: "ro", Grants: []string{vaulttest.GrantRead}})
	vaulttest.AddDatabaseRole(t, srv, "db", vaulttest.DatabaseRole{Name: "rw", Grants: []string{vaulttest.GrantWrite}})

	c, root := vaulttest.Client(t, srv), vaulttest.Root(srv)
	if _, err := c.Read(t.Context(), root, "db/creds/rw"); err == nil || !strings.Contains(err.Error(), "not an allowed role") {
		t.Errorf("a role the connection does not allow: err = %v, want not an allowed role", err)
	}
	if _, err := c.Read(t.Context(), root, "db/creds/ro"); err != nil {
		t.Errorf("an allowed role: %v", err)
	}
}
