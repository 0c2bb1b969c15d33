package setup

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// AppRole asks setup for the AppRole role Gatekeeper logs in with instead of
// a static token (VAULT_ROLE_ID and VAULT_SECRET_ID).
type AppRole struct {
	Mount string // the AppRole auth mount, enabled if missing
	Role  string
	// Policy is Gatekeeper's own: BootstrapPolicy, or BrokerPolicy for the
	// brokered strategy.
	Policy string
}

// AppRoleResult is the role setup made and its role id. The role id is not
// a secret on its own; setup makes no secret id, which the operator asks
// Vault for and keeps like a password.
type AppRoleResult struct {
	Mount  string `json:"mount"`
	Role   string `json:"role"`
	Policy string `json:"policy"`
	RoleID string `json:"role_id"`
}

// appRole enables the AppRole mount if needed and writes the role: tokens
// with Gatekeeper's own policy alone, with the period of the tokens setup
// makes (Gatekeeper renews them while it runs; with the brokered strategy
// grants are child tokens, which Vault caps at their parent's TTL); secret
// ids that can be used again, since Gatekeeper logs in again when its
// token has died.
func (r *run) appRole(ctx context.Context, a AppRole) (*AppRoleResult, error) {
	if err := r.authMethod(ctx, a.Mount, "approle"); err != nil {
		return nil, err
	}
	path := "auth/" + a.Mount + "/role/" + a.Role
	want := map[string]any{
		"token_policies":          []string{a.Policy},
		"token_no_default_policy": true,
		"token_type":              "service",
		"token_period":            int64(ownTokenPeriod.Seconds()),
		"secret_id_num_uses":      0,
		"bind_secret_id":          true,
	}
	cur, err := r.v.Read(ctx, r.admin, path)
	if err != nil && !errors.Is(err, vault.ErrNotFound) {
		return nil, fmt.Errorf("reading AppRole role %s: %w", a.Role, err)
	}
	if cur == nil || !sameAppRole(cur.Data, a.Policy) {
		if _, err := r.v.Write(ctx, r.admin, path, want); err != nil {
			return nil, fmt.Errorf("writing AppRole role %s: %w", a.Role, err)
		}
		r.changed("approle role " + a.Role)
	}
	s, err := r.v.Read(ctx, r.admin, path+"/role-id")
	if err != nil {
		return nil, fmt.Errorf("reading the role id of AppRole role %s: %w", a.Role, err)
	}
	id, _ := s.Data["role_id"].(string)
	if id == "" {
		return nil, fmt.Errorf("reading the role id of AppRole role %s: none in the response", a.Role)
	}
	return &AppRoleResult{Mount: a.Mount, Role: a.Role, Policy: a.Policy, RoleID: id}, nil
}

func sameAppRole(cur map[string]any, policy string) bool {
	pols, _ := cur["token_policies"].([]any)
	period := vault.Int64(cur["token_period"])
	return slices.Equal(pols, []any{policy}) && cur["token_no_default_policy"] == true &&
		period == int64(ownTokenPeriod.Seconds()) && vault.Int64(cur["secret_id_num_uses"]) == 0 && cur["bind_secret_id"] == true
}

// authMethod enables the auth method typ at mount unless it is there,
// refusing a mount of another type.
func (r *run) authMethod(ctx context.Context, mount, typ string) error {
	s, err := r.v.Read(ctx, r.admin, "sys/auth")
	if err != nil {
		return fmt.Errorf("listing auth mounts: %w", err)
	}
	if m, ok := s.Data[mount+"/"].(map[string]any); ok {
		if got, _ := m["type"].(string); got != typ {
			return fmt.Errorf("auth mount %s exists with type %q, want %s", mount, got, typ)
		}
		return nil
	}
	if _, err := r.v.Write(ctx, r.admin, "sys/auth/"+mount, map[string]any{"type": typ, "description": "Gatekeeper's own identity"}); err != nil {
		return fmt.Errorf("enabling %s at %s: %w", typ, mount, err)
	}
	r.changed("auth mount " + mount)
	return nil
}
