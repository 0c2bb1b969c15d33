package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// Var is one environment variable: its name, its default as documented,
// what it means and how it applies.
type Var struct {
	Name    string
	Default string
	Doc     string
	apply   func(c *Config, v string) error
}

func str(dst func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *dst(c) = v; return nil }
}

func duration(dst func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration like 4h or 15m", v)
		}
		*dst(c) = d
		return nil
	}
}

// none marks variables read elsewhere (by tools, or only by one command).
func none(*Config, string) error { return nil }

// Vars lists every variable Gatekeeper reads. Any other GATEKEEPER_ variable
// is an error: a typo must not silently fall back to a default.
var Vars = []Var{
	{"VAULT_ADDR", "", "Vault or OpenBao address, e.g. https://vault.example:8200 (required)", str(func(c *Config) *string { return &c.VaultAddr })},
	{"VAULT_TOKEN", "", "serve: the bootstrap token from setup; setup: an admin token (required unless vault_token_file)", func(c *Config, v string) error {
		c.VaultToken = sensitive.New(strings.TrimSpace(v))
		return nil
	}},
	{"VAULT_ROLE_ID", "", "serve: log in with this AppRole role id (with VAULT_SECRET_ID) instead of VAULT_TOKEN", str(func(c *Config) *string { return &c.VaultAuth.AppRole.RoleID })},
	{"VAULT_ROLE_ID_FILE", "", "file holding the AppRole role id (VAULT_ROLE_ID wins)", str(func(c *Config) *string { return &c.VaultAuth.AppRole.RoleIDFile })},
	{"VAULT_SECRET_ID", "", "the AppRole secret id", func(c *Config, v string) error {
		c.VaultAuth.AppRole.SecretID = sensitive.New(strings.TrimSpace(v))
		return nil
	}},
	{"VAULT_SECRET_ID_FILE", "", "file holding the AppRole secret id (VAULT_SECRET_ID wins)", str(func(c *Config) *string { return &c.VaultAuth.AppRole.SecretIDFile })},
	{"VAULT_NAMESPACE", "", "Vault Enterprise or OpenBao namespace, e.g. admin/team-a: sent as X-Vault-Namespace on every request", str(func(c *Config) *string { return &c.VaultNamespace })},
	{"GATEKEEPER_ENV_FILE", "", ".env file read before the environment, which wins (see docs/config.md); --env-file wins", none},
	{"GATEKEEPER_CONFIG", "", "YAML config file for many agents (see docs/config.md); --config wins", none},
	{"GATEKEEPER_KV_MOUNT", DefaultKVMount, "KV v2 mount holding the agents' secrets", str(func(c *Config) *string { return &c.KVMount })},
	{"GATEKEEPER_TRANSIT_MOUNT", DefaultTransitMount, "transit mount holding the agents' keys (PREFIX.KEY per agent)", str(func(c *Config) *string { return &c.TransitMount })},
	{"GATEKEEPER_PREFIX", DefaultPrefix, "folder in the mount that agents see; their paths are relative to it (HTTP agents: to PREFIX/AGENT)", str(func(c *Config) *string { return &c.Prefix })},
	{"GATEKEEPER_READ_TTL", access.DefaultReadTTL.String(), "length of a read grant (and its token)", duration(func(c *Config) *time.Duration { return &c.ReadTTL })},
	{"GATEKEEPER_WRITE_TTL", access.DefaultWriteTTL.String(), "length of a write grant (and its token); never renewed", duration(func(c *Config) *time.Duration { return &c.WriteTTL })},
	{"GATEKEEPER_APPROVAL_TIMEOUT", access.DefaultApprovalTimeout.String(), "how long an approval may wait for the human", duration(func(c *Config) *time.Duration { return &c.ApprovalTimeout })},
	{"GATEKEEPER_AUDIT_FILE", "", "append audit JSON lines to this file instead of stderr", str(func(c *Config) *string { return &c.AuditFile })},
	{"GATEKEEPER_AUDIT_KEY", "", "key of the audit hash chain: base64 of at least 32 random bytes (see docs/audit.md); or audit.key_file", func(c *Config, v string) error {
		c.Audit.Key = sensitive.New(strings.TrimSpace(v))
		return nil
	}},
	{"GATEKEEPER_AUDIT_MAX_FILE_BYTES", "0", "rotate the audit file before it passes this size; 0 never (rotated files are kept)", auditMaxBytesVar},
	{"GATEKEEPER_AUDIT_ON_FAILURE", AuditRefuse, "refuse a decision that cannot be audited, or continue (serve anyway, logging loudly)", str(func(c *Config) *string { return &c.Audit.OnFailure })},
	{"GATEKEEPER_AUDIT_SYSLOG", "", "also send audit lines to syslog: local, udp://HOST:PORT, tcp://HOST:PORT or unixgram:///PATH", auditSyslogVar},
	{"GATEKEEPER_AUDIT_HTTP_URL", "", "also POST each audit line to this collector (https, or http on loopback)", str(func(c *Config) *string { return &c.Audit.HTTP.URL })},
	{"GATEKEEPER_LOG_LEVEL", "info", "debug, info, warn or error (debug log on stderr, separate from audit)", str(func(c *Config) *string { return &c.LogLevel })},
	{"GATEKEEPER_AGENT", "", "stdio: act as this named agent (its namespace and accounts) instead of the single stdio agent", str(func(c *Config) *string { return &c.Agent })},
	{"GATEKEEPER_AGENTS", "", "HTTP without a config file: comma-separated agent names", func(c *Config, v string) error {
		c.Agents = nil
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				c.Agents = append(c.Agents, Agent{Name: name})
			}
		}
		return nil
	}},
	{"GATEKEEPER_HTTP_ADDR", "", "serve Streamable HTTP on this host:port instead of stdio; --http wins", str(func(c *Config) *string { return &c.HTTP.Listen })},
	{"GATEKEEPER_TLS_CERT_FILE", "", "HTTPS certificate (with GATEKEEPER_TLS_KEY_FILE)", str(func(c *Config) *string { return &c.HTTP.TLSCertFile })},
	{"GATEKEEPER_TLS_KEY_FILE", "", "HTTPS private key", str(func(c *Config) *string { return &c.HTTP.TLSKeyFile })},
	{"GATEKEEPER_CLIENT_CA_FILE", "", "CA bundle for client certificates (turns on mTLS)", str(func(c *Config) *string { return &c.HTTP.ClientCAFile })},
	{"GATEKEEPER_STATELESS", "false", "HTTP: keep no sessions, so any replica can serve any request", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		c.HTTP.Stateless = b
		return nil
	}},
	{"GATEKEEPER_JWT_SECRET", "", "HS256 secret for agent JWTs (at least 32 bytes); `gatekeeper token` signs with it", func(c *Config, v string) error {
		c.JWTSecret = sensitive.New(v)
		return nil
	}},
	{"GATEKEEPER_JWT_ISSUER", DefaultIssuer, "required `iss` of agent JWTs (default: the OIDC issuer if set, else gatekeeper)", str(func(c *Config) *string { return &c.Auth.JWT.Issuer })},
	{"GATEKEEPER_JWT_AUDIENCE", DefaultAudience, "required `aud` of agent JWTs", str(func(c *Config) *string { return &c.Auth.JWT.Audience })},
	{"GATEKEEPER_APPROVAL_STRATEGY", StrategyVaultMFA, "vault-mfa (Vault's login MFA approves) or brokered (Gatekeeper's approver, then a token role mints)", str(func(c *Config) *string { return &c.Approval.Strategy })},
	{"GATEKEEPER_APPROVER", "", "brokered: duo or passkey (dev only in gatekeeper dev)", str(func(c *Config) *string { return &c.Approval.Approver })},
	{"GATEKEEPER_APPROVAL_PAGE_ADDR", "", "where the approval page listens (default 127.0.0.1 and a free port; 127.0.0.1:8444 with the passkey approver); loopback unless approval.page TLS is configured", str(func(c *Config) *string { return &c.Approval.Page.Listen })},
	{"GATEKEEPER_APPROVAL_PAGE_URL", "", "how the human reaches the approval page (default http://localhost:PORT)", str(func(c *Config) *string { return &c.Approval.Page.PublicURL })},
	{"GATEKEEPER_PASSCODE_FALLBACK", "false", "also take the human's code from the agent (the passcode argument); off, codes are taken only on the approval page", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		c.Approval.PasscodeFallback = b
		return nil
	}},
	{"GATEKEEPER_DUO_SECRET_KEY", "", "the Duo integration's secret key (setup's Vault MFA method, or the duo approver)", func(c *Config, v string) error {
		c.DuoSecretKey = sensitive.New(v)
		return nil
	}},
	{"GATEKEEPER_PASSKEY_ENROLL_TOKEN", "", "passkey approver: the secret an operator uses once to register passkeys", func(c *Config, v string) error {
		c.PasskeyEnrollToken = sensitive.New(v)
		return nil
	}},
	{"GATEKEEPER_OTLP_ENDPOINT", "", "export OpenTelemetry traces over OTLP/HTTP to this collector URL (off when empty)", str(func(c *Config) *string { return &c.Tracing.OTLPEndpoint })},
	{"GATEKEEPER_VAULT_BIN", "", "dev and tests: the Vault/OpenBao server binary to run", none},
	{"GATEKEEPER_CACHE_DIR", "", "dev and tests: where the built Vault binary and CI's tools are cached", none},
	{"GATEKEEPER_PG_BIN", "", "dev and tests: the folder holding PostgreSQL's initdb, postgres and psql (default: the highest version under /usr/lib/postgresql)", none},
	{"GATEKEEPER_OPERATOR_TOKEN", "", "HTTP mode: turns on the status page; the secret an operator signs in with (at least 32 bytes)", func(c *Config, v string) error {
		c.Status.OperatorToken = sensitive.New(strings.TrimSpace(v))
		return nil
	}},
	{"GATEKEEPER_METRICS_TOKEN", "", "HTTP mode: /metrics then requires Authorization: Bearer with this token (at least 32 bytes); unset, /metrics is unauthenticated", func(c *Config, v string) error {
		c.HTTP.MetricsToken = sensitive.New(strings.TrimSpace(v))
		return nil
	}},
	{"GATEKEEPER_STATUS_ADDR", DefaultStatusListen, "where the status page listens (loopback unless status TLS is configured)", str(func(c *Config) *string { return &c.Status.Listen })},
	{"GATEKEEPER_STATE_BACKEND", StateMemory, "memory (one process) or vault (replicas share grants and pending approvals through Vault; see docs/replicas.md)", str(func(c *Config) *string { return &c.State.Backend })},
	{"GATEKEEPER_STATE_REVALIDATE", access.DefaultRevalidate.String(), "vault state: how long a replica uses a grant before asking the store again (0: every call)", duration(func(c *Config) *time.Duration { return &c.State.Revalidate })},
}

