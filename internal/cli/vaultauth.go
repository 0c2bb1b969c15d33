package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/gatekeeper-mcp/gatekeeper/internal/config"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaultauth"
)

// ownIdentity is Gatekeeper's own Vault identity as the configuration says:
// the given token (VAULT_TOKEN), or a login through AppRole or Kubernetes
// auth, so that no static token exists anywhere. A login refused now stops
// the start.
func ownIdentity(ctx context.Context, cfg config.Config, vc *vault.Client, logger *slog.Logger) (*vaultauth.Identity, error) {
	opts := vaultauth.Options{Vault: vc, Method: cfg.VaultAuth.Method, Logger: logger}
	switch cfg.VaultAuth.Method {
	case config.VaultAuthKubernetes:
		k := cfg.VaultAuth.Kubernetes
		opts.Login = func(ctx context.Context) (*vault.Auth, error) {
			// Read at each login: Kubernetes rotates a projected token.
			b, err := os.ReadFile(k.JWTFile)
			if err != nil {
				return nil, fmt.Errorf("reading the service account token: %w", err)
			}
			auth, err := vc.KubernetesLogin(ctx, k.Mount, k.Role, sensitive.New(strings.TrimSpace(string(b))))
			if err != nil {
				return nil, fmt.Errorf("auth/%s as role %s: %w", k.Mount, k.Role, err)
			}
			return auth, nil
		}
	case config.VaultAuthAppRole:
		a := cfg.VaultAuth.AppRole
		opts.Login = func(ctx context.Context) (*vault.Auth, error) {
			auth, err := vc.AppRoleLogin(ctx, a.Mount, a.RoleID, a.SecretID)
			if err != nil {
				return nil, fmt.Errorf("auth/%s: %w", a.Mount, err)
			}
			return auth, nil
		}
	default:
		opts.Token = cfg.VaultToken
	}
	return vaultauth.Start(ctx, opts)
}
