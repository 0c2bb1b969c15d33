// Package setup makes a Vault or OpenBao server ready for Gatekeeper: the KV
// mount, the three policies, the two tier accounts with login MFA tied to
// one approving human, and the bootstrap token. Running it again changes
// nothing that matters: passwords, the human's authenticator enrollment and
// a still-valid bootstrap token are kept.
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
	KVMount string        // KV v2 mount, e.g. "secret"
	Prefix  string        // agent-visible folder inside KVMount, e.g. "agent"
	ReadTTL time.Duration // token TTL of the read-tier account
	// WriteTTL is the token TTL of the write-tier account.
	WriteTTL time.Duration
}

// Names of Gatekeeper's own objects. The KV folder is outside any agent
// prefix (config validation refuses a prefix that overlaps it).
const (
	OwnFolder      = "gatekeeper"
	accountUser    = "gatekeeper"
	entityName     = "gatekeeper-approver"
	enforcement    = "gatekeeper"
	totpMethodName = "gatekeeper-totp"
	duoMethodName  = "gatekeeper-duo"
	totpIssuer     = "Gatekeeper"
	bootstrapPath  = OwnFolder + "/bootstrap"
)

// AccountPath is where a tier's login material lives in the KV mount.
func AccountPath(t access.Tier) string { return OwnFolder + "/tier/" + t.String() }

// AuthMount is the userpass mount of a tier's account.
func AuthMount(t access.Tier) string { return "gatekeeper-" + t.String() }

// PolicyName names the policy of a tier, or the bootstrap policy for None.
func PolicyName(t access.Tier) string {
	if t == access.None {
		return "gatekeeper-bootstrap"
	}
	return "gatekeeper-" + t.String()
}

func (l Layout) ttl(t access.Tier) time.Duration {
	if t == access.Write {
		return l.WriteTTL
	}
	return l.ReadTTL
}

func (l Layout) dataPath(p string) string     { return fmt.Sprintf("%s/data/%s", l.KVMount, p) }
func (l Layout) metadataPath(p string) string { return fmt.Sprintf("%s/metadata/%s", l.KVMount, p) }

// Policies returns each policy's HCL by name, in the order they build on
// each other: bootstrap, read, write.
func (l Layout) Policies() []Policy {
	self := `
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
	agentRead := fmt.Sprintf(`
# The agents' secrets: read and list, nothing else.
path "%s/*" {
  capabilities = ["read"]
}
path "%s/*" {
  capabilities = ["read", "list"]
}
path "%s" {
  capabilities = ["list"]
}
`, l.dataPath(l.Prefix), l.metadataPath(l.Prefix), l.metadataPath(l.Prefix))

	bootstrap := fmt.Sprintf(`# Gatekeeper bootstrap: may only read the read-tier login, which Vault
# guards with login MFA. It can read no secret.
path "%s" {
  capabilities = ["read"]
}
`, l.dataPath(AccountPath(access.Read))) + self

	read := fmt.Sprintf(`# Gatekeeper read tier: read the agents' secrets and the write-tier login
# (again guarded by login MFA).
path "%s" {
  capabilities = ["read"]
}
`, l.dataPath(AccountPath(access.Write))) + agentRead + self

	write := fmt.Sprintf(`# Gatekeeper write tier: read, plus create and update the agents' secrets.
path "%s/*" {
  capabilities = ["create", "read", "update"]
}
path "%s/*" {
  capabilities = ["read", "list"]
}
path "%s" {
  capabilities = ["list"]
}
`, l.dataPath(l.Prefix), l.metadataPath(l.Prefix), l.metadataPath(l.Prefix)) + self

	return []Policy{
		{Name: PolicyName(access.None), HCL: bootstrap},
		{Name: PolicyName(access.Read), HCL: read},
		{Name: PolicyName(access.Write), HCL: write},
	}
}

// Policy is one named ACL policy.
type Policy struct {
	Name string
	HCL  string
}
