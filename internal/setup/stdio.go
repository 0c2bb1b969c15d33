package setup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// The single stdio agent's folder is the whole prefix, which holds every
// named agent's folder. So a Vault has either the stdio layout or named
// agents, never both: otherwise the bootstrap token that serves the named
// agents would reach an account that reads all of them.

// exclusive keeps the two layouts apart before anything is set up. A run
// with named agents removes a stdio layout left on the Vault (earlier
// versions always created it); a run without refuses a Vault that has
// named agents, naming them.
func (r *run) exclusive(ctx context.Context) error {
	if len(r.opts.Agents) > 0 {
		return r.removeStdio(ctx)
	}
	named, err := r.namedAgents(ctx)
	if err != nil {
		return err
	}
	if len(named) > 0 {
		return fmt.Errorf("named agents are set up on this Vault (%v); the single stdio agent's accounts would reach their folders. "+
			"Set up the named agents (--agent NAME or the config file's agents) and serve stdio as one of them with GATEKEEPER_AGENT", named)
	}
	return nil
}

// namedAgents lists the agents whose login material setup stored.
func (r *run) namedAgents(ctx context.Context) ([]string, error) {
	l := r.opts.Layout
	s, err := r.v.List(ctx, r.admin, l.metadataPath(OwnFolder+"/agents"))
	if errors.Is(err, vault.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing the named agents' accounts: %w", err)
	}
	var out []string
	for _, k := range anySlice(s.Data["keys"]) {
		if name, _ := k.(string); name != "" {
			out = append(out, strings.TrimSuffix(name, "/"))
		}
	}
	slices.Sort(out)
	return out, nil
}

// removeStdio deletes the stdio agent's login MFA enforcement, accounts
// (disabling a userpass mount revokes every token it issued), policies (a
// token left with a deleted policy can do nothing), token roles and login
// material. Its transit keys stay: no policy reaches them any more, and
// deleting them would lose what they encrypted.
func (r *run) removeStdio(ctx context.Context) error {
	var a Agent
	l := r.opts.Layout
	if err := r.remove(ctx, "login MFA enforcement", "identity/mfa/login-enforcement/"+a.Enforcement()); err != nil {
		return err
	}
	for _, t := range Tiers {
		if err := r.removeAuthMount(ctx, a.AuthMount(t)); err != nil {
			return err
		}
		for _, o := range []struct{ what, path string }{
			{"policy", "sys/policies/acl/" + a.PolicyName(t)},
			{"token role", "auth/token/roles/" + a.Role(t)},
			{"account", l.metadataPath(a.AccountPath(t))},
		} {
			if err := r.remove(ctx, o.what, o.path); err != nil {
				return err
			}
		}
	}
	return nil
}

// remove deletes path if it exists.
func (r *run) remove(ctx context.Context, what, path string) error {
	if _, err := r.v.Read(ctx, r.admin, path); errors.Is(err, vault.ErrNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("reading the stdio agent's %s %s: %w", what, path, err)
	}
	if err := r.v.Delete(ctx, r.admin, path); err != nil {
		return fmt.Errorf("removing the stdio agent's %s %s: %w", what, path, err)
	}
	r.changed("removed the stdio agent's " + what + " " + path)
	return nil
}

// removeAuthMount disables the stdio agent's userpass mount, if there is
// one; a mount of another type is not Gatekeeper's and stays.
func (r *run) removeAuthMount(ctx context.Context, mount string) error {
	if err := r.loadAuthMounts(ctx); err != nil {
		return err
	}
	m, ok := r.authMounts[mount+"/"].(map[string]any)
	if !ok || m["type"] != "userpass" {
		return nil
	}
	if err := r.v.Delete(ctx, r.admin, "sys/auth/"+mount); err != nil {
		return fmt.Errorf("disabling the stdio agent's auth mount %s: %w", mount, err)
	}
	delete(r.authMounts, mount+"/")
	r.changed("removed the stdio agent's auth mount " + mount)
	return nil
}
