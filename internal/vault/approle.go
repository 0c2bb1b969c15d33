package vault

import (
	"context"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// AppRoleLogin logs in through the AppRole auth method mounted at mount
// with a role id and a secret id, and returns the token Vault issued with
// the role's policies. A refused login is ErrPermissionDenied; neither the
// secret id nor the token appears in any error.
func (c *Client) AppRoleLogin(ctx context.Context, mount, roleID string, secretID sensitive.String) (*Auth, error) {
	path := "auth/" + mount + "/login"
	s, err := c.Write(ctx, sensitive.String{}, path, map[string]any{"role_id": roleID, "secret_id": secretID.Reveal()})
	if err != nil {
		return nil, err
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return nil, &Error{Kind: ErrInvalidRequest, Op: "logging in", Path: path, Detail: "no token in response"}
	}
	return authOf(s.Auth.ClientToken, s.Auth.Accessor, s.Auth.LeaseDuration, s.Auth.Policies), nil
}
