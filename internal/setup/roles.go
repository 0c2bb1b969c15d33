package setup

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/paths"
)

// Engines Gatekeeper issues credentials from, with a grant's own token.
const (
	EngineDatabase = "database" // MOUNT/creds/ROLE: a database login with a lease
	EnginePKI      = "pki"      // MOUNT/issue/ROLE: a certificate (and key), leased when the role generates leases
	EngineSSH      = "ssh"      // MOUNT/sign/ROLE: a signed SSH certificate for the agent's public key
)

// Engines lists the engines, for messages.
var Engines = []string{EngineDatabase, EnginePKI, EngineSSH}

// Role is a role of a dynamic-secrets engine that an agent may issue
// credentials from, with the token of its grant at Tier. The operator
// creates the engine and the role in Vault; setup gives the agent's tier
// policy exactly that role's paths.
type Role struct {
	Engine string
	Mount  string
	Name   string
	Tier   access.Tier
}

// roleName is what a role name may be: one plain path segment. A "*" or
// "+" would be a glob in the policy, a "/" or ".." another path: each
// would reach roles that are not this one.
var roleName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

// check reports a role that cannot be given safely.
func (r Role) check() error {
	if !slices.Contains(Engines, r.Engine) {
		return fmt.Errorf("engine %q is not %s", r.Engine, strings.Join(Engines, ", "))
	}
	if m, err := paths.Parse(r.Mount, false); err != nil || m != r.Mount || strings.ContainsAny(r.Mount, "*+") {
		return fmt.Errorf("mount %q is not a plain mount path like %s", r.Mount, r.Engine)
	}
	if !roleName.MatchString(r.Name) {
		return fmt.Errorf("role %q is not a plain role name (letters, digits, - and _): a glob, a slash or a dot would reach other roles", r.Name)
	}
	if r.Tier != access.Read && r.Tier != access.Write {
		return fmt.Errorf("role %s/%s: tier must be read or write", r.Mount, r.Name)
	}
	return nil
}

// Path is where a credential is issued: MOUNT/creds/ROLE, MOUNT/issue/ROLE
// or MOUNT/sign/ROLE.
func (r Role) Path() string {
	return r.Mount + "/" + map[string]string{EngineDatabase: "creds", EnginePKI: "issue", EngineSSH: "sign"}[r.Engine] + "/" + r.Name
}

// hcl is the role's share of a tier policy: issuing from this role alone,
// and renewing (only to shorten it to the grant) and revoking the leases
// it issued, which sit under its path.
func (r Role) hcl() string {
	issue := "update"
	if r.Engine == EngineDatabase {
		issue = "read"
	}
	out := fmt.Sprintf("path %q {\n  capabilities = [%q]\n}\n", r.Path(), issue)
	if r.Engine != EngineSSH { // a signed SSH certificate has no lease
		out += fmt.Sprintf("path %q {\n  capabilities = [\"update\"]\n}\n", "sys/leases/revoke/"+r.Path()+"/*")
	}
	if r.Engine == EngineDatabase {
		out += fmt.Sprintf("path %q {\n  capabilities = [\"update\"]\n}\n", "sys/leases/renew/"+r.Path()+"/*")
	}
	return out
}

// rolesHCL is the share of the tier policy t of the agent's roles.
func rolesHCL(roles []Role, t access.Tier) string {
	var b strings.Builder
	for _, r := range roles {
		if r.Tier == t {
			b.WriteString(r.hcl())
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "# Credentials issued with this tier's token, which die with it.\n" + b.String()
}

// CheckRoles refuses roles that cannot be given safely: a name that is not
// plain, an unknown engine, and a role given to more than one agent, which
// would let one agent's token reach what another's issues. Every problem is
// reported at once.
func CheckRoles(byAgent map[Agent][]Role) error {
	var errs []error
	owner := map[string]Agent{}
	agents := make([]Agent, 0, len(byAgent))
	for a := range byAgent {
		agents = append(agents, a)
	}
	slices.Sort(agents)
	for _, a := range agents {
		for _, r := range byAgent[a] {
			if err := r.check(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", describe(a), err))
				continue
			}
			if o, ok := owner[r.Path()]; ok && o != a {
				errs = append(errs, fmt.Errorf("role %s is given to %s and to %s: a role belongs to one agent, or one agent's credentials reach the other's", r.Path(), describe(o), describe(a)))
				continue
			}
			owner[r.Path()] = a
		}
	}
	return errors.Join(errs...)
}
