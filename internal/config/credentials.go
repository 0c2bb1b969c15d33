package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/secretuse"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
)

// Credential is one credential an agent may ask for by name
// (issue_credential): a role of one of Vault's dynamic-secrets engines,
// issued with the token of the agent's grant at Tier, so that Vault ends
// it when that grant ends.
type Credential struct {
	Name   string `yaml:"name"`   // what the agent asks for
	Engine string `yaml:"engine"` // database, pki or ssh
	Mount  string `yaml:"mount"`  // default: the engine's name
	Role   string `yaml:"role"`   // the Vault role on that mount
	Tier   string `yaml:"tier"`   // read (default) or write
	// Agents may ask for it; empty: the deployment's agents (the named
	// ones, else the stdio agent). A role belongs to one agent.
	Agents []string `yaml:"agents"`
	// CommonNames (pki) are the names the agent may ask a certificate
	// for: exact names, or "*.example.internal" for one label under it.
	CommonNames []string `yaml:"common_names"`
}

// commonName is a DNS name, or "*." and one: what pki common_names holds.
var commonName = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// TierOf is the credential's tier; "" is read.
func (c Credential) TierOf() access.Tier {
	if c.Tier == "write" {
		return access.Write
	}
	return access.Read
}

// MountOf is the credential's mount; "" is the engine's name.
func (c Credential) MountOf() string {
	if c.Mount == "" {
		return c.Engine
	}
	return c.Mount
}

// SetupRole is the credential's role as setup gives it.
func (c Credential) SetupRole() setup.Role {
	return setup.Role{Engine: c.Engine, Mount: c.MountOf(), Name: c.Role, Tier: c.TierOf()}
}

// credentialAgents are the agents a credential is for: as listed, else the
// named agents of the deployment, else the stdio agent ("", or
// GATEKEEPER_AGENT's).
func (c Config) credentialAgents(cr Credential) []string {
	switch {
	case len(cr.Agents) > 0:
		return cr.Agents
	case len(c.Agents) > 0:
		out := make([]string, 0, len(c.Agents))
		for _, a := range c.Agents {
			out = append(out, a.Name)
		}
		return out
	}
	return []string{c.Agent}
}

// CredentialsFor lists the credentials agent may ask for ("" is the
// single stdio agent).
func (c Config) CredentialsFor(agent string) []Credential {
	var out []Credential
	for _, cr := range c.Credentials {
		if slices.Contains(c.credentialAgents(cr), agent) {
			out = append(out, cr)
		}
	}
	return out
}

// roles are, per agent, the roles its tier policies reach.
func (c Config) roles() map[setup.Agent][]setup.Role {
	if len(c.Credentials) == 0 {
		return nil
	}
	out := map[setup.Agent][]setup.Role{}
	for _, cr := range c.Credentials {
		for _, a := range c.credentialAgents(cr) {
			out[setup.Agent(a)] = append(out[setup.Agent(a)], cr.SetupRole())
		}
	}
	return out
}

func (c Config) validateCredentials() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	names := map[string]bool{}
	for i, cr := range c.Credentials {
		where := fmt.Sprintf("credentials[%d] %q", i, cr.Name)
		if !secretuse.ValidCredentialName(cr.Name) { // what the agent types, and its reveal path's last segment
			add("%s: name must be 1 to 63 lower-case letters, digits, - and _", where)
		}
		if names[cr.Name] {
			add("%s: declared twice", where)
		}
		names[cr.Name] = true
		if !slices.Contains(setup.Engines, cr.Engine) {
			add("%s: engine %q is not %s", where, cr.Engine, strings.Join(setup.Engines, ", "))
		}
		if cr.Role == "" {
			add("%s: role is required (the Vault role on the %s mount)", where, cr.MountOf())
		}
		if cr.Tier != "" && cr.Tier != "read" && cr.Tier != "write" {
			add("%s: tier %q is not read or write", where, cr.Tier)
		}
		if m := cr.MountOf(); m == c.KVMount || m == c.TransitMount || m == "sys" || m == "auth" || m == "identity" {
			add("%s: mount %q is Gatekeeper's or Vault's own", where, m)
		}
		for _, a := range cr.Agents {
			if _, ok := c.FindAgent(a); !ok && a != c.Agent {
				add("%s: agent %q is not declared in agents", where, a)
			}
		}
		switch {
		case cr.Engine == setup.EnginePKI && len(cr.CommonNames) == 0:
			add("%s: a pki credential needs common_names: the names its certificates may carry", where)
		case cr.Engine != setup.EnginePKI && len(cr.CommonNames) > 0:
			add("%s: common_names is for pki credentials", where)
		}
		for _, n := range cr.CommonNames {
			if !commonName.MatchString(n) {
				add("%s: common_names: %q is not a lower-case DNS name or *.name", where, n)
			}
		}
	}
	if err := setup.CheckRoles(c.roles()); err != nil {
		errs = append(errs, fmt.Errorf("credentials: %w", err))
	}
	return errs
}

// AllowsName reports whether a pki credential may carry name: one of
// CommonNames, or one label under a "*." entry.
func (c Credential) AllowsName(name string) bool {
	name = strings.ToLower(name)
	if !commonName.MatchString(name) || strings.HasPrefix(name, "*.") {
		return false
	}
	for _, n := range c.CommonNames {
		if rest, ok := strings.CutPrefix(n, "*."); ok {
			if label, under, ok := strings.Cut(name, "."); ok && under == rest && label != "" {
				return true
			}
		} else if n == name {
			return true
		}
	}
	return false
}
