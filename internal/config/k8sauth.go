package config

import (
	"fmt"
	"path/filepath"
	"regexp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/paths"
)

// How Gatekeeper gets its own Vault token.
const (
	// VaultAuthToken: the token is given (VAULT_TOKEN or vault_token_file),
	// from setup (bootstrap or broker token), Vault Agent or an operator.
	VaultAuthToken = "token"
	// VaultAuthKubernetes: Gatekeeper logs in with its pod's service
	// account token through Vault's Kubernetes auth method, so no static
	// token exists anywhere.
	VaultAuthKubernetes = "kubernetes"
	// VaultAuthAppRole: Gatekeeper logs in with a role id and a secret id
	// through Vault's AppRole auth method (see approle.go).
	VaultAuthAppRole = "approle"

	DefaultKubernetesMount = "kubernetes"
	// DefaultServiceAccountTokenFile is where Kubernetes mounts the pod's
	// service account token.
	DefaultServiceAccountTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token" //nolint:gosec // G101: a path, not a token
)

// VaultAuth says how Gatekeeper obtains its own Vault token (the bootstrap
// token of the vault-mfa strategy, or the broker token of the brokered one).
type VaultAuth struct {
	Method     string         `yaml:"method"` // token (default), kubernetes or approle
	Kubernetes KubernetesAuth `yaml:"kubernetes"`
	AppRole    AppRoleAuth    `yaml:"approle"`
}

// KubernetesAuth is a login to Vault's Kubernetes auth method. The role must
// carry Gatekeeper's policy (gatekeeper-bootstrap, or the broker policy).
// Gatekeeper renews the token while it runs, logs in again when it cannot
// be renewed any more, and revokes it when it stops.
type KubernetesAuth struct {
	Mount   string `yaml:"mount"`    // default kubernetes
	Role    string `yaml:"role"`     // required
	JWTFile string `yaml:"jwt_file"` // default: the pod's service account token
}

var roleName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// validate checks the Vault login settings and their consistency with a
// given token.
func (a VaultAuth) validate(haveToken bool) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch a.Method {
	case VaultAuthToken:
		if !haveToken {
			add("VAULT_TOKEN is required (or vault_token_file in the config file, or VAULT_ROLE_ID and VAULT_SECRET_ID, or vault_auth.method: kubernetes)")
		}
	case VaultAuthAppRole:
		errs = append(errs, a.AppRole.validate(haveToken)...)
	case VaultAuthKubernetes:
		k := a.Kubernetes
		if haveToken {
			add("vault_auth.method kubernetes logs in with the service account: do not also set VAULT_TOKEN or vault_token_file")
		}
		if !roleName.MatchString(k.Role) {
			add("vault_auth.kubernetes.role %q is not a Vault role name (letters, digits, . _ -)", k.Role)
		}
		if m, err := paths.Parse(k.Mount, false); err != nil || m != k.Mount {
			add("vault_auth.kubernetes.mount %q is not a mount path like kubernetes", k.Mount)
		}
		if !filepath.IsAbs(k.JWTFile) {
			add("vault_auth.kubernetes.jwt_file %q is not an absolute path", k.JWTFile)
		}
		if a.AppRole.given() {
			add("vault_auth.method kubernetes: do not also set VAULT_ROLE_ID or VAULT_SECRET_ID (AppRole)")
		}
	default:
		add("vault_auth.method %q is not token, kubernetes or approle", a.Method)
	}
	return errs
}
