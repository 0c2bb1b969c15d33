// Package config reads Gatekeeper's settings from the environment, applies
// defaults in one place and validates everything at once. Secret values (the
// Vault token) come only from the environment, never from a flag.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/paths"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
)

// Config is what serve and setup run with.
type Config struct {
	VaultAddr       string
	VaultToken      sensitive.String // serve: the bootstrap token; setup: an admin token
	KVMount         string
	Prefix          string
	ReadTTL         time.Duration
	WriteTTL        time.Duration
	ApprovalTimeout time.Duration
	AuditFile       string // "" means stderr
	LogLevel        slog.Level
}

// Defaults.
const (
	DefaultKVMount = "secret"
	DefaultPrefix  = "agent"
)

// Var describes one environment variable, for parsing and for the README.
type Var struct {
	Name    string
	Default string
	Doc     string
}

// Vars lists every variable Gatekeeper reads. Any other GATEKEEPER_ variable
// is an error: a typo must not silently fall back to a default.
var Vars = []Var{
	{"VAULT_ADDR", "", "Vault or OpenBao address, e.g. https://vault.example:8200 (required)"},
	{"VAULT_TOKEN", "", "serve: the bootstrap token from setup; setup: an admin token (required)"},
	{"GATEKEEPER_KV_MOUNT", DefaultKVMount, "KV v2 mount holding the agents' secrets"},
	{"GATEKEEPER_PREFIX", DefaultPrefix, "folder in the mount that agents see; their paths are relative to it"},
	{"GATEKEEPER_READ_TTL", access.DefaultReadTTL.String(), "length of a read grant (and its token)"},
	{"GATEKEEPER_WRITE_TTL", access.DefaultWriteTTL.String(), "length of a write grant (and its token); never renewed"},
	{"GATEKEEPER_APPROVAL_TIMEOUT", access.DefaultApprovalTimeout.String(), "how long an approval may wait for the human"},
	{"GATEKEEPER_AUDIT_FILE", "", "append audit JSON lines to this file instead of stderr"},
	{"GATEKEEPER_LOG_LEVEL", "info", "debug, info, warn or error (debug log on stderr, separate from audit)"},
	{"GATEKEEPER_DUO_SECRET_KEY", "", "setup with Duo: the Duo integration's secret key"},
	{"GATEKEEPER_VAULT_BIN", "", "dev and tests: the Vault/OpenBao server binary to run"},
	{"GATEKEEPER_CACHE_DIR", "", "dev and tests: where the built Vault binary is cached"},
}

// FromEnv reads the configuration. environ is os.Environ(); every problem is
// reported at once.
func FromEnv(environ []string) (Config, error) {
	env := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	get := func(name string) string {
		if v, ok := env[name]; ok && v != "" {
			return v
		}
		for _, d := range Vars {
			if d.Name == name {
				return d.Default
			}
		}
		return ""
	}

	var errs []error
	known := map[string]bool{}
	for _, d := range Vars {
		known[d.Name] = true
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

	c := Config{
		VaultAddr:  get("VAULT_ADDR"),
		VaultToken: sensitive.New(strings.TrimSpace(get("VAULT_TOKEN"))),
		KVMount:    get("GATEKEEPER_KV_MOUNT"),
		Prefix:     get("GATEKEEPER_PREFIX"),
		AuditFile:  get("GATEKEEPER_AUDIT_FILE"),
	}
	duration := func(name string, dst *time.Duration) {
		d, err := time.ParseDuration(get(name))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a duration like 4h or 15m", name, get(name)))
			return
		}
		*dst = d
	}
	duration("GATEKEEPER_READ_TTL", &c.ReadTTL)
	duration("GATEKEEPER_WRITE_TTL", &c.WriteTTL)
	duration("GATEKEEPER_APPROVAL_TIMEOUT", &c.ApprovalTimeout)
	if err := c.LogLevel.UnmarshalText([]byte(get("GATEKEEPER_LOG_LEVEL"))); err != nil {
		errs = append(errs, fmt.Errorf("GATEKEEPER_LOG_LEVEL: %q is not debug, info, warn or error", get("GATEKEEPER_LOG_LEVEL")))
	}
	return c, errors.Join(errs...)
}

// Validate reports every problem at once and changes nothing.
func (c Config) Validate() error {
	var errs []error
	if c.VaultAddr == "" {
		errs = append(errs, errors.New("VAULT_ADDR is required"))
	} else if u, err := url.Parse(c.VaultAddr); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("VAULT_ADDR %q is not an http(s) URL", c.VaultAddr))
	}
	if c.VaultToken.IsZero() {
		errs = append(errs, errors.New("VAULT_TOKEN is required"))
	}
	if m, err := paths.Parse(c.KVMount, false); err != nil || m != c.KVMount {
		errs = append(errs, fmt.Errorf("GATEKEEPER_KV_MOUNT %q is not a mount path like secret", c.KVMount))
	}
	if p, err := paths.Parse(c.Prefix, false); err != nil || p != c.Prefix {
		errs = append(errs, fmt.Errorf("GATEKEEPER_PREFIX %q is not a folder path like agent", c.Prefix))
	} else if c.Prefix == setup.OwnFolder || strings.HasPrefix(c.Prefix, setup.OwnFolder+"/") {
		errs = append(errs, fmt.Errorf("GATEKEEPER_PREFIX %q overlaps Gatekeeper's own folder %q", c.Prefix, setup.OwnFolder))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"GATEKEEPER_READ_TTL", c.ReadTTL}, {"GATEKEEPER_WRITE_TTL", c.WriteTTL}, {"GATEKEEPER_APPROVAL_TIMEOUT", c.ApprovalTimeout}} {
		if d.v < time.Second || d.v%time.Second != 0 {
			errs = append(errs, fmt.Errorf("%s must be a whole number of seconds, at least 1s (got %s)", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// Layout is the Vault layout this configuration names.
func (c Config) Layout() setup.Layout {
	return setup.Layout{KVMount: c.KVMount, Prefix: c.Prefix, ReadTTL: c.ReadTTL, WriteTTL: c.WriteTTL}
}
