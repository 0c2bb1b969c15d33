package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatekeeper-mcp/gatekeeper/internal/config"
	"github.com/gatekeeper-mcp/gatekeeper/internal/devpg"
	"github.com/gatekeeper-mcp/gatekeeper/internal/devvault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// devDomain is what the dev PKI's certificates may name.
const devDomain = "dev.internal"

// devPKI mounts a PKI engine on the dev Vault with a CA of its own and a
// role whose certificates are leased (so they die with the grant), and
// returns the credential that lets the agent ask for one: the credential
// flow with no database at hand.
func devPKI(ctx context.Context, vc *vault.Client, root sensitive.String) (config.Credential, error) {
	mounted, err := vc.MountEngine(ctx, root, "pki", vault.Engine{Type: "pki", Config: map[string]any{"max_lease_ttl": "8760h"}})
	if err != nil {
		return config.Credential{}, fmt.Errorf("preparing the dev PKI: %w", err)
	}
	if mounted { // a dev Vault that keeps its storage keeps its CA too
		if _, err := vc.Write(ctx, root, "pki/root/generate/internal", map[string]any{"common_name": "Gatekeeper dev CA", "ttl": "8760h"}); err != nil {
			return config.Credential{}, fmt.Errorf("preparing the dev PKI's CA: %w", err)
		}
	}
	if _, err := vc.Write(ctx, root, "pki/roles/dev-web", map[string]any{
		"allowed_domains": devDomain, "allow_subdomains": true, "allow_bare_domains": true,
		"max_ttl": "24h", "generate_lease": true, "key_type": "ec", "key_bits": 256,
	}); err != nil {
		return config.Credential{}, fmt.Errorf("preparing the dev PKI's role: %w", err)
	}
	return config.Credential{
		Name: "web-cert", Engine: setup.EnginePKI, Role: "dev-web", Tier: "read",
		CommonNames: []string{devDomain, "*." + devDomain},
	}, nil
}

// devDatabase starts a PostgreSQL of its own in dir when its server is
// installed, points the dev Vault's database engine at it with a
// read-only and a read-write role, and returns the credentials that let
// the agent ask for a login under read and under write. Without
// PostgreSQL it returns none, and why.
func devDatabase(ctx context.Context, vc *vault.Client, root sensitive.String, dir string) (*devpg.Server, []config.Credential, error) {
	if _, err := devpg.FindBins(); err != nil {
		return nil, nil, err
	}
	pgDir := filepath.Join(dir, "postgres")
	if err := os.Mkdir(pgDir, 0o700); err != nil {
		return nil, nil, err
	}
	pg, err := devpg.Start(pgDir)
	if err != nil {
		return nil, nil, fmt.Errorf("starting PostgreSQL: %w", err)
	}
	if _, err := pg.Exec(pg.User, pg.Password.Reveal(), "CREATE TABLE notes (id serial PRIMARY KEY, body text); INSERT INTO notes (body) VALUES ('hello from the dev database');"); err != nil {
		pg.Stop()
		return nil, nil, fmt.Errorf("preparing the dev database: %w", err)
	}
	err = devvault.EnableDatabase(ctx, vc, root, pg, "database",
		devvault.DatabaseRole{Name: "dev-ro", Grants: []string{devvault.GrantRead}, TTL: 15 * time.Minute},
		devvault.DatabaseRole{Name: "dev-rw", Grants: []string{devvault.GrantWrite, `GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO "{{name}}";`}, TTL: 15 * time.Minute})
	if err != nil {
		pg.Stop()
		return nil, nil, err
	}
	return pg, []config.Credential{
		{Name: "app-db", Engine: setup.EngineDatabase, Role: "dev-ro", Tier: "read"},
		{Name: "app-db-admin", Engine: setup.EngineDatabase, Role: "dev-rw", Tier: "write"},
	}, nil
}

// writeDevConfig writes the configuration serve needs beyond the
// environment (the credentials) into a file of its own in dir.
func writeDevConfig(dir string, creds []config.Credential) (string, error) {
	b, err := yaml.Marshal(struct {
		Credentials []config.Credential `yaml:"credentials"`
	}{creds})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "gatekeeper.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return "", fmt.Errorf("writing the dev configuration: %w", err)
	}
	return path, nil
}
