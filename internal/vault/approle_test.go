package vault_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// TestAppRoleLogin logs in through a real Vault's AppRole auth method.
func TestAppRoleLogin(t *testing.T) {
	e := start(t)
	ctx := t.Context()
	if _, err := e.c.Write(ctx, e.root, "sys/policies/acl/gk-test", map[string]any{"policy": `path "secret/*" { capabilities = ["read"] }`}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Write(ctx, e.root, "sys/auth/approle", map[string]any{"type": "approle"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Write(ctx, e.root, "auth/approle/role/gk", map[string]any{
		"token_policies": []string{"gk-test"}, "token_period": "1h",
	}); err != nil {
		t.Fatal(err)
	}
	s, err := e.c.Read(ctx, e.root, "auth/approle/role/gk/role-id")
	if err != nil {
		t.Fatal(err)
	}
	roleID := s.Data["role_id"].(string)
	s, err = e.c.Write(ctx, e.root, "auth/approle/role/gk/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	secretID := s.Data["secret_id"].(string)

	tests := []struct {
		name, mount, roleID, secretID string
		want                          error // nil: the login succeeds
	}{
		{"ok", "approle", roleID, secretID, nil},
		{"fail/wrong-secret-id", "approle", roleID, "0e5b1a3c-0000-4000-8000-000000000000", vault.ErrInvalidRequest},
		{"fail/unknown-role-id", "approle", "0e5b1a3c-1111-4000-8000-000000000000", secretID, vault.ErrInvalidRequest},
		{"fail/no-such-mount", "approle-missing", roleID, secretID, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			auth, err := e.c.AppRoleLogin(ctx, tc.mount, tc.roleID, sensitive.New(tc.secretID))
			if strings.HasPrefix(tc.name, "fail/") {
				if err == nil {
					t.Fatalf("login succeeded with policies %v", auth.Policies)
				}
				if tc.want != nil {
					wantKind(t, err, tc.want)
				}
				noValue(t, err, secretID)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			info, err := e.c.LookupSelf(ctx, auth.Token)
			if err != nil {
				t.Fatal(err)
			}
			if info.Period != time.Hour || !info.Renewable || strings.Join(info.Policies, ",") != "default,gk-test" {
				t.Errorf("token: period %s renewable %v policies %v, want 1h, renewable, [default gk-test]", info.Period, info.Renewable, info.Policies)
			}
		})
	}
}
