package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
)

func TestCredentialsValidation(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       string // "" means valid
	}{
		{"ok/stdio", "credentials:\n  - {name: app-db, engine: database, role: app-ro}\n", ""},
		{"ok/named", "agents: [{name: ci}, {name: web}]\ncredentials:\n  - {name: app-db, engine: database, role: ci-ro, agents: [ci]}\n  - {name: cert, engine: pki, role: web, common_names: [\"*.web.internal\"], agents: [web]}\n", ""},
		{"ok/write-tier", "credentials:\n  - {name: app-db-admin, engine: database, role: app-rw, tier: write}\n", ""},
		{"fail/name", "credentials:\n  - {name: App_DB, engine: database, role: r}\n", "name must be"},
		{"fail/twice", "credentials:\n  - {name: a, engine: database, role: r1}\n  - {name: a, engine: database, role: r2}\n", "declared twice"},
		{"fail/engine", "credentials:\n  - {name: a, engine: kv, role: r}\n", `engine "kv" is not`},
		{"fail/no-role", "credentials:\n  - {name: a, engine: database}\n", "role is required"},
		{"fail/tier", "credentials:\n  - {name: a, engine: database, role: r, tier: destroy}\n", `tier "destroy"`},
		{"fail/own-mount", "credentials:\n  - {name: a, engine: database, mount: secret, role: r}\n", "Gatekeeper's or Vault's own"},
		{"fail/pki-without-names", "credentials:\n  - {name: a, engine: pki, role: r}\n", "needs common_names"},
		{"fail/names-on-a-database", "credentials:\n  - {name: a, engine: database, role: r, common_names: [x.internal]}\n", "common_names is for pki"},
		{"fail/bad-name", "credentials:\n  - {name: a, engine: pki, role: r, common_names: [\"*.*.internal\"]}\n", "not a lower-case DNS name"},
		{"fail/unknown-agent", "agents: [{name: ci}]\ncredentials:\n  - {name: a, engine: database, role: r, agents: [nobody]}\n", "not declared in agents"},
		{"fail/glob-role", "credentials:\n  - {name: a, engine: database, role: \"*\"}\n", "not a plain role name"},
		{"fail/role-for-every-agent", "agents: [{name: ci}, {name: web}]\ncredentials:\n  - {name: a, engine: database, role: shared}\n", "belongs to one agent"},
		{"fail/role-in-two-entries", "agents: [{name: ci}, {name: web}]\ncredentials:\n  - {name: a, engine: database, role: r, agents: [ci]}\n  - {name: b, engine: database, role: r, agents: [web]}\n", "belongs to one agent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(base, writeFile(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			err = c.Validate()
			if tc.want == "" && err != nil {
				t.Fatalf("Validate() = %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestCredentialsInTheLayout: each agent's roles reach its own tier
// policies only, and an agent asks only for its own credentials.
func TestCredentialsInTheLayout(t *testing.T) {
	c, err := Load(base, writeFile(t, "agents: [{name: ci}, {name: web}]\ncredentials:\n"+
		"  - {name: app-db, engine: database, role: ci-ro, agents: [ci]}\n"+
		"  - {name: app-db-admin, engine: database, role: ci-rw, tier: write, agents: [ci]}\n"+
		"  - {name: cert, engine: pki, mount: pki-web, role: web, common_names: [\"*.web.internal\"], agents: [web]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[setup.Agent][]setup.Role{
		"ci":  {{Engine: "database", Mount: "database", Name: "ci-ro", Tier: access.Read}, {Engine: "database", Mount: "database", Name: "ci-rw", Tier: access.Write}},
		"web": {{Engine: "pki", Mount: "pki-web", Name: "web", Tier: access.Read}},
	}
	if diff := cmp.Diff(want, c.Layout().Roles); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}
	if got := c.CredentialsFor("web"); len(got) != 1 || got[0].Name != "cert" {
		t.Errorf("web's credentials = %+v", got)
	}
	if got := c.CredentialsFor(""); len(got) != 0 {
		t.Errorf("the stdio agent gets named agents' credentials: %+v", got)
	}
	cert := c.CredentialsFor("web")[0]
	for name, ok := range map[string]bool{"a.web.internal": true, "web.internal": false, "a.b.web.internal": false, "A.WEB.INTERNAL": true, "*.web.internal": false, "a.web.internal.evil": false} {
		if cert.AllowsName(name) != ok {
			t.Errorf("AllowsName(%q) = %v", name, !ok)
		}
	}
}

// TestCredentialsDocExample: the configuration docs/credentials.md shows
// is valid as written, for the agent it names.
func TestCredentialsDocExample(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "credentials.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml\ncredentials:")
	block, _, closed := strings.Cut(rest, "```")
	if !ok || !closed {
		t.Fatal("docs/credentials.md has no credentials: example")
	}
	c, err := Load(base, writeFile(t, "agents: [{name: ci}]\ncredentials:"+block))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("the example does not validate: %v", err)
	}
	if got := len(c.CredentialsFor("ci")); got != 4 {
		t.Errorf("the example gives ci %d credentials, want 4", got)
	}
}
