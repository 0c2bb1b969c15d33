package config

import (
	"reflect"
	"slices"
	"strings"
)

// What a reload may change: the agents and their settings, how callers
// authenticate (API keys, JWT and JWKS, mTLS identities), the rate limits
// and the reveal rules. Everything else is read once, at start: listeners,
// TLS files, Vault, the approval strategy, the audit sinks, the status
// page, shared state, http_request and the credentials. The OIDC issuer is
// published in the protected-resource metadata, so it stays too.
//
// Gatekeeper's own Vault credential is not compared: a reload keeps the
// running one (see docs/config.md).
var liveSettings = []string{
	"agents",
	"auth.api_keys",
	"auth.jwt.issuer", "auth.jwt.audience", "auth.jwt.jwks_url", "auth.jwt.hs256_secret_file",
	"auth.jwt.algorithms", "auth.jwt.leeway", "auth.jwt.max_lifetime",
	"auth.mtls",
	"limits",
	"reveal",
	"JWTSecret",
	"FileSHA256",
	"VaultToken",
}

// NeedsRestart lists the settings that differ between the running
// configuration and next but that a reload cannot change, by their names
// in the config file (or, for secrets, their environment variables). An
// empty list means next may replace running live.
func NeedsRestart(running, next Config) []string {
	var out []string
	diff(&out, "", reflect.ValueOf(running), reflect.ValueOf(next))
	// An agent may name another approver only among those built at start.
	was := running.approvers()
	for _, name := range next.approvers() {
		if !slices.Contains(was, name) {
			out = append(out, "agents[].approver "+name)
		}
	}
	return out
}

// diff adds to out the name of every field below prefix that is not live
// and differs.
func diff(out *[]string, prefix string, a, b reflect.Value) {
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name := fieldName(f)
		if prefix != "" {
			name = prefix + "." + name
		}
		if slices.Contains(liveSettings, name) {
			continue
		}
		fa, fb := a.Field(i), b.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == t.PkgPath() {
			diff(out, name, fa, fb)
			continue
		}
		if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
			*out = append(*out, displayName(name))
		}
	}
}

// fieldName is a field's key in the config file, else its Go name (the
// settings that come only from the environment).
func fieldName(f reflect.StructField) string {
	if tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); tag != "" && tag != "-" {
		return tag
	}
	return f.Name
}

// displayName names a setting without a file key by its environment
// variable (its value is never shown).
func displayName(name string) string {
	if v, ok := map[string]string{
		"DevMode":                  "gatekeeper dev",
		"DuoSecretKey":             "GATEKEEPER_DUO_SECRET_KEY",
		"PasskeyEnrollToken":       "GATEKEEPER_PASSKEY_ENROLL_TOKEN",
		"audit.Key":                "GATEKEEPER_AUDIT_KEY",
		"audit.http.Authorization": "audit.http.authorization_file",
		"status.OperatorToken":     "GATEKEEPER_OPERATOR_TOKEN",
		"http.MetricsToken":        "GATEKEEPER_METRICS_TOKEN",
	}[name]; ok {
		return v
	}
	return name
}

// approvers are the approvers the agents name.
func (c Config) approvers() []string {
	var out []string
	for _, a := range c.Agents {
		if a.Approver != "" && !slices.Contains(out, a.Approver) {
			out = append(out, a.Approver)
		}
	}
	return out
}
