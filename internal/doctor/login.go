package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// Logins is what the login probe asks of Vault.
type Logins interface {
	KVRead(ctx context.Context, tok sensitive.String, mount, path string) (*vault.KVSecret, error)
	UserpassLogin(ctx context.Context, mount, user string, password sensitive.String) (*vault.Login, error)
	RevokeSelf(ctx context.Context, tok sensitive.String) error
}

// Account is a read-tier login as setup stores it: where, in KV, for which
// agent ("" for the single stdio agent), read with a token of which policy.
type Account struct {
	Agent   string
	KVMount string
	Path    string
	Policy  string
}

// name is a per-agent check's name: the bare name for the stdio agent.
func name(base, agent string) string {
	if agent == "" {
		return base
	}
	return base + "/" + agent
}

// setupFor is the setup command that makes an agent's share of the layout.
func setupFor(agent string) string {
	if agent == "" {
		return "gatekeeper setup"
	}
	return "gatekeeper setup --agent " + agent
}

// probe is one read-tier login, started to see what Vault demands; mfa
// reads what login found.
type probe struct {
	mu  sync.Mutex
	mfa *vault.MFARequirement
}

func (p *probe) set(m *vault.MFARequirement) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mfa = m
}

func (p *probe) get() *vault.MFARequirement {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mfa
}

// TierLogin returns two checks of an agent's read-tier login, the first
// step of every approval: "login" (Gatekeeper's token reads the account,
// and Vault answers the login) and "mfa" (Vault demands a second factor
// before it issues a token). The login is only started: no factor is
// sent, so no push reaches a phone and no code is spent. A token Vault
// issues without a second factor is revoked at once.
func TierLogin(v Logins, tok func(context.Context) (sensitive.String, error), a Account) []Check {
	p := &probe{}
	setup := setupFor(a.Agent)
	login := Check{Name: name(NameLogin, a.Agent), Needs: []string{NamePolicies}, Run: func(ctx context.Context) (string, error) {
		p.set(nil)
		t, err := tok(ctx)
		if err != nil {
			return "", err
		}
		s, err := v.KVRead(ctx, t, a.KVMount, a.Path)
		switch {
		case errors.Is(err, vault.ErrNotFound):
			return "", Fail("run "+setup+": it writes the account", "no read-tier account at %s/%s", a.KVMount, a.Path)
		case errors.Is(err, vault.ErrPermissionDenied) && a.Agent == "":
			return "", Fail("if this Vault was set up for named agents (setup --agent), set GATEKEEPER_AGENT to one of them; else "+rewrite(a.Policy),
				"the token may not read the stdio agent's read-tier account at %s/%s", a.KVMount, a.Path)
		case errors.Is(err, vault.ErrPermissionDenied):
			return "", Fail(rewrite(a.Policy), "the policy %s does not let the token read the read-tier account at %s/%s", a.Policy, a.KVMount, a.Path)
		case err != nil:
			return "", fmt.Errorf("reading the read-tier account: %w", err)
		}
		acct, ok := vault.AccountFrom(s.Data)
		if !ok {
			return "", Fail("run "+setup+" again: it completes the account", "the read-tier account at %s/%s is incomplete", a.KVMount, a.Path)
		}
		mount := acct.Mount
		l, err := v.UserpassLogin(ctx, mount, acct.Username, acct.Password)
		if err != nil {
			return "", Fail("run "+setup+" again: it writes the account's password and enables auth/"+mount,
				"the read-tier login auth/%s as %s failed: %w", mount, acct.Username, err)
		}
		if l.Auth != nil {
			// Issued without a second factor: give it back now.
			if rerr := v.RevokeSelf(ctx, l.Auth.Token); rerr != nil {
				return "", fmt.Errorf("revoking the token a login without MFA issued (accessor %s): %w", l.Auth.Accessor, rerr)
			}
		}
		p.set(l.MFA)
		return fmt.Sprintf("the read-tier login auth/%s answers", mount), nil
	}}
	mfa := Check{Name: name(NameMFA, a.Agent), Needs: []string{login.Name}, Run: func(context.Context) (string, error) {
		m := p.get()
		if m == nil || len(m.Constraints) == 0 {
			return "", Fail("run "+setup+" again: it creates the MFA method and enforces it on the tier logins",
				"Vault issues a read-tier token without a second factor: no login MFA method is enforced")
		}
		var types []string
		for _, c := range m.Constraints {
			for _, meth := range c {
				types = append(types, meth.Type)
			}
		}
		return "Vault demands a second factor: " + strings.Join(types, ", "), nil
	}}
	return []Check{login, mfa}
}

// Writer is what the token role probe asks of Vault.
type Writer interface {
	Write(ctx context.Context, tok sensitive.String, path string, data map[string]any) (*vault.Secret, error)
	RevokeSelf(ctx context.Context, tok sensitive.String) error
}

// badTTL is a TTL no token role accepts: Vault checks the token's policy,
// then finds the role, then refuses the TTL, so a probe with it learns
// whether the role exists and may be used without minting a token.
const badTTL = "not-a-duration"

// TokenRoles: with the brokered strategy, an agent's tier "logins" are
// token roles; Gatekeeper's token (policy) may mint through each of them.
func TokenRoles(v Writer, tok func(context.Context) (sensitive.String, error), agent, policy string, roles []string) Check {
	return Check{Name: name(NameLogin, agent), Needs: []string{NamePolicies}, Run: func(ctx context.Context) (string, error) {
		t, err := tok(ctx)
		if err != nil {
			return "", err
		}
		for _, role := range roles {
			path := "auth/token/create/" + role
			s, err := v.Write(ctx, t, path, map[string]any{"ttl": badTTL})
			e, _ := errors.AsType[*vault.Error](err)
			switch {
			case err == nil:
				// Minted after all: give it back at once.
				if s != nil && s.Auth != nil {
					if rerr := v.RevokeSelf(ctx, sensitive.New(s.Auth.ClientToken)); rerr != nil {
						return "", fmt.Errorf("revoking the token the probe of %s minted (accessor %s): %w", role, s.Auth.Accessor, rerr)
					}
				}
			case errors.Is(err, vault.ErrPermissionDenied):
				return "", Fail(rewrite(policy), "the policy %s does not let the token mint through the token role %s", policy, role)
			case e != nil && strings.Contains(e.Detail, "unknown role"):
				return "", Fail("run "+setupFor(agent)+" --brokered: it creates the token roles", "no token role %s", role)
			case !errors.Is(err, vault.ErrInvalidRequest):
				return "", fmt.Errorf("probing the token role %s: %w", role, err)
			}
		}
		return "token roles " + strings.Join(roles, ", ") + " can mint", nil
	}}
}
