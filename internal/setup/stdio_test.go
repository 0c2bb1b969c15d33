package setup_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// TestNamedAgentsHaveNoAllAgentsAccount: a Vault set up for named agents
// holds no account whose folder is the whole prefix, and the bootstrap
// token reaches only the named agents' logins. A stdio layout left by an
// earlier version (which always made one) is removed, its live tokens with
// it; a stdio setup over named agents is refused and changes nothing.
func TestNamedAgentsHaveNoAllAgentsAccount(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t)
	vc, root, ctx := vaulttest.Client(t, srv), vaulttest.Root(srv), t.Context()
	l := vaulttest.DefaultLayout
	stdio := setup.Agent("")

	// What an earlier version left: the stdio layout beside the named
	// agents, and a live read-tier token of the stdio account.
	old := vaulttest.SetUp(t, srv, l)
	stdioRead, err := mfaLogin(t, vc, old.BootstrapToken, l, access.Read, vaulttest.NewAuthenticator(t, old.TOTPURL).Code(t))
	if err != nil {
		t.Fatal(err)
	}

	opts := setup.Options{Layout: l, Agents: []setup.AgentSetup{{Name: "a"}, {Name: "b"}}, Brokered: true}
	res, err := setup.Apply(ctx, vc, root, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"removed the stdio agent's auth mount gatekeeper-read", "removed the stdio agent's policy sys/policies/acl/gatekeeper-read",
		"removed the stdio agent's account secret/metadata/gatekeeper/tier/read", "removed the stdio agent's login MFA enforcement identity/mfa/login-enforcement/gatekeeper"} {
		if !slices.Contains(res.Changed, want) {
			t.Errorf("setup did not report %q: %v", want, res.Changed)
		}
	}
	if !res.BootstrapToken.Equal(old.BootstrapToken) {
		t.Error("setup replaced the bootstrap token; a running server's token must keep working")
	}
	if _, err := vc.LookupSelf(ctx, stdioRead); err == nil {
		t.Error("the stdio account's read token outlived its account")
	}

	// The bootstrap token: the named agents' read logins, no stdio login.
	for _, tt := range setup.Tiers {
		if _, err := vc.KVRead(ctx, res.BootstrapToken, l.KVMount, stdio.AccountPath(tt)); !errors.Is(err, vault.ErrPermissionDenied) {
			t.Errorf("bootstrap reads the stdio %s login: %v, want permission denied", tt, err)
		}
	}
	for _, a := range []setup.Agent{"a", "b"} {
		if _, err := vc.KVRead(ctx, res.BootstrapToken, l.KVMount, a.AccountPath(access.Read)); err != nil {
			t.Errorf("bootstrap reads %s's read login: %v", a, err)
		}
	}

	// No policy, account or token role of the stdio agent is left, and no
	// policy reaches the whole prefix.
	noAllAgents(t, vc, root, l)

	if again, err := setup.Apply(ctx, vc, root, opts); err != nil || len(again.Changed) != 0 {
		t.Errorf("second run: changed %v (%v), want nothing", again.Changed, err)
	}

	// A stdio setup over named agents is refused before it changes anything.
	_, err = setup.Apply(ctx, vc, root, setup.Options{Layout: l})
	if err == nil || !strings.Contains(err.Error(), "named agents are set up on this Vault ([a b])") || !strings.Contains(err.Error(), "GATEKEEPER_AGENT") {
		t.Fatalf("stdio setup over named agents = %v, want a refusal naming them", err)
	}
	noAllAgents(t, vc, root, l)
}

// noAllAgents fails if Vault holds the stdio agent's auth mounts,
// policies, token roles or login material, or any policy that reaches the
// whole agent prefix.
func noAllAgents(t *testing.T, vc *vault.Client, root sensitive.String, l setup.Layout) {
	t.Helper()
	ctx, stdio := t.Context(), setup.Agent("")
	auths, err := vc.Read(ctx, root, "sys/auth")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range setup.Tiers {
		if _, ok := auths.Data[stdio.AuthMount(tt)+"/"]; ok {
			t.Errorf("auth mount %s is still enabled", stdio.AuthMount(tt))
		}
		for _, p := range []string{"sys/policies/acl/" + stdio.PolicyName(tt), "auth/token/roles/" + stdio.Role(tt)} {
			if _, err := vc.Read(ctx, root, p); !errors.Is(err, vault.ErrNotFound) {
				t.Errorf("read %s: %v, want not found", p, err)
			}
		}
		if _, err := vc.KVRead(ctx, root, l.KVMount, stdio.AccountPath(tt)); !errors.Is(err, vault.ErrNotFound) {
			t.Errorf("the stdio %s login: %v, want not found", tt, err)
		}
	}
	list, err := vc.List(ctx, root, "sys/policies/acl")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range list.Data["keys"].([]any) {
		p, err := vc.Read(ctx, root, "sys/policies/acl/"+k.(string))
		if err != nil {
			t.Fatal(err)
		}
		hcl, _ := p.Data["policy"].(string)
		for _, whole := range []string{l.KVMount + "/data/" + l.Prefix + "/*", l.KVMount + "/metadata/" + l.Prefix + "/*"} {
			if strings.Contains(hcl, `"`+whole+`"`) {
				t.Errorf("policy %s reaches the whole prefix (%s)", k, whole)
			}
		}
	}
}