// secretVars are the variables whose value is a secret: a file holding
// one of them must be readable by its owner only.
var secretVars = map[string]bool{
	"VAULT_TOKEN": true, "VAULT_SECRET_ID": true,
	"GATEKEEPER_AUDIT_KEY": true, "GATEKEEPER_JWT_SECRET": true, "GATEKEEPER_DUO_SECRET_KEY": true,
	"GATEKEEPER_PASSKEY_ENROLL_TOKEN": true, "GATEKEEPER_OPERATOR_TOKEN": true,
	"GATEKEEPER_METRICS_TOKEN": true,
}

// HoldsSecret tells whether the variable name carries a secret.
func HoldsSecret(name string) bool { return secretVars[name] }

// Known tells whether Gatekeeper reads the variable name (it is in Vars).
func Known(name string) bool {
	for _, v := range Vars {
		if v.Name == name {
			return true
		}
	}
	return false
}

// Load builds the configuration: defaults, then the YAML file (path, else
// $GATEKEEPER_CONFIG, else none), then the environment. Every problem found
// while reading is reported at once; Validate checks the result.
func Load(environ []string, path string) (Config, error) {
	env := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	c := Default()
	var errs []error
	if path == "" {
		path = env["GATEKEEPER_CONFIG"]
	}
	if path != "" {
		if err := c.readFile(path); err != nil {
			errs = append(errs, err)
		}
	}

	known := map[string]bool{}
	for _, v := range Vars {
		known[v.Name] = true
		val, ok := env[v.Name]
		if !ok || val == "" {
			continue
		}
		if err := v.apply(&c, val); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", v.Name, err))
		}
	}
	var unknown []string
	for k := range env {
		if strings.HasPrefix(k, "GATEKEEPER_") && !known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		errs = append(errs, fmt.Errorf("%s is not a Gatekeeper setting", k))
	}

	// Secrets from files, where the environment gave none.
	for _, f := range []struct {
		dst  *sensitive.String
		path string
		name string
	}{
		{&c.VaultToken, c.VaultTokenFile, "vault_token_file"},
		{&c.VaultAuth.AppRole.SecretID, c.VaultAuth.AppRole.SecretIDFile, "VAULT_SECRET_ID_FILE (vault_auth.approle.secret_id_file)"},
		{&c.JWTSecret, c.Auth.JWT.HS256SecretFile, "auth.jwt.hs256_secret_file"},
		{&c.DuoSecretKey, c.Approval.Duo.SecretKeyFile, "approval.duo.secret_key_file"},
		{&c.PasskeyEnrollToken, c.Approval.Passkey.EnrollTokenFile, "approval.passkey.enroll_token_file"},
		{&c.Audit.Key, c.Audit.KeyFile, "audit.key_file"},
		{&c.Audit.HTTP.Authorization, c.Audit.HTTP.AuthorizationFile, "audit.http.authorization_file"},
		{&c.Status.OperatorToken, c.Status.OperatorTokenFile, "status.operator_token_file"},
		{&c.HTTP.MetricsToken, c.HTTP.MetricsTokenFile, "http.metrics_token_file"},
	} {
		if f.dst.IsZero() && f.path != "" {
			s, err := secretFile(f.path)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
			}
			*f.dst = s
		}
	}
	if ar := &c.VaultAuth.AppRole; ar.RoleID == "" && ar.RoleIDFile != "" {
		s, err := secretFile(ar.RoleIDFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("VAULT_ROLE_ID_FILE (vault_auth.approle.role_id_file): %w", err))
		}
		ar.RoleID = s.Reveal()
	}
	// token is the default method: a role id or secret id chooses AppRole.
	if c.VaultAuth.Method == VaultAuthToken && c.VaultAuth.AppRole.given() {
		c.VaultAuth.Method = VaultAuthAppRole
	}
	return c, errors.Join(errs...)
}

func (c *Config) readFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading the config file: %w", err)
	}
	sum := sha256.Sum256(b)
	c.FileSHA256 = hex.EncodeToString(sum[:])
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)                                            // an unknown key is a typo, not a default
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) { // an empty file is fine
		return fmt.Errorf("config file %s: %w", path, err)
	}
	// A second document ("---") would be ignored, its settings silently
	// lost, as with an unknown key. Empty ones (a trailing "---") are fine.
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil || !emptyDocument(&doc) {
			return fmt.Errorf("config file %s: more than one YAML document", path)
		}
	}
}

func emptyDocument(n *yaml.Node) bool {
	if len(n.Content) == 0 {
		return true
	}
	v := n.Content[0]
	return len(n.Content) == 1 && v.Kind == yaml.ScalarNode && v.Tag == "!!null" && (v.Value == "" || v.Value == "~")
}

// secretFile reads a secret kept in a file, trimmed of surrounding space.
func secretFile(path string) (sensitive.String, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return sensitive.String{}, fmt.Errorf("reading %s: %w", path, err)
	}
	return sensitive.New(strings.TrimSpace(string(b))), nil
}
