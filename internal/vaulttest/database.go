package vaulttest

import (
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/devvault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/pgtest"
)

// Grants for a DatabaseRole (devvault.GrantRead, GrantWrite).
const (
	GrantRead  = devvault.GrantRead
	GrantWrite = devvault.GrantWrite
)

// DatabaseRole is a role of Vault's database engine (devvault.DatabaseRole).
type DatabaseRole = devvault.DatabaseRole

// EnableDatabase mounts Vault's database secrets engine at mount on srv,
// connected to pg, with roles (devvault.EnableDatabase).
func EnableDatabase(t testing.TB, srv *devvault.Server, pg *pgtest.Server, mount string, roles ...DatabaseRole) {
	t.Helper()
	if err := devvault.EnableDatabase(t.Context(), Client(t, srv), Root(srv), pg.Server, mount, roles...); err != nil {
		t.Fatal(err)
	}
}

// AddDatabaseRole creates or replaces role on the database engine at mount.
func AddDatabaseRole(t testing.TB, srv *devvault.Server, mount string, role DatabaseRole) {
	t.Helper()
	if err := devvault.AddDatabaseRole(t.Context(), Client(t, srv), Root(srv), mount, role); err != nil {
		t.Fatal(err)
	}
}
