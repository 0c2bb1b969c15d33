package config

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/clientauth"
	"github.com/gatekeeper-mcp/gatekeeper/internal/execsecret"
	"github.com/gatekeeper-mcp/gatekeeper/internal/paths"
	"github.com/gatekeeper-mcp/gatekeeper/internal/reveal"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
)

// Scopes a credential may carry. delete and transit are reserved for the
// lifecycle and transit tools.
var Scopes = []string{"read", "list", "write", "delete", "transit"}

// Validate reports every problem at once and changes nothing.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.VaultAddr == "" {
		add("VAULT_ADDR (vault_addr) is required")
	} else if u, err := url.Parse(c.VaultAddr); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("VAULT_ADDR %q is not an http(s) URL", c.VaultAddr)
	}
	errs = append(errs, c.VaultAuth.validate(!c.VaultToken.IsZero())...)
	if ns := strings.TrimSuffix(c.VaultNamespace, "/"); c.VaultNamespace != "" {
		if p, err := paths.Parse(ns, false); err != nil || p != ns {
			add("VAULT_NAMESPACE %q is not a namespace path like admin/team-a", c.VaultNamespace)
		}
	}
	if m, err := paths.Parse(c.KVMount, false); err != nil || m != c.KVMount {
		add("GATEKEEPER_KV_MOUNT %q is not a mount path like secret", c.KVMount)
	}
	if m, err := paths.Parse(c.TransitMount, false); err != nil || m != c.TransitMount || m == c.KVMount {
		add("GATEKEEPER_TRANSIT_MOUNT %q is not a mount path like transit, apart from the KV mount", c.TransitMount)
	}
	if p, err := paths.Parse(c.Prefix, false); err != nil || p != c.Prefix {
		add("GATEKEEPER_PREFIX %q is not a folder path like agent", c.Prefix)
	} else if c.Prefix == setup.OwnFolder || strings.HasPrefix(c.Prefix, setup.OwnFolder+"/") {
		add("GATEKEEPER_PREFIX %q overlaps Gatekeeper's own folder %q", c.Prefix, setup.OwnFolder)
	}
	seconds := func(name string, d time.Duration, optional bool) {
		if optional && d == 0 {
			return
		}
		if d < time.Second || d%time.Second != 0 {
			add("%s must be a whole number of seconds, at least 1s (got %s)", name, d)
		}
	}
	seconds("GATEKEEPER_READ_TTL", c.ReadTTL, false)
	seconds("GATEKEEPER_WRITE_TTL", c.WriteTTL, false)
	seconds("GATEKEEPER_APPROVAL_TIMEOUT", c.ApprovalTimeout, false)
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(c.LogLevel)) {
		add("GATEKEEPER_LOG_LEVEL %q is not debug, info, warn or error", c.LogLevel)
	}
	if c.Agent != "" && !clientauth.ValidAgent(c.Agent) {
		add("GATEKEEPER_AGENT %q is not an agent name (lower-case letters, digits, - and _)", c.Agent)
	}

	names := map[string]bool{}
	for i, a := range c.Agents {
		where := fmt.Sprintf("agents[%d] %q", i, a.Name)
		if !clientauth.ValidAgent(a.Name) {
			add("%s: not an agent name (lower-case letters, digits, - and _, at most 63)", where)
		}
		if names[a.Name] {
			add("%s: declared twice", where)
		}
		names[a.Name] = true
		errs = append(errs, checkScopes(where, a.Scopes)...)
		seconds(where+" read_ttl", a.ReadTTL, true)
		seconds(where+" write_ttl", a.WriteTTL, true)
		for _, r := range []*Rate{a.Rate, a.Approvals} {
			if r != nil {
				errs = append(errs, r.check(where)...)
			}
		}
	}
	errs = append(errs, c.Limits.Rate.check("limits.rate")...)
	errs = append(errs, c.Limits.Approvals.check("limits.approvals")...)
	errs = append(errs, c.validateAuth(names)...)
	errs = append(errs, c.validateHTTP()...)
	errs = append(errs, c.validateApproval()...)
	errs = append(errs, c.Tracing.check()...)
	errs = append(errs, c.validateAudit()...)
	errs = append(errs, c.validateStatus()...)
	errs = append(errs, c.validateState()...)
	errs = append(errs, c.validateCredentials()...)
	errs = append(errs, c.validateHTTPRequest(names)...)
	if _, err := reveal.New(c.RevealPolicy()); err != nil {
		errs = append(errs, fmt.Errorf("reveal: %w", err))
	}
	if c.Exec.Enabled {
		if c.HTTP.Listen != "" {
			add("exec (run_with_secret) is for stdio only: over HTTP the command would run on the server, not beside the agent")
		}
		if len(c.Exec.Allowed) == 0 {
			add("exec.allowed must list the absolute paths of the commands run_with_secret may run")
		}
		for _, p := range c.Exec.Allowed {
			if !filepath.IsAbs(p) {
				add("exec.allowed: %q is not an absolute path", p)
			}
		}
		for _, p := range slices.Sorted(maps.Keys(c.Exec.Env)) {
			if !slices.Contains(c.Exec.Allowed, p) {
				add("exec.env: %q is not one of exec.allowed", p)
			}
			for _, name := range c.Exec.Env[p] {
				if err := execsecret.CheckAllowedName(name); err != nil {
					add("exec.env for %s: %v", p, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func checkScopes(where string, scopes []string) []error {
	var errs []error
	for _, s := range scopes {
		if !slices.Contains(Scopes, s) {
			errs = append(errs, fmt.Errorf("%s: unknown scope %q (known: %s)", where, s, strings.Join(Scopes, ", ")))
		}
	}
	return errs
}

func (r Rate) check(where string) []error {
	// Not "PerMinute <= 0": NaN compares false with everything, and YAML's
	// .nan and .inf would pass, leaving the limiter's behaviour undefined.
	if !(r.PerMinute > 0) || math.IsInf(r.PerMinute, 0) || r.Burst < 1 {
		return []error{fmt.Errorf("%s: per_minute must be positive and burst at least 1", where)}
	}
	return nil
}

func (c Config) validateAuth(agents map[string]bool) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	ids := map[string]bool{}
	for i, k := range c.Auth.APIKeys {
		where := fmt.Sprintf("auth.api_keys[%d] %q", i, k.ID)
		if k.ID == "" || ids[k.ID] {
			add("%s: needs a unique id", where)
		}
		ids[k.ID] = true
		if !agents[k.Agent] {
			add("%s: agent %q is not declared in agents", where, k.Agent)
		}
		if len(k.SHA256) != 64 || strings.Trim(strings.ToLower(k.SHA256), "0123456789abcdef") != "" {
			add("%s: sha256 must be 64 hex digits (the key's hash, never the key)", where)
		}
		errs = append(errs, checkScopes(where, k.Scopes)...)
	}
	j := c.Auth.JWT
	if !c.JWTSecret.IsZero() && len(c.JWTSecret.Reveal()) < 32 {
		add("GATEKEEPER_JWT_SECRET must be at least 32 bytes")
	}
	if j.JWKSURL != "" && j.OIDCIssuer != "" {
		add("auth.jwt: set jwks_url or oidc_issuer, not both")
	}
	for name, u := range map[string]string{"jwks_url": j.JWKSURL, "oidc_issuer": j.OIDCIssuer} {
		if u == "" {
			continue
		}
		// Keys fetched in the clear could be swapped in transit; only a
		// loopback IdP (tests, sidecars) may use plain http.
		if p, err := url.Parse(u); err != nil || p.Host == "" || (p.Scheme != "https" && !(p.Scheme == "http" && isLoopback(p.Hostname()))) {
			add("auth.jwt.%s %q must be an https URL (http only on loopback)", name, u)
		}
	}
	if c.jwtEnabled() && j.Audience == "" {
		add("auth.jwt: audience is required")
	}
	if j.Leeway < time.Second || j.Leeway > 60*time.Second {
		add("auth.jwt.leeway must be between 1s and 60s (got %s)", j.Leeway)
	}
	if j.MaxLifetime < time.Minute || j.MaxLifetime > 30*24*time.Hour {
		add("auth.jwt.max_lifetime must be between 1m and 720h (got %s)", j.MaxLifetime)
	}
	for spiffe, agent := range c.Auth.MTLS.SPIFFE {
		if !strings.HasPrefix(spiffe, "spiffe://") {
			add("auth.mtls.spiffe: %q is not a spiffe:// ID", spiffe)
		}
		if !agents[agent] {
			add("auth.mtls.spiffe: agent %q is not declared in agents", agent)
		}
	}
	for _, p := range c.Auth.MTLS.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			add("auth.mtls.trusted_proxies: %q is not a CIDR prefix like 10.0.0.0/8", p)
		}
	}
	return errs
}

func (c Config) jwtEnabled() bool {
	return !c.JWTSecret.IsZero() || c.Auth.JWT.JWKSURL != "" || c.Auth.JWT.OIDCIssuer != ""
}

// AuthMethods names the client authentication methods that are on.
func (c Config) AuthMethods() []string {
	var out []string
	if len(c.Auth.APIKeys) > 0 {
		out = append(out, "api_key")
	}
	if c.jwtEnabled() {
		out = append(out, "jwt")
	}
	if c.HTTP.ClientCAFile != "" || len(c.Auth.MTLS.TrustedProxies) > 0 {
		out = append(out, "mtls")
	}
	return out
}

func (c Config) validateHTTP() []error {
	h := c.HTTP
	if h.Listen == "" {
		return nil
	}
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, err := netip.ParseAddrPort(h.Listen); err != nil && !strings.HasPrefix(h.Listen, "localhost:") {
		add("http listen address %q is not host:port like 127.0.0.1:8080", h.Listen)
	}
	if (h.TLSCertFile == "") != (h.TLSKeyFile == "") {
		add("TLS needs both a certificate and a key file")
	}
	if h.ClientCAFile != "" && h.TLSCertFile == "" {
		add("client certificates (client_ca_file) need HTTPS (tls_cert_file and tls_key_file)")
	}
	if len(c.AuthMethods()) == 0 {
		add("HTTP mode needs at least one client authentication method (API keys, JWT or mTLS)")
	}
	if len(c.Agents) == 0 {
		add("HTTP mode needs agents: declare them in the config file or GATEKEEPER_AGENTS")
	}
	if h.PublicURL != "" {
		if u, err := url.Parse(h.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			add("http.public_url %q is not an http(s) URL", h.PublicURL)
		}
	}
	for _, o := range h.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" {
			add("http.allowed_origins: %q is not an origin like https://app.example", o)
		}
	}
	if h.MaxBodyBytes < 1024 {
		add("http.max_body_bytes must be at least 1024")
	}
	if h.MaxSessionsPerAgent < 1 {
		add("http.max_sessions_per_agent must be at least 1")
	}
	if !h.MetricsToken.IsZero() && len(h.MetricsToken.Reveal()) < MinMetricsToken {
		add("GATEKEEPER_METRICS_TOKEN (http.metrics_token_file) must be at least %d bytes", MinMetricsToken)
	}
	return errs
}

