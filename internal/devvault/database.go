package devvault

import (
	"context"
	"fmt"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/devpg"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// Admin reads, writes and mounts on Vault; *vault.Client is one.
type Admin interface {
	Read(ctx context.Context, tok sensitive.String, path string) (*vault.Secret, error)
	Write(ctx context.Context, tok sensitive.String, path string, data map[string]any) (*vault.Secret, error)
	MountEngine(ctx context.Context, tok sensitive.String, path string, e vault.Engine) (created bool, err error)
}

// DatabaseConnection is the name EnableDatabase gives the engine's
// connection to the PostgreSQL server (MOUNT/config/NAME).
const DatabaseConnection = "pg"

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

// EnableDatabase mounts Vault's database secrets engine at mount (unless
// it is there), connects it to pg as pg's superuser (Vault checks the login
// at once) and creates roles, the only ones the connection allows.
//
// Each login Vault creates carries VALID UNTIL its lease's expiry, so
// PostgreSQL itself refuses it once the lease ends, even if Vault never
// gets to drop it. Revocation uses the plugin's default statements, which
// revoke the login's privileges and drop it.
func EnableDatabase(ctx context.Context, w Admin, root sensitive.String, pg *devpg.Server, mount string, roles ...DatabaseRole) error {
	if _, err := w.MountEngine(ctx, root, mount, vault.Engine{Type: "database"}); err != nil {
		return err
	}
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = r.Name
	}
	_, err := w.Write(ctx, root, mount+"/config/"+DatabaseConnection, map[string]any{
		"plugin_name": "postgresql-database-plugin",
		// Vault fills in the templates itself; a URL built with net/url
		// would escape their braces.
		"connection_url":    fmt.Sprintf("postgresql://{{username}}:{{password}}@%s/%s?sslmode=disable", pg.Addr, devpg.Database),
		"username":          pg.User,
		"password":          pg.Password.Reveal(),
		"allowed_roles":     names,
		"verify_connection": true,
	})
	if err != nil {
		return fmt.Errorf("connecting the database engine to PostgreSQL: %w", err)
	}
	for _, r := range roles {
		if err := AddDatabaseRole(ctx, w, root, mount, r); err != nil {
			return err
		}
	}
	return nil
}

// AddDatabaseRole creates or replaces role on the database engine at mount.
// The connection must allow it (EnableDatabase allows the roles it is
// given).
func AddDatabaseRole(ctx context.Context, w Admin, root sensitive.String, mount string, role DatabaseRole) error {
	if role.TTL == 0 {
		role.TTL = time.Hour
	}
	if role.MaxTTL == 0 {
		role.MaxTTL = 24 * time.Hour
	}
	creation := append([]string{
		`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
	}, role.Grants...)
	_, err := w.Write(ctx, root, mount+"/roles/"+role.Name, map[string]any{
		"db_name":             DatabaseConnection,
		"creation_statements": creation,
		"default_ttl":         int64(role.TTL.Seconds()),
		"max_ttl":             int64(role.MaxTTL.Seconds()),
	})
	if err != nil {
		return fmt.Errorf("creating the database role %s: %w", role.Name, err)
	}
	return nil
}
