// Package setup makes a Vault or OpenBao server ready for Gatekeeper: the KV
// mount, the policies, per-tier accounts with login MFA tied to one
// approving human, and the bootstrap token. Running it again changes nothing
// that matters: passwords, the human's authenticator enrollment and a
// still-valid bootstrap token are kept.
//
// A Vault holds either the layout of the single agent of stdio mode
// (Agent ""), whose folder is the whole prefix, or one layout per named
// agent, never both: every Vault token belongs to exactly one agent and its
// policies reach only that agent's folder (stdio.go).
//
// Policies renders the HCL without touching Vault, so an operator can review
// it first (gatekeeper policy).
package setup

import (
	"fmt"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
)

// Layout names everything setup creates. Serve reads the same names.
type Layout struct {
	KVMount      string        // KV v2 mount, e.g. "secret"
	Prefix       string        // agents' folder inside KVMount, e.g. "agent"
	TransitMount string        // transit mount; default "transit"
	ReadTTL      time.Duration // token TTL of read-tier accounts
	WriteTTL     time.Duration // token TTL of write-tier accounts
	// SharedState gives Gatekeeper's own identity the shared state of
	// replicas (state.go): its folder and transit key.
	SharedState bool
	// Roles are, per agent, the roles of dynamic-secrets engines its tier
	// policies may issue credentials from (roles.go).
	Roles map[Agent][]Role
}

// Transit is the transit mount.
func (l Layout) Transit() string {
	if l.TransitMount == "" {
		return "transit"
	}
	return l.TransitMount
}

// Tiers that have an account, a policy and a role.
var Tiers = []access.Tier{access.Read, access.Write, access.Destroy}

// Agent is one agent's share of the layout. The zero Agent is the single
// agent of stdio mode, which owns the whole prefix.
type Agent string

// Names of Gatekeeper's own objects. The KV folder is outside any agent
// prefix (config validation refuses a prefix that overlaps it).
const (
	OwnFolder      = "gatekeeper"
	accountUser    = "gatekeeper"
	entityName     = "gatekeeper-approver"
	totpMethodName = "gatekeeper-totp"
	duoMethodName  = "gatekeeper-duo"
	totpIssuer     = "Gatekeeper"
	bootstrapPath  = OwnFolder + "/bootstrap"
	// BootstrapPolicy is the policy of Gatekeeper's own token.
	BootstrapPolicy = "gatekeeper-bootstrap"
)

// name joins "gatekeeper", the agent (if any) and the suffix with dashes.
// A tier name is always the last part, so no two agents share a name.
func (a Agent) name(suffix string) string {
	if a == "" {
		return "gatekeeper-" + suffix
	}
	return "gatekeeper-" + string(a) + "-" + suffix
}

// AccountPath is where a tier's login material lives in the KV mount.
func (a Agent) AccountPath(t access.Tier) string {
	if a == "" {
		return OwnFolder + "/tier/" + t.String()
	}
	return OwnFolder + "/agents/" + string(a) + "/tier/" + t.String()
}

// AuthMount is the userpass mount of a tier's account.
func (a Agent) AuthMount(t access.Tier) string { return a.name(t.String()) }

// PolicyName names a tier's policy.
func (a Agent) PolicyName(t access.Tier) string { return a.name(t.String()) }

// Enforcement names the login MFA enforcement on the agent's accounts.
func (a Agent) Enforcement() string {
	if a == "" {
		return "gatekeeper"
	}
	return "gatekeeper-" + string(a)
}

// KeyPrefix starts the names of the agent's transit keys: its name, or
// "_stdio" for the single stdio agent (no agent name starts with "_").
// Keys are named PREFIX.KEY; agent names hold no dot, so no agent's key
// glob reaches another agent's keys.
func (a Agent) KeyPrefix() string {
	if a == "" {
		return "_stdio"
	}
	return string(a)
}

// KeyName is the transit key an agent calls key.
func (a Agent) KeyName(key string) string { return a.KeyPrefix() + "." + key }

// Folder is the agent's folder in the KV mount: what its paths are relative to.
func (l Layout) Folder(a Agent) string {
	if a == "" {
		return l.Prefix
	}
	return l.Prefix + "/" + string(a)
}

func (l Layout) ttl(t access.Tier) time.Duration {
	switch t {
	case access.Write:
		return l.WriteTTL
	case access.Destroy:
		return access.DefaultDestroyTTL
	}
	return l.ReadTTL
}

func (l Layout) dataPath(p string) string     { return fmt.Sprintf("%s/data/%s", l.KVMount, p) }
func (l Layout) metadataPath(p string) string { return fmt.Sprintf("%s/metadata/%s", l.KVMount, p) }

