// Package setup makes a Vault or OpenBao server ready for Gatekeeper: the KV
// mount, the policies, per-tier accounts with login MFA tied to one
// approving human, and the bootstrap token. Running it again changes nothing
// that matters: passwords, the human's authenticator enrollment and a
// still-valid bootstrap token are kept.
//
// There is one layout for the single agent of stdio mode (Agent "") and one
// per named agent for HTTP mode, so that every Vault token belongs to
// exactly one agent and its policies reach only that agent's folder.
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
	KVMount  string        // KV v2 mount, e.g. "secret"
	Prefix   string        // agents' folder inside KVMount, e.g. "agent"
	ReadTTL  time.Duration // token TTL of read-tier accounts
	WriteTTL time.Duration // token TTL of write-tier accounts
}

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

// Folder is the agent's folder in the KV mount: what its paths are relative to.
func (l Layout) Folder(a Agent) string {
	if a == "" {
		return l.Prefix
	}
	return l.Prefix + "/" + string(a)
}

func (l Layout) ttl(t access.Tier) time.Duration {
	if t == access.Write {
		return l.WriteTTL
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
// read-tier login of the single agent and of every named agent, each
// guarded by login MFA, and nothing else.
func (l Layout) Bootstrap() Policy {
	hcl := fmt.Sprintf(`# Gatekeeper bootstrap: may only read read-tier logins, which Vault
# guards with login MFA. It can read no secret.
path "%s" {
  capabilities = ["read"]
}
path "%s" {
  capabilities = ["read"]
}
`, l.dataPath(Agent("").AccountPath(access.Read)), l.dataPath(OwnFolder+"/agents/+/tier/read")) + selfPolicy
	return Policy{Name: BootstrapPolicy, HCL: hcl}
}

// Tiers returns the agent's read and write policies: read reaches its
// folder and the write-tier login; write adds create and update there.
func (l Layout) Tiers(a Agent) []Policy {
	folder := l.Folder(a)
	list := fmt.Sprintf(`path "%s/*" {
  capabilities = ["read", "list"]
}
path "%s" {
  capabilities = ["list"]
}
`, l.metadataPath(folder), l.metadataPath(folder))

	read := fmt.Sprintf(`# Gatekeeper read tier for %s: read and list %s/%s/, and read the
# write-tier login (again guarded by login MFA).
path "%s" {
  capabilities = ["read"]
}
path "%s/*" {
  capabilities = ["read"]
}
`, describe(a), l.KVMount, folder, l.dataPath(a.AccountPath(access.Write)), l.dataPath(folder)) + list + selfPolicy

	write := fmt.Sprintf(`# Gatekeeper write tier for %s: read, plus create and update in %s/%s/.
path "%s/*" {
  capabilities = ["create", "read", "update"]
}
`, describe(a), l.KVMount, folder, l.dataPath(folder)) + list + selfPolicy

	return []Policy{
		{Name: a.PolicyName(access.Read), HCL: read},
		{Name: a.PolicyName(access.Write), HCL: write},
	}
}

// Policies returns the bootstrap policy and the tier policies of the given
// agents, in the order they build on each other.
func (l Layout) Policies(agents ...Agent) []Policy {
	out := []Policy{l.Bootstrap()}
	for _, a := range agents {
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
