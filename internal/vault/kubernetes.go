package vault

import (
	"context"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// KubernetesLogin logs in through the Kubernetes auth method mounted at
// mount, as role, with a service account token (JWT). Vault asks the
// Kubernetes API whether the JWT is valid (TokenReview) and issues a token
// with the role's policies. A refused login is ErrPermissionDenied; neither
// the JWT nor the token appears in any error.
func (c *Client) KubernetesLogin(ctx context.Context, mount, role string, jwt sensitive.String) (*Auth, error) {
	path := "auth/" + mount + "/login"
	s, err := c.Write(ctx, sensitive.String{}, path, map[string]any{"role": role, "jwt": jwt.Reveal()})
	if err != nil {
		return nil, err
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return nil, &Error{Kind: ErrInvalidRequest, Op: "logging in", Path: path, Detail: "no token in response"}
	}
	return authOf(s.Auth.ClientToken, s.Auth.Accessor, s.Auth.LeaseDuration, s.Auth.Policies), nil
}
