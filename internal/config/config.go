// Package config reads Gatekeeper's settings: defaults, then an optional
// YAML file (for many agents), then the environment, then flags, each
// overriding the one before. Defaults are applied in one place (Default),
// unknown file keys and unknown GATEKEEPER_ variables are errors, and
// Validate reports every problem at once without side effects.
//
// Secret values never come from a flag or from the file in plain text: the
// Vault token and the JWT secret come from the environment or from a file
// the config names; API keys appear only as hashes.
package config

import (
	"log/slog"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/clientauth"
	"github.com/gatekeeper-mcp/gatekeeper/internal/reveal"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
)

// Config is what every command runs with. The yaml tags are the file format.
type Config struct {
	VaultAddr      string    `yaml:"vault_addr"`
	VaultTokenFile string    `yaml:"vault_token_file"` // read at load time; VAULT_TOKEN wins
	VaultAuth      VaultAuth `yaml:"vault_auth"`       // or log in (Kubernetes auth, AppRole); see k8sauth.go
	// VaultNamespace is sent as X-Vault-Namespace on every request (Vault
	// Enterprise and OpenBao namespaces).
	VaultNamespace  string        `yaml:"vault_namespace"`
	KVMount         string        `yaml:"kv_mount"`
	TransitMount    string        `yaml:"transit_mount"`
	Prefix          string        `yaml:"prefix"`
	ReadTTL         time.Duration `yaml:"read_ttl"`
	WriteTTL        time.Duration `yaml:"write_ttl"`
	ApprovalTimeout time.Duration `yaml:"approval_timeout"`
	AuditFile       string        `yaml:"audit_file"` // "" means stderr
	LogLevel        string        `yaml:"log_level"`
	// Agent makes stdio mode act as this named agent (its layout and
	// namespace) instead of the single stdio agent.
	Agent    string   `yaml:"agent"`
	HTTP     HTTP     `yaml:"http"`
	Auth     Auth     `yaml:"auth"`
	Approval Approval `yaml:"approval"`
	Agents   []Agent  `yaml:"agents"`
	Limits   Limits   `yaml:"limits"`
	Reveal   Reveal   `yaml:"reveal"`
	Exec     Exec     `yaml:"exec"`
	Tracing  Tracing  `yaml:"tracing"`
	Audit    Audit    `yaml:"audit"`
	Status   Status   `yaml:"status"`
	State    State    `yaml:"state"` // see state.go

	HTTPRequest HTTPRequest `yaml:"http_request"` // see httprequest.go

	// Credentials are what agents may issue from Vault's dynamic-secrets
	// engines with their grants' tokens (see credentials.go).
	Credentials []Credential `yaml:"credentials"`

	// FileSHA256 is the SHA-256 (hex) of the config file read, "" without
	// one: serve audits it (config.loaded), never the values.
	FileSHA256 string `yaml:"-"`

	// DevMode is set by `gatekeeper dev` only: the dev approver is refused
	// everywhere else.
	DevMode bool `yaml:"-"`

	// VaultToken is the bootstrap token (serve) or an admin token (setup).
	VaultToken sensitive.String `yaml:"-"`
	// JWTSecret is the HS256 secret, from GATEKEEPER_JWT_SECRET or
	// auth.jwt.hs256_secret_file.
	JWTSecret sensitive.String `yaml:"-"`
	// DuoSecretKey is from GATEKEEPER_DUO_SECRET_KEY or
	// approval.duo.secret_key_file.
	DuoSecretKey sensitive.String `yaml:"-"`
	// PasskeyEnrollToken lets an operator register passkeys, from
	// GATEKEEPER_PASSKEY_ENROLL_TOKEN or approval.passkey.enroll_token_file.
	PasskeyEnrollToken sensitive.String `yaml:"-"`
}

// Approval strategies and approvers.
const (
	StrategyVaultMFA = "vault-mfa"
	StrategyBrokered = "brokered"
	ApproverDuo      = "duo"
	ApproverPasskey  = "passkey"
	ApproverDev      = "dev"
)

// Approval says how grants are approved and their tokens obtained.
type Approval struct {
	// Strategy: "vault-mfa" (Vault's login MFA approves; default) or
	// "brokered" (Gatekeeper's own approver, then a token minted through
	// a token role; VAULT_TOKEN is then the broker token).
	Strategy string `yaml:"strategy"`
	// Approver for the brokered strategy: "duo", "passkey", or "dev"
	// (only in gatekeeper dev). Agents may override it.
	Approver string        `yaml:"approver"`
	Cooldown time.Duration `yaml:"cooldown"` // after a denial; default 1m
	// Page is the approval page every pending approval gets.
	Page Page `yaml:"page"`
	// PasscodeFallback lets the agent pass the human's code (the
	// passcode argument): an opt-in fallback for clients where the page
	// cannot be reached. Off, such a code is refused and never sent to
	// Vault.
	PasscodeFallback bool    `yaml:"passcode_fallback"`
	Duo              Duo     `yaml:"duo"`
	Passkey          Passkey `yaml:"passkey"`
	Notify           Notify  `yaml:"notify"`
}

