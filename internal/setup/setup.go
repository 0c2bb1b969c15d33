package setup

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// Duo configures Duo push as the login MFA method instead of TOTP.
type Duo struct {
	Host           string // api-XXXXXXXX.duosecurity.com
	IntegrationKey string
	SecretKey      sensitive.String
	Username       string // the approving human's Duo username
}

// Options say what to set up: the named agents, or without any the single
// agent of stdio mode (stdio.go says why never both).
type Options struct {
	Layout Layout
	Agents []AgentSetup
	Duo    *Duo // nil: TOTP
	// Brokered also prepares the brokered-token strategy: token roles per
	// agent and tier, the broker policy and the broker token.
	Brokered bool
	// AppRole, if set, also writes the AppRole role Gatekeeper logs in with.
	AppRole *AppRole
}

// withTTLs is the layout with an agent's own TTLs.
func (l Layout) withTTLs(a AgentSetup) Layout {
	if a.ReadTTL > 0 {
		l.ReadTTL = a.ReadTTL
	}
	if a.WriteTTL > 0 {
		l.WriteTTL = a.WriteTTL
	}
	return l
}

// AgentSetup is one named agent. Zero TTLs take the Layout's.
type AgentSetup struct {
	Name     Agent
	ReadTTL  time.Duration
	WriteTTL time.Duration
}

// Result is what setup did and what the operator needs next. It prints the
// bootstrap token only where the caller asks for it.
type Result struct {
	VaultAddr      string           `json:"vault_addr"`
	KVMount        string           `json:"kv_mount"`
	Prefix         string           `json:"prefix"`
	BootstrapToken sensitive.String `json:"-"`
	BrokerToken    sensitive.String `json:"-"` // brokered strategy only
	// TOTPURL is the otpauth:// enrollment URL, set only when this run
	// enrolled the human; empty when an enrollment already existed.
	TOTPURL     string   `json:"totp_url"`
	MFAMethod   string   `json:"mfa_method"` // totp or duo
	MFAMethodID string   `json:"mfa_method_id"`
	EntityID    string   `json:"entity_id"`
	Agents      []string `json:"agents"`
	Policies    []string `json:"policies"`
	AuthMounts  []string `json:"auth_mounts"`
	Changed     []string `json:"changed"` // what this run created or altered
	// AppRole is the role Gatekeeper logs in with, if asked for.
	AppRole *AppRoleResult `json:"approle,omitempty"`
}

// Vault is the admin side of the Vault client that setup uses.
type Vault interface {
	Address() string
	Health(ctx context.Context) (*vault.Health, error)
	Read(ctx context.Context, tok sensitive.String, path string) (*vault.Secret, error)
	Write(ctx context.Context, tok sensitive.String, path string, data map[string]any) (*vault.Secret, error)
	List(ctx context.Context, tok sensitive.String, path string) (*vault.Secret, error)
	Delete(ctx context.Context, tok sensitive.String, path string) error
	MountKVv2(ctx context.Context, tok sensitive.String, mount string) error
	MountEngine(ctx context.Context, tok sensitive.String, path string, e vault.Engine) (created bool, err error)
	KVRead(ctx context.Context, tok sensitive.String, mount, path string) (*vault.KVSecret, error)
	KVWrite(ctx context.Context, tok sensitive.String, mount, path string, data map[string]any) (int64, error)
	LookupSelf(ctx context.Context, tok sensitive.String) (*vault.TokenInfo, error)
}

type run struct {
	v     Vault
	admin sensitive.String
	opts  Options
	res   *Result
	// authMounts is Vault's list of auth mounts, read once per run: with
	// three accounts per agent, listing it per account made setting up
	// many agents quadratic.
	authMounts map[string]any
}