// Policy is one named ACL policy.
type Policy struct {
	Name string
	HCL  string
}

const selfPolicy = `
# Its own token: look up, shorten/renew, revoke.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
path "auth/token/renew-self" {
  capabilities = ["update"]
}
path "auth/token/revoke-self" {
  capabilities = ["update"]
}
`

// Bootstrap is the policy of Gatekeeper's own token: it may read the
// read-tier logins, each guarded by login MFA, and nothing else. With named
// agents those are the named agents' logins alone, each of which reaches
// one agent's folder; without, the single stdio agent's, which reaches the
// whole prefix. Never both: a token that serves named agents must not reach
// an account whose folder holds all of them.
func (l Layout) Bootstrap(named bool) Policy {
	login := l.dataPath(Agent("").AccountPath(access.Read))
	if named {
		login = l.dataPath(OwnFolder + "/agents/+/tier/read")
	}
	hcl := fmt.Sprintf(`# Gatekeeper bootstrap: may only read read-tier logins, which Vault
# guards with login MFA. It can read no secret.
path "%s" {
  capabilities = ["read"]
}
`, login) + selfPolicy + l.statePolicy()
	return Policy{Name: BootstrapPolicy, HCL: hcl}
}

// Tiers returns the agent's tier policies. Each tier reaches only the
// agent's folder and keys, and the login of the tier above it (which Vault
// guards with login MFA): read reads and lists, uses its transit keys;
// write adds create, update, patch and soft delete; destroy can do nothing
// but destroy versions, once, per approval.
func (l Layout) Tiers(a Agent) []Policy {
	folder := l.Folder(a)
	list := fmt.Sprintf(`path "%s/*" {
  capabilities = ["read", "list"]
}
path "%s" {
  capabilities = ["list"]
}
`, l.metadataPath(folder), l.metadataPath(folder))
	transit := fmt.Sprintf(`# Its own transit keys (%s.*): use them, never read them.
`, a.KeyPrefix())
	for _, op := range []string{"encrypt", "decrypt", "rewrap", "sign", "verify"} {
		transit += fmt.Sprintf("path \"%s/%s/%s.*\" {\n  capabilities = [\"update\"]\n}\n", l.Transit(), op, a.KeyPrefix())
	}
	login := func(t access.Tier) string {
		return fmt.Sprintf("path %q {\n  capabilities = [\"read\"]\n}\n", l.dataPath(a.AccountPath(t)))
	}

	read := fmt.Sprintf(`# Gatekeeper read tier for %s: read and list %s/%s/, and read the
# write-tier login (again guarded by login MFA).
`, describe(a), l.KVMount, folder) + login(access.Write) + fmt.Sprintf(`path "%s/*" {
  capabilities = ["read"]
}
`, l.dataPath(folder)) + list + transit + rolesHCL(l.Roles[a], access.Read) + selfPolicy

	write := fmt.Sprintf(`# Gatekeeper write tier for %s: read, plus create, update, patch and soft
# delete in %s/%s/, and read the destroy login (guarded by login MFA).
`, describe(a), l.KVMount, folder) + login(access.Destroy) + fmt.Sprintf(`path "%s/*" {
  capabilities = ["create", "read", "update", "patch", "delete"]
}
path "%s/delete/%s/*" {
  capabilities = ["update"]
}
path "%s/undelete/%s/*" {
  capabilities = ["update"]
}
`, l.dataPath(folder), l.KVMount, folder, l.KVMount, folder) + list + transit + rolesHCL(l.Roles[a], access.Write) + selfPolicy

	destroy := fmt.Sprintf(`# Gatekeeper destroy for %s: permanently destroy versions in %s/%s/,
# nothing else. Minted per approval, revoked after the one operation.
path "%s/destroy/%s/*" {
  capabilities = ["update"]
}
`, describe(a), l.KVMount, folder, l.KVMount, folder) + selfPolicy

	return []Policy{
		{Name: a.PolicyName(access.Read), HCL: read},
		{Name: a.PolicyName(access.Write), HCL: write},
		{Name: a.PolicyName(access.Destroy), HCL: destroy},
	}
}

// Policies returns the bootstrap policy and the tier policies of the named
// agents, or with none those of the single stdio agent, in the order they
// build on each other.
func (l Layout) Policies(named ...Agent) []Policy {
	out := []Policy{l.Bootstrap(len(named) > 0)}
	if len(named) == 0 {
		named = []Agent{""}
	}
	for _, a := range named {
		out = append(out, l.Tiers(a)...)
	}
	return out
}

func describe(a Agent) string {
	if a == "" {
		return "the stdio agent"
	}
	return "agent " + string(a)
}