// MinMetricsToken keeps the metrics token out of reach of guessing, as
// for the operator token.
const MinMetricsToken = 32

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func (c Config) validateApproval() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	a := c.Approval
	if a.Cooldown < 0 {
		add("approval.cooldown must not be negative")
	}
	if n := a.Notify; n.WebhookURL != "" {
		if u, err := url.Parse(n.WebhookURL); err != nil || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
			add("approval.notify.webhook_url %q must be https (http only on loopback)", n.WebhookURL)
		}
		if !slices.Contains([]string{"generic", "ntfy", "slack"}, n.Kind) {
			add("approval.notify.kind %q is not generic, ntfy or slack", n.Kind)
		}
	}

	errs = append(errs, c.validatePage()...)

	switch a.Strategy {
	case StrategyVaultMFA:
		if a.Approver != "" {
			add("approval.approver %q needs approval.strategy brokered (with vault-mfa, Vault's login MFA approves)", a.Approver)
		}
		return errs
	case StrategyBrokered:
	default:
		add("approval.strategy %q is not vault-mfa or brokered", a.Strategy)
		return errs
	}
	used := map[string]bool{}
	check := func(where, name string) {
		switch name {
		case ApproverDuo, ApproverPasskey:
		case ApproverDev:
			if !c.DevMode {
				add("%s: the dev approver is only for gatekeeper dev", where)
			}
		case "":
			add("%s: the brokered strategy needs an approver (duo or passkey)", where)
		default:
			add("%s: %q is not duo, passkey or dev", where, name)
		}
		used[name] = true
	}
	check("approval.approver", a.Approver)
	for _, ag := range c.Agents {
		if ag.Approver != "" {
			check("agents "+ag.Name+" approver", ag.Approver)
		}
	}
	if used[ApproverDuo] {
		if a.Duo.Host == "" || a.Duo.IntegrationKey == "" || c.DuoSecretKey.IsZero() {
			add("approval.duo needs host, integration_key and the secret key (GATEKEEPER_DUO_SECRET_KEY or secret_key_file)")
		}
		if c.HTTP.Listen == "" && c.Agent == "" && a.Duo.Username == "" {
			add("approval.duo.username is required for the stdio agent (named agents default to their name)")
		}
	}
	if used[ApproverPasskey] && a.Passkey.CredentialsFile == "" {
		add("approval.passkey.credentials_file is required (registered passkeys are kept there)")
	}
	return errs
}