// Apply makes the server ready, idempotently, using an admin token.
func Apply(ctx context.Context, v Vault, admin sensitive.String, opts Options) (*Result, error) {
	l := opts.Layout
	if err := CheckRoles(l.Roles); err != nil {
		return nil, fmt.Errorf("credential roles:\n%w", err)
	}
	r := &run{v: v, admin: admin, opts: opts, res: &Result{VaultAddr: v.Address(), KVMount: l.KVMount, Prefix: l.Prefix}}
	h, err := v.Health(ctx)
	if err != nil {
		return nil, fmt.Errorf("checking Vault: %w", err)
	}
	if !h.Initialized || h.Sealed {
		return nil, fmt.Errorf("vault at %s is not ready (initialized %v, sealed %v)", v.Address(), h.Initialized, h.Sealed)
	}
	if err := v.MountKVv2(ctx, admin, l.KVMount); err != nil {
		return nil, fmt.Errorf("preparing KV mount %s: %w", l.KVMount, err)
	}
	if err := r.exclusive(ctx); err != nil {
		return nil, err
	}
	if err := r.transitMount(ctx); err != nil {
		return nil, err
	}
	if err := r.stateKey(ctx); err != nil {
		return nil, err
	}
	agents := opts.Agents
	if len(agents) == 0 {
		agents = []AgentSetup{{}}
	}
	for _, a := range opts.Agents {
		r.res.Agents = append(r.res.Agents, string(a.Name))
	}
	if err := r.policy(ctx, l.Bootstrap(len(opts.Agents) > 0)); err != nil {
		return nil, err
	}
	entityID, err := r.entity(ctx)
	if err != nil {
		return nil, err
	}
	r.res.EntityID = entityID
	methodID, err := r.mfa(ctx, entityID)
	if err != nil {
		return nil, err
	}
	r.res.MFAMethodID = methodID
	for _, a := range agents {
		if err := r.agent(ctx, a, entityID, methodID); err != nil {
			return nil, err
		}
	}
	if r.res.BootstrapToken, err = r.bootstrap(ctx); err != nil {
		return nil, err
	}
	if opts.Brokered {
		if err := r.policy(ctx, l.Broker()); err != nil {
			return nil, err
		}
		for _, a := range agents {
			if err := r.roles(ctx, l.withTTLs(a), a.Name); err != nil {
				return nil, err
			}
		}
		if r.res.BrokerToken, err = r.brokerToken(ctx); err != nil {
			return nil, err
		}
	}
	if opts.AppRole != nil {
		if r.res.AppRole, err = r.appRole(ctx, *opts.AppRole); err != nil {
			return nil, err
		}
	}
	return r.res, nil
}

// agent sets up one agent: its tier policies, one account per tier tied to
// the approver entity with login MFA enforced on all, and its transit keys.
func (r *run) agent(ctx context.Context, a AgentSetup, entityID, methodID string) error {
	l := r.opts.Layout.withTTLs(a)
	for _, p := range l.Tiers(a.Name) {
		if err := r.policy(ctx, p); err != nil {
			return err
		}
	}
	var accessors []string
	for _, t := range Tiers {
		acc, err := r.account(ctx, l, a.Name, t)
		if err != nil {
			return err
		}
		if err := r.alias(ctx, entityID, acc); err != nil {
			return fmt.Errorf("tying the %s account to %s: %w", a.Name.AuthMount(t), entityName, err)
		}
		accessors = append(accessors, acc)
	}
	if _, err := r.v.Write(ctx, r.admin, "identity/mfa/login-enforcement/"+a.Name.Enforcement(), map[string]any{
		"mfa_method_ids":        []string{methodID},
		"auth_method_accessors": accessors,
	}); err != nil {
		return fmt.Errorf("enforcing login MFA on the accounts of %s: %w", describe(a.Name), err)
	}
	return r.keys(ctx, a.Name)
}

func (r *run) changed(what string) { r.res.Changed = append(r.res.Changed, what) }

func (r *run) policy(ctx context.Context, p Policy) error {
	path := "sys/policies/acl/" + p.Name
	cur, err := r.v.Read(ctx, r.admin, path)
	if err != nil && !errors.Is(err, vault.ErrNotFound) {
		return fmt.Errorf("reading policy %s: %w", p.Name, err)
	}
	if cur != nil && cur.Data["policy"] == p.HCL {
		r.res.Policies = append(r.res.Policies, p.Name)
		return nil
	}
	if _, err := r.v.Write(ctx, r.admin, path, map[string]any{"policy": p.HCL}); err != nil {
		return fmt.Errorf("writing policy %s: %w", p.Name, err)
	}
	r.res.Policies = append(r.res.Policies, p.Name)
	r.changed("policy " + p.Name)
	return nil
}

// account makes a tier's userpass mount and user, with a random password kept
// in KV, and returns the mount's accessor.
func (r *run) account(ctx context.Context, l Layout, a Agent, t access.Tier) (string, error) {
	mount, path := a.AuthMount(t), a.AccountPath(t)
	acc, err := r.authMount(ctx, mount)
	if err != nil {
		return "", err
	}
	r.res.AuthMounts = append(r.res.AuthMounts, mount)

	password := ""
	if cur, err := r.v.KVRead(ctx, r.admin, l.KVMount, path); err == nil {
		if kept, ok := vault.AccountFrom(cur.Data); ok && kept.Mount == mount && kept.Username == accountUser {
			password = kept.Password.Reveal()
		}
	} else if !errors.Is(err, vault.ErrNotFound) {
		return "", fmt.Errorf("reading the %s account: %w", mount, err)
	}
	if password == "" {
		password = randomString()
		kept := vault.Account{Mount: mount, Username: accountUser, Password: sensitive.New(password)}
		if _, err := r.v.KVWrite(ctx, r.admin, l.KVMount, path, kept.Data()); err != nil {
			return "", fmt.Errorf("storing the %s account: %w", mount, err)
		}
		r.changed("account " + mount)
	}
	ttl := fmt.Sprintf("%ds", int64(l.ttl(t).Seconds()))
	if _, err := r.v.Write(ctx, r.admin, "auth/"+mount+"/users/"+accountUser, map[string]any{
		"password":                password,
		"token_policies":          []string{a.PolicyName(t)},
		"token_no_default_policy": true,
		"token_type":              "service",
		"token_ttl":               ttl,
		"token_max_ttl":           ttl,
		"token_explicit_max_ttl":  ttl,
	}); err != nil {
		return "", fmt.Errorf("writing the %s user: %w", mount, err)
	}
	return acc, nil
}

