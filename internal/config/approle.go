package config

import (
	"fmt"
	"strings"

	"github.com/gatekeeper-mcp/gatekeeper/internal/paths"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// DefaultAppRoleMount is where Vault mounts the AppRole auth method unless
// told otherwise.
const DefaultAppRoleMount = "approle"

// AppRoleAuth is a login to Vault's AppRole auth method with a role id and
// a secret id. The role carries Gatekeeper's policy (gatekeeper-bootstrap,
// or the broker policy); `gatekeeper setup --approle` creates it. The
// method is approle as soon as a role id or a secret id is given.
type AppRoleAuth struct {
	Mount string `yaml:"mount"` // default approle
	// RoleID names the role; it is not a secret on its own, so the config
	// file may hold it. VAULT_ROLE_ID wins over role_id, which wins over
	// role_id_file.
	RoleID     string `yaml:"role_id"`
	RoleIDFile string `yaml:"role_id_file"`
	// SecretIDFile holds the secret id (VAULT_SECRET_ID wins): never the
	// config file itself.
	SecretIDFile string `yaml:"secret_id_file"`
	// SecretID is from VAULT_SECRET_ID or secret_id_file.
	SecretID sensitive.String `yaml:"-"`
}

// given tells whether any AppRole credential was configured.
func (a AppRoleAuth) given() bool {
	return a.RoleID != "" || a.RoleIDFile != "" || !a.SecretID.IsZero() || a.SecretIDFile != ""
}

func (a AppRoleAuth) validate(haveToken bool) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if haveToken {
		add("AppRole (VAULT_ROLE_ID, VAULT_SECRET_ID) logs in by itself: do not also set VAULT_TOKEN or vault_token_file")
	}
	if a.RoleID == "" {
		add("AppRole needs a role id: VAULT_ROLE_ID, VAULT_ROLE_ID_FILE or vault_auth.approle.role_id")
	} else if strings.IndexFunc(a.RoleID, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		add("the AppRole role id has spaces or control characters")
	}
	if a.SecretID.IsZero() {
		add("AppRole needs a secret id: VAULT_SECRET_ID, VAULT_SECRET_ID_FILE or vault_auth.approle.secret_id_file")
	}
	if m, err := paths.Parse(a.Mount, false); err != nil || m != a.Mount {
		add("vault_auth.approle.mount %q is not a mount path like approle", a.Mount)
	}
	return errs
}
