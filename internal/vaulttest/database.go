package vaulttest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/devvault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/pgtest"
)

// DatabaseConnection is the name EnableDatabase gives the engine's
// connection to the PostgreSQL server (MOUNT/config/NAME).
const DatabaseConnection = "pgtest"

// Grants for a DatabaseRole, run by Vault right after it creates the
// login; {{name}} is the login's name.
const (
	GrantRead  = `GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";`
	GrantWrite = `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{{name}}";`
)

// DatabaseRole is a role of Vault's database engine: reading
// MOUNT/creds/NAME creates a PostgreSQL login that expires with its lease
// and has Grants.
type DatabaseRole struct {
	Name   string
	Grants []string
	// TTL and MaxTTL bound the credential's lease; default 1h and 24h.
	TTL, MaxTTL time.Duration
}

// EnableDatabase mounts Vault's database secrets engine at mount on srv,
// connects it to pg as pg's superuser (Vault checks the login at once) and
// creates roles, the only ones the connection allows.
//
// Each login Vault creates carries VALID UNTIL its lease's expiry, so
// PostgreSQL itself refuses it once the lease ends, even if Vault never
// gets to drop it. Revocation uses the plugin's default statements, which
// revoke the login's privileges and drop it.
func EnableDatabase(t testing.TB, srv *devvault.Server, pg *pgtest.Server, mount string, roles ...DatabaseRole) {
	t.Helper()
	c, root := Client(t, srv), Root(srv)
	ctx := t.Context()
	if _, err := c.Write(ctx, root, "sys/mounts/"+mount, map[string]any{"type": "database"}); err != nil {
		t.Fatalf("enabling the database engine at %s: %v", mount, err)
	}
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = r.Name
	}
	_, err := c.Write(ctx, root, mount+"/config/"+DatabaseConnection, map[string]any{
		"plugin_name": "postgresql-database-plugin",
		// Vault fills in the templates itself; a URL built with net/url
		// would escape their braces.
		"connection_url":    fmt.Sprintf("postgresql://{{username}}:{{password}}@%s/%s?sslmode=disable", pg.Addr, pgtest.Database),
		"username":          pg.User,
		"password":          pg.Password.Reveal(),
		"allowed_roles":     names,
		"verify_connection": true,
	})
	if err != nil {
		t.Fatalf("connecting the database engine to PostgreSQL: %v", err)
	}
	for _, r := range roles {
		AddDatabaseRole(t, srv, mount, r)
	}
}

// AddDatabaseRole creates or replaces role on the database engine at mount.
// The connection must allow it (EnableDatabase allows the roles it is
// given).
func AddDatabaseRole(t testing.TB, srv *devvault.Server, mount string, role DatabaseRole) {
	t.Helper()
	if role.TTL == 0 {
		role.TTL = time.Hour
	}
	if role.MaxTTL == 0 {
		role.MaxTTL = 24 * time.Hour
	}
	creation := append([]string{
		`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
	}, role.Grants...)
	_, err := Client(t, srv).Write(t.Context(), Root(srv), mount+"/roles/"+role.Name, map[string]any{
		"db_name":             DatabaseConnection,
		"creation_statements": creation,
		"default_ttl":         int64(role.TTL.Seconds()),
		"max_ttl":             int64(role.MaxTTL.Seconds()),
	})
	if err != nil {
		t.Fatalf("creating the database role %s: %v", role.Name, err)
	}
}