// loadAuthMounts reads Vault's list of auth mounts once per run.
func (r *run) loadAuthMounts(ctx context.Context) error {
	if r.authMounts != nil {
		return nil
	}
	s, err := r.v.Read(ctx, r.admin, "sys/auth")
	if err != nil {
		return fmt.Errorf("listing auth mounts: %w", err)
	}
	r.authMounts = s.Data
	return nil
}

func (r *run) authMount(ctx context.Context, mount string) (string, error) {
	if err := r.loadAuthMounts(ctx); err != nil {
		return "", err
	}
	if m, ok := r.authMounts[mount+"/"].(map[string]any); ok {
		return userpassAccessor(mount, m)
	}
	if _, err := r.v.Write(ctx, r.admin, "sys/auth/"+mount, map[string]any{
		"type": "userpass", "description": "Gatekeeper tier account",
	}); err != nil {
		return "", fmt.Errorf("enabling userpass at %s: %w", mount, err)
	}
	r.changed("auth mount " + mount)
	s, err := r.v.Read(ctx, r.admin, "sys/auth/"+mount)
	if err != nil {
		return "", fmt.Errorf("reading auth mount %s after enabling it: %w", mount, err)
	}
	r.authMounts[mount+"/"] = s.Data
	return userpassAccessor(mount, s.Data)
}

// userpassAccessor returns the accessor of an auth mount's description
// (an entry of sys/auth), refusing a mount of another type.
func userpassAccessor(mount string, m map[string]any) (string, error) {
	if typ, _ := m["type"].(string); typ != "userpass" {
		return "", fmt.Errorf("auth mount %s exists with type %q, want userpass", mount, typ)
	}
	acc, _ := m["accessor"].(string)
	if acc == "" {
		return "", fmt.Errorf("auth mount %s has no accessor", mount)
	}
	return acc, nil
}

// entity makes the approving human's identity entity. Every agent's
// accounts are tied to it, so one authenticator enrollment serves them all.
func (r *run) entity(ctx context.Context) (string, error) {
	s, err := r.v.Read(ctx, r.admin, "identity/entity/name/"+entityName)
	if errors.Is(err, vault.ErrNotFound) {
		if _, err = r.v.Write(ctx, r.admin, "identity/entity", map[string]any{"name": entityName}); err != nil {
			return "", fmt.Errorf("creating entity %s: %w", entityName, err)
		}
		r.changed("entity " + entityName)
		s, err = r.v.Read(ctx, r.admin, "identity/entity/name/"+entityName)
	}
	if err != nil {
		return "", fmt.Errorf("reading entity %s: %w", entityName, err)
	}
	id, _ := s.Data["id"].(string)
	if id == "" {
		return "", fmt.Errorf("entity %s has no id", entityName)
	}
	return id, nil
}

func (r *run) alias(ctx context.Context, entityID, accessor string) error {
	s, err := r.v.Write(ctx, r.admin, "identity/lookup/entity", map[string]any{
		"alias_name": accountUser, "alias_mount_accessor": accessor,
	})
	if err != nil && !errors.Is(err, vault.ErrNotFound) {
		return err
	}
	if s != nil && s.Data["id"] == entityID {
		return nil
	}
	if s != nil {
		// A login before setup (or by hand) made its own entity for the
		// account: move the alias to the approver.
		for _, a := range anySlice(s.Data["aliases"]) {
			am, _ := a.(map[string]any)
			if am["mount_accessor"] == accessor && am["name"] == accountUser {
				aliasID, _ := am["id"].(string)
				_, err := r.v.Write(ctx, r.admin, "identity/entity-alias/id/"+aliasID, map[string]any{
					"canonical_id": entityID, "name": accountUser, "mount_accessor": accessor,
				})
				r.changed("alias moved to " + entityName)
				return err
			}
		}
	}
	if _, err := r.v.Write(ctx, r.admin, "identity/entity-alias", map[string]any{
		"name": accountUser, "canonical_id": entityID, "mount_accessor": accessor,
	}); err != nil {
		return err
	}
	r.changed("alias for " + accessor)
	return nil
}

func anySlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
