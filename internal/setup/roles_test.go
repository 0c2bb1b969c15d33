package setup_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

func TestCheckRoles(t *testing.T) {
	role := func(engine, mount, name string, tier access.Tier) setup.Role {
		return setup.Role{Engine: engine, Mount: mount, Name: name, Tier: tier}
	}
	web := role(setup.EnginePKI, "pki", "web", access.Read)
	for _, tc := range []struct {
		name  string
		roles map[setup.Agent][]setup.Role
		want  string // "" means accepted
	}{
		{"ok/one-agent", map[setup.Agent][]setup.Role{"a": {web, role(setup.EngineDatabase, "database", "app-ro", access.Read), role(setup.EngineDatabase, "database", "app-rw", access.Write)}}, ""},
		{"ok/same-role-name-on-other-mounts", map[setup.Agent][]setup.Role{"a": {web}, "b": {role(setup.EnginePKI, "pki-b", "web", access.Read)}}, ""},
		{"fail/shared-role", map[setup.Agent][]setup.Role{"a": {web}, "b": {web}}, "belongs to one agent"},
		{"fail/glob", map[setup.Agent][]setup.Role{"a": {role(setup.EnginePKI, "pki", "*", access.Read)}}, "not a plain role name"},
		{"fail/plus", map[setup.Agent][]setup.Role{"a": {role(setup.EnginePKI, "pki", "web+", access.Read)}}, "not a plain role name"},
		{"fail/slash", map[setup.Agent][]setup.Role{"a": {role(setup.EnginePKI, "pki", "web/../other", access.Read)}}, "not a plain role name"},
		{"fail/glob-mount", map[setup.Agent][]setup.Role{"a": {role(setup.EnginePKI, "pki*", "web", access.Read)}}, "not a plain mount path"},
		{"fail/engine", map[setup.Agent][]setup.Role{"a": {role("kv", "secret", "x", access.Read)}}, "engine"},
		{"fail/tier", map[setup.Agent][]setup.Role{"a": {role(setup.EnginePKI, "pki", "web", access.Destroy)}}, "tier must be read or write"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := setup.CheckRoles(tc.roles)
			if tc.want == "" && err != nil {
				t.Fatalf("CheckRoles = %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("CheckRoles = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestRolesInTierPolicies: each tier token issues from exactly its tier's
// roles, and revokes only those roles' leases.
func TestRolesInTierPolicies(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t)
	vc, root := vaulttest.Client(t, srv), vaulttest.Root(srv)
	ctx := t.Context()
	vaulttest.EnablePKI(t, srv, "pki", vaulttest.PKIRole{Name: "web", Domain: "test.internal"},
		vaulttest.PKIRole{Name: "admin", Domain: "test.internal"}, vaulttest.PKIRole{Name: "other", Domain: "test.internal"})
	vaulttest.EnableSSH(t, srv, "ssh", vaulttest.SSHRole{Name: "ops", DefaultUser: "ops"}, vaulttest.SSHRole{Name: "other", DefaultUser: "ops"})
	l := vaulttest.DefaultLayout
	l.Roles = map[setup.Agent][]setup.Role{"": {
		{Engine: setup.EnginePKI, Mount: "pki", Name: "web", Tier: access.Read},
		{Engine: setup.EngineSSH, Mount: "ssh", Name: "ops", Tier: access.Read},
		{Engine: setup.EnginePKI, Mount: "pki", Name: "admin", Tier: access.Write},
	}}
	res := vaulttest.SetUp(t, srv, l)
	auth := vaulttest.NewAuthenticator(t, res.TOTPURL)
	readTok, err := mfaLogin(t, vc, res.BootstrapToken, l, access.Read, auth.Code(t))
	if err != nil {
		t.Fatal(err)
	}
	writeTok, err := mfaLogin(t, vc, readTok, l, access.Write, auth.Code(t))
	if err != nil {
		t.Fatal(err)
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(tok sensitive.String, role string) (*vault.Secret, error) {
		return vc.Write(ctx, tok, "pki/issue/"+role, map[string]any{"common_name": "x.test.internal", "ttl": "5m"})
	}
	sign := func(tok sensitive.String, role string) error {
		_, err := vc.Write(ctx, tok, "ssh/sign/"+role, map[string]any{"public_key": string(ssh.MarshalAuthorizedKey(sshPub)), "ttl": "5m"})
		return err
	}
	cases := []struct {
		name string
		run  func() error
		ok   bool
	}{
		{"read issues web", func() error { _, err := issue(readTok, "web"); return err }, true},
		{"read issues admin", func() error { _, err := issue(readTok, "admin"); return err }, false},
		{"read issues other", func() error { _, err := issue(readTok, "other"); return err }, false},
		{"read signs ops", func() error { return sign(readTok, "ops") }, true},
		{"read signs other", func() error { return sign(readTok, "other") }, false},
		{"write issues admin", func() error { _, err := issue(writeTok, "admin"); return err }, true},
		{"write issues web", func() error { _, err := issue(writeTok, "web"); return err }, false},
		{"write signs ops", func() error { return sign(writeTok, "ops") }, false},
		{"bootstrap issues web", func() error { _, err := issue(res.BootstrapToken, "web"); return err }, false},
	}
	for _, c := range cases {
		err := c.run()
		switch {
		case c.ok && err != nil:
			t.Errorf("%s: %v, want allowed", c.name, err)
		case !c.ok && !errors.Is(err, vault.ErrPermissionDenied):
			t.Errorf("%s: %v, want permission denied", c.name, err)
		}
	}

	// The read token revokes its own role's lease, not another role's.
	own, err := issue(readTok, "web")
	if err != nil || own.LeaseID == "" {
		t.Fatalf("issuing a leased certificate: %v %+v", err, own)
	}
	foreign, err := issue(root, "other")
	if err != nil || foreign.LeaseID == "" {
		t.Fatalf("issuing another role's certificate: %v", err)
	}
	if err := vc.RevokeLease(ctx, readTok, foreign.LeaseID); !errors.Is(err, vault.ErrPermissionDenied) {
		t.Errorf("revoking another role's lease: %v, want permission denied", err)
	}
	if err := vc.RevokeLease(ctx, readTok, own.LeaseID); err != nil {
		t.Errorf("revoking its own lease: %v", err)
	}
	if p := l.Tiers("")[0].HCL; strings.Contains(p, "pki/issue/admin") || strings.Contains(p, "*\"") && strings.Contains(p, "pki/issue/*") {
		t.Errorf("the read policy reaches beyond its roles:\n%s", p)
	}
}
