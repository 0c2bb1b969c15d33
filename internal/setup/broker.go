package setup

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// BrokerPolicy is the policy of Gatekeeper's own token in the brokered
// strategy: create tokens through the gatekeeper-* roles, nothing else.
const BrokerPolicy = "gatekeeper-broker"

const brokerPath = OwnFolder + "/broker"

// Broker is the broker token's policy.
func (l Layout) Broker() Policy {
	return Policy{Name: BrokerPolicy, HCL: `# Gatekeeper broker: mint tokens only through the gatekeeper-* token roles,
# each of which allows exactly one agent's tier policy. It reads no secret.
path "auth/token/create/gatekeeper-*" {
  capabilities = ["update"]
}
` + selfPolicy + l.statePolicy()}
}

// Role names an agent's token role for a tier (the same as its policy).
func (a Agent) Role(t access.Tier) string { return a.PolicyName(t) }

// roles writes the agent's token roles: each allows only its tier policy,
// mints children of the broker token that cannot be renewed and cannot
// outlive the tier's TTL.
func (r *run) roles(ctx context.Context, l Layout, a Agent) error {
	for _, t := range Tiers {
		path := "auth/token/roles/" + a.Role(t)
		want := map[string]any{
			"allowed_policies":        []string{a.PolicyName(t)},
			"orphan":                  false,
			"renewable":               false,
			"token_explicit_max_ttl":  int64(l.ttl(t).Seconds()),
			"token_no_default_policy": true,
			"token_type":              "service",
		}
		cur, err := r.v.Read(ctx, r.admin, path)
		if err != nil && !errors.Is(err, vault.ErrNotFound) {
			return fmt.Errorf("reading token role %s: %w", a.Role(t), err)
		}
		if cur != nil && sameRole(cur.Data, want) {
			continue
		}
		if _, err := r.v.Write(ctx, r.admin, path, want); err != nil {
			return fmt.Errorf("writing token role %s: %w", a.Role(t), err)
		}
		r.changed("token role " + a.Role(t))
	}
	return nil
}

func sameRole(cur, want map[string]any) bool {
	pols, _ := cur["allowed_policies"].([]any)
	ttl, _ := cur["token_explicit_max_ttl"].(interface{ Int64() (int64, error) })
	var n int64
	if ttl != nil {
		n, _ = ttl.Int64()
	}
	return len(pols) == 1 && pols[0] == want["allowed_policies"].([]string)[0] &&
		cur["orphan"] == false && cur["renewable"] == false && n == want["token_explicit_max_ttl"]
}

// brokerToken returns the broker token: the stored one while it is valid
// and bound to the broker policy alone, else a new periodic orphan.
func (r *run) brokerToken(ctx context.Context) (sensitive.String, error) {
	return r.ownToken(ctx, brokerPath, BrokerPolicy, "gatekeeper-broker")
}

// ownToken is one of Gatekeeper's own tokens (bootstrap, broker), kept in
// its KV folder so that a second setup returns the same one.
func (r *run) ownToken(ctx context.Context, kvPath, policy, name string) (sensitive.String, error) {
	l := r.opts.Layout
	if cur, err := r.v.KVRead(ctx, r.admin, l.KVMount, kvPath); err == nil {
		if s, _ := cur.Data["token"].(string); s != "" {
			tok := sensitive.New(s)
			info, err := r.v.LookupSelf(ctx, tok)
			if err == nil && slices.Equal(info.Policies, []string{policy}) {
				return tok, nil
			}
			if err != nil && !errors.Is(err, vault.ErrPermissionDenied) {
				return sensitive.String{}, fmt.Errorf("checking the existing %s token: %w", name, err)
			}
		}
	} else if !errors.Is(err, vault.ErrNotFound) {
		return sensitive.String{}, fmt.Errorf("reading the stored %s token: %w", name, err)
	}

	s, err := r.v.Write(ctx, r.admin, "auth/token/create", map[string]any{
		"policies":          []string{policy},
		"no_default_policy": true,
		"no_parent":         true,
		"period":            int64(ownTokenPeriod.Seconds()),
		"renewable":         true,
		"display_name":      name,
	})
	if err != nil {
		return sensitive.String{}, fmt.Errorf("creating the %s token: %w", name, err)
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return sensitive.String{}, fmt.Errorf("creating the %s token: no token in the response", name)
	}
	tok := sensitive.New(s.Auth.ClientToken)
	if _, err := r.v.KVWrite(ctx, r.admin, l.KVMount, kvPath, map[string]any{"token": tok.Reveal()}); err != nil {
		return sensitive.String{}, fmt.Errorf("storing the %s token: %w", name, err)
	}
	r.changed(name + " token")
	return tok, nil
}