// Page is the approval listener: the page where the human answers each
// approval (a code, a passkey, a Deny), and passkey registration.
type Page struct {
	// Listen is host:port; default 127.0.0.1 with a free port (127.0.0.1:8444
	// with the passkey approver, whose keys are bound to the page's origin).
	Listen      string `yaml:"listen"`
	PublicURL   string `yaml:"public_url"`    // how the human reaches it; default http://localhost:PORT
	TLSCertFile string `yaml:"tls_cert_file"` // required off loopback
	TLSKeyFile  string `yaml:"tls_key_file"`
}

// Duo is Duo's Auth API, for push approvals that show the request.
type Duo struct {
	Host           string `yaml:"host"` // api-XXXXXXXX.duosecurity.com
	IntegrationKey string `yaml:"integration_key"`
	SecretKeyFile  string `yaml:"secret_key_file"` // or GATEKEEPER_DUO_SECRET_KEY
	// Username is the approver's Duo username; default: the agent's name.
	Username string `yaml:"username"`
	// CAFile replaces the CAs that Duo's API certificate is checked
	// against (a Duo API proxy, or tests); default: the Duo client's own.
	CAFile string `yaml:"ca_file"`
}

// Passkey is the passkey approver: answers on the approval page signed
// with a registered passkey or security key.
type Passkey struct {
	RPID            string `yaml:"rp_id"` // default: the page's host
	CredentialsFile string `yaml:"credentials_file"`
	EnrollTokenFile string `yaml:"enroll_token_file"` // or GATEKEEPER_PASSKEY_ENROLL_TOKEN
	// The older names of approval.page's settings, from when only the
	// passkey approver had a page; approval.page wins.
	Listen      string `yaml:"listen"`
	PublicURL   string `yaml:"public_url"`
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
}

// Notify sends approval links (every strategy's page) to a webhook.
type Notify struct {
	WebhookURL string `yaml:"webhook_url"`
	Kind       string `yaml:"kind"` // generic (JSON), ntfy or slack
}

// HTTP configures `serve --http`.
type HTTP struct {
	Listen       string `yaml:"listen"`         // host:port; empty means stdio
	TLSCertFile  string `yaml:"tls_cert_file"`  // with tls_key_file: serve HTTPS
	TLSKeyFile   string `yaml:"tls_key_file"`   //
	ClientCAFile string `yaml:"client_ca_file"` // CA for client certificates (mTLS)
	// PublicURL is how clients reach Gatekeeper (for RFC 9728 metadata);
	// default derived from the request.
	PublicURL string `yaml:"public_url"`
	// AllowedOrigins are browser origins allowed to call /mcp cross-origin.
	AllowedOrigins []string      `yaml:"allowed_origins"`
	Stateless      bool          `yaml:"stateless"`       // never keep sessions (any replica serves any request)
	SessionTimeout time.Duration `yaml:"session_timeout"` // idle sessions end after this
	// MaxSessionsPerAgent caps one agent's open MCP sessions; a new one
	// beyond it is refused (429) until one ends.
	MaxSessionsPerAgent int   `yaml:"max_sessions_per_agent"`
	MaxBodyBytes        int64 `yaml:"max_body_bytes"`
	// MetricsTokenFile holds the bearer token /metrics requires (or
	// GATEKEEPER_METRICS_TOKEN); without one, /metrics is open to anyone
	// who reaches the listener.
	MetricsTokenFile string `yaml:"metrics_token_file"`
	// MetricsToken is the token itself, from GATEKEEPER_METRICS_TOKEN or
	// metrics_token_file.
	MetricsToken sensitive.String `yaml:"-"`
}

// Auth configures how HTTP callers authenticate. Several methods may be on.
type Auth struct {
	APIKeys []APIKey `yaml:"api_keys"`
	JWT     JWT      `yaml:"jwt"`
	MTLS    MTLS     `yaml:"mtls"`
}

// APIKey maps the hash of one key to an agent.
type APIKey struct {
	ID      string   `yaml:"id"`
	Agent   string   `yaml:"agent"`
	SHA256  string   `yaml:"sha256"` // hex; `gatekeeper apikey` prints one
	Scopes  []string `yaml:"scopes"`
	Revoked bool     `yaml:"revoked"`
}