// validatePage checks the approval page's listener, under its own names
// and the older approval.passkey ones.
func (c Config) validatePage() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	pg, old := c.Approval.Page, c.Approval.Passkey
	for _, f := range []struct{ name, now, old string }{
		{"listen", pg.Listen, old.Listen}, {"public_url", pg.PublicURL, old.PublicURL},
		{"tls_cert_file", pg.TLSCertFile, old.TLSCertFile}, {"tls_key_file", pg.TLSKeyFile, old.TLSKeyFile},
	} {
		if f.now != "" && f.old != "" && f.now != f.old {
			add("approval.passkey.%s is the older name of approval.page.%s: set one of them", f.name, f.name)
		}
	}
	p := c.ApprovalPage()
	ap, err := netip.ParseAddrPort(p.Listen)
	if err != nil {
		add("approval.page.listen %q is not host:port like 127.0.0.1:8444", p.Listen)
	} else if !ap.Addr().IsLoopback() && p.TLSCertFile == "" {
		add("approval.page off loopback needs tls_cert_file and tls_key_file")
	}
	if (p.TLSCertFile == "") != (p.TLSKeyFile == "") {
		add("approval.page TLS needs both a certificate and a key file")
	}
	if p.PublicURL != "" {
		if u, err := url.Parse(p.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			add("approval.page.public_url %q is not an http(s) URL", p.PublicURL)
		}
	}
	return errs
}
