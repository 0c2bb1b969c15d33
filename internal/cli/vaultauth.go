package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/config"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// vaultLogin gives serve its own Vault token where the configuration says to
// log in rather than to read one (vault_auth.method: kubernetes): the pod's
// service account token is exchanged at Vault's Kubernetes auth method, so
// no static token exists anywhere. It returns the configuration with
// VaultToken set and a logout that revokes the token, for when serve ends.
//
// The token must be periodic: keepAlive renews it for as long as Gatekeeper
// runs, and nothing would log in again once a plain TTL ran out. A role
// without token_period is refused at start, with the token revoked, rather
// than failing hours later.
func vaultLogin(ctx context.Context, cfg config.Config, sys IO) (config.Config, func(), error) {
	if cfg.VaultAuth.Method != config.VaultAuthKubernetes {
		return cfg, func() {}, nil
	}
	k := cfg.VaultAuth.Kubernetes
	b, err := os.ReadFile(k.JWTFile)
	if err != nil {
		return cfg, nil, fmt.Errorf("vault_auth: reading the service account token: %w", err)
	}
	jwt := sensitive.New(strings.TrimSpace(string(b)))
	vc, err := vault.New(vault.Options{Address: cfg.VaultAddr})
	if err != nil {
		return cfg, nil, err
	}
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	auth, err := vc.KubernetesLogin(lctx, k.Mount, k.Role, jwt)
	if err != nil {
		return cfg, nil, fmt.Errorf("vault_auth: logging in to auth/%s as role %s: %w", k.Mount, k.Role, err)
	}
	info, err := vc.LookupSelf(lctx, auth.Token)
	if err == nil && (!info.Renewable || info.Period <= 0) {
		err = fmt.Errorf("the role %s gives a token that cannot be kept alive: set token_period on it (and no token_max_ttl)", k.Role)
	}
	if err != nil {
		_ = vc.RevokeSelf(lctx, auth.Token)
		return cfg, nil, fmt.Errorf("vault_auth: %w", err)
	}
	logger := newLogger(sys.Stderr, cfg.Level())
	logger.Info("logged in to Vault with the Kubernetes service account", "mount", k.Mount, "role", k.Role,
		"accessor", auth.Accessor, "policies", info.Policies, "period", info.Period)
	cfg.VaultToken = auth.Token
	logout := func() {
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := vc.RevokeSelf(rctx, auth.Token); err != nil {
			logger.Warn("revoking Gatekeeper's own Vault token at exit", "accessor", auth.Accessor, "err", err)
			return
		}
		logger.Info("revoked Gatekeeper's own Vault token", "accessor", auth.Accessor)
	}
	return cfg, logout, nil
}