// JWT configures bearer JWTs: HS256 with a shared secret and/or keys from a
// JWKS URL or an OIDC issuer's discovery document.
type JWT struct {
	Issuer          string        `yaml:"issuer"`
	Audience        string        `yaml:"audience"`
	JWKSURL         string        `yaml:"jwks_url"`
	OIDCIssuer      string        `yaml:"oidc_issuer"`
	HS256SecretFile string        `yaml:"hs256_secret_file"`
	Algorithms      []string      `yaml:"algorithms"`
	Leeway          time.Duration `yaml:"leeway"`
	// MaxLifetime refuses tokens valid longer: exp - iat, or exp - now.
	MaxLifetime time.Duration `yaml:"max_lifetime"`
}

// MTLS configures client certificates.
type MTLS struct {
	// SPIFFE maps a certificate's SPIFFE ID (URI SAN) to an agent; other
	// certificates name their agent by CN.
	SPIFFE map[string]string `yaml:"spiffe"`
	// TrustedProxies may pass a verified client identity in ProxyHeader.
	TrustedProxies []string `yaml:"trusted_proxies"`
	ProxyHeader    string   `yaml:"proxy_header"`
}

// Agent is one named agent of HTTP mode.
type Agent struct {
	Name string `yaml:"name"`
	// Scopes are what a certificate identity of this agent may do, and the
	// most any credential of this agent gets. Empty: no ceiling for keys
	// and tokens, nothing for certificates.
	Scopes    []string      `yaml:"scopes"`
	Approver  string        `yaml:"approver"`     // overrides approval.approver
	DuoUser   string        `yaml:"duo_username"` // overrides approval.duo.username
	ReadTTL   time.Duration `yaml:"read_ttl"`
	WriteTTL  time.Duration `yaml:"write_ttl"`
	Rate      *Rate         `yaml:"rate"`
	Approvals *Rate         `yaml:"approvals"`
}

// Limits are the per-agent defaults.
type Limits struct {
	Rate      Rate `yaml:"rate"`      // tool calls
	Approvals Rate `yaml:"approvals"` // approval requests (stricter)
}

// Rate is a token bucket: PerMinute tokens a minute, up to Burst at once.
type Rate struct {
	PerMinute float64 `yaml:"per_minute"`
	Burst     int     `yaml:"burst"`
}

// Reveal keeps secret values out of the agent's context by path pattern:
// read_secret then returns field names only. First matching rule wins.
type Reveal struct {
	Default bool         `yaml:"default"` // default true
	Rules   []RevealRule `yaml:"rules"`
}

// RevealRule is one pattern (segments, "*" within one, "**" for any number).
type RevealRule struct {
	Pattern string `yaml:"pattern"`
	Reveal  bool   `yaml:"reveal"`
}

// Exec turns on run_with_secret (stdio only): allowed commands get secret
// values in their environment instead of the model getting them.
type Exec struct {
	Enabled bool     `yaml:"enabled"`
	Allowed []string `yaml:"allowed"` // absolute paths of executables
	// Env maps an allowed command to the variables a secret may set for it;
	// a command without an entry takes no secret.
	Env     map[string][]string `yaml:"env"`
	Timeout time.Duration       `yaml:"timeout"` // default 60s
}

// Defaults.
const (
	DefaultKVMount      = "secret"
	DefaultTransitMount = "transit"
	DefaultPrefix       = "agent"
	DefaultIssuer       = "gatekeeper"
	DefaultAudience     = "gatekeeper"
)

// Default is the configuration before any file, variable or flag.
func Default() Config {
	return Config{
		KVMount:         DefaultKVMount,
		TransitMount:    DefaultTransitMount,
		Prefix:          DefaultPrefix,
		ReadTTL:         access.DefaultReadTTL,
		WriteTTL:        access.DefaultWriteTTL,
		ApprovalTimeout: access.DefaultApprovalTimeout,
		LogLevel:        "info",
		VaultAuth: VaultAuth{
			Method:     VaultAuthToken,
			Kubernetes: KubernetesAuth{Mount: DefaultKubernetesMount, JWTFile: DefaultServiceAccountTokenFile},
			AppRole:    AppRoleAuth{Mount: DefaultAppRoleMount},
		},
		HTTP: HTTP{SessionTimeout: 30 * time.Minute, MaxSessionsPerAgent: 64, MaxBodyBytes: 1 << 20},
		Approval: Approval{
			Strategy: StrategyVaultMFA,
			Cooldown: access.DefaultDenialCooldown,
			Notify:   Notify{Kind: "generic"},
		},
		Auth:    Auth{JWT: JWT{Audience: DefaultAudience, Leeway: 30 * time.Second, MaxLifetime: clientauth.DefaultMaxLifetime}, MTLS: MTLS{ProxyHeader: "X-Forwarded-Client-Cert"}},
		Reveal:  Reveal{Default: true},
		Tracing: Tracing{SampleRatio: 1},
		Audit:   defaultAudit(),
		Status:  defaultStatus(),
		State:   defaultState(),
		Limits: Limits{
			Rate:      Rate{PerMinute: 600, Burst: 60},
			Approvals: Rate{PerMinute: 3, Burst: 5},
		},

		HTTPRequest: defaultHTTPRequest(),
	}
}

// JWTIssuer is the required "iss": as configured, else the OIDC issuer,
// else "gatekeeper" (what `gatekeeper token` mints).
func (c Config) JWTIssuer() string {
	switch {
	case c.Auth.JWT.Issuer != "":
		return c.Auth.JWT.Issuer
	case c.Auth.JWT.OIDCIssuer != "":
		return c.Auth.JWT.OIDCIssuer
	}
	return DefaultIssuer
}

// RevealPolicy is the reveal configuration as the reveal package takes it.
func (c Config) RevealPolicy() reveal.Policy {
	p := reveal.Policy{Default: c.Reveal.Default}
	for _, r := range c.Reveal.Rules {
		p.Rules = append(p.Rules, reveal.Rule{Pattern: r.Pattern, Reveal: r.Reveal})
	}
	return p
}

// Level is the debug log level.
func (c Config) Level() slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(c.LogLevel))
	return l
}

// Layout is the Vault layout this configuration names.
func (c Config) Layout() setup.Layout {
	return setup.Layout{KVMount: c.KVMount, Prefix: c.Prefix, TransitMount: c.TransitMount, ReadTTL: c.ReadTTL, WriteTTL: c.WriteTTL, SharedState: c.SharedState(), Roles: c.roles()}
}

// FindAgent returns the named agent's settings.
func (c Config) FindAgent(name string) (Agent, bool) {
	for _, a := range c.Agents {
		if a.Name == name {
			return a, true
		}
	}
	return Agent{}, false
}

// TTL is an agent's grant length for a tier: its own setting, else the
// global one. The stdio agent ("") uses the global one.
func (c Config) TTL(agent string, t access.Tier) time.Duration {
	a, _ := c.FindAgent(agent)
	if t == access.Write {
		if a.WriteTTL > 0 {
			return a.WriteTTL
		}
		return c.WriteTTL
	}
	if a.ReadTTL > 0 {
		return a.ReadTTL
	}
	return c.ReadTTL
}

// Default listen addresses of the approval page.
const (
	DefaultPageListen        = "127.0.0.1:0"
	DefaultPasskeyPageListen = "127.0.0.1:8444"
)

// ApprovalPage is the approval page's effective settings: approval.page,
// else the older approval.passkey names, else the defaults.
func (c Config) ApprovalPage() Page {
	p, old := c.Approval.Page, c.Approval.Passkey
	for _, f := range []struct {
		dst *string
		old string
	}{
		{&p.Listen, old.Listen}, {&p.PublicURL, old.PublicURL}, {&p.TLSCertFile, old.TLSCertFile}, {&p.TLSKeyFile, old.TLSKeyFile},
	} {
		if *f.dst == "" {
			*f.dst = f.old
		}
	}
	if p.Listen == "" {
		p.Listen = DefaultPageListen
		if c.UsesApprover(ApproverPasskey) {
			p.Listen = DefaultPasskeyPageListen
		}
	}
	return p
}

// UsesApprover reports whether the brokered strategy uses the named
// approver for the deployment or for an agent.
func (c Config) UsesApprover(name string) bool {
	if c.Approval.Strategy != StrategyBrokered {
		return false
	}
	if c.Approval.Approver == name {
		return true
	}
	for _, a := range c.Agents {
		if a.Approver == name {
			return true
		}
	}
	return false
}

// ApproverFor is the approver of an agent (brokered strategy).
func (c Config) ApproverFor(agent string) string {
	if a, ok := c.FindAgent(agent); ok && a.Approver != "" {
		return a.Approver
	}
	return c.Approval.Approver
}

// DuoUsername is the Duo username that approves for an agent.
func (c Config) DuoUsername(agent string) string {
	if a, ok := c.FindAgent(agent); ok && a.DuoUser != "" {
		return a.DuoUser
	}
	if c.Approval.Duo.Username != "" {
		return c.Approval.Duo.Username
	}
	return agent
}

// AgentSetups lists the named agents for setup, with their TTLs.
func (c Config) AgentSetups() []setup.AgentSetup {
	var out []setup.AgentSetup
	for _, a := range c.Agents {
		out = append(out, setup.AgentSetup{Name: setup.Agent(a.Name), ReadTTL: a.ReadTTL, WriteTTL: a.WriteTTL})
	}
	return out
}
