package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// Audit configures the audit trail's sinks and hash chain (docs/audit.md).
// The file itself is audit_file (GATEKEEPER_AUDIT_FILE), kept at the top
// level where it has always been.
type Audit struct {
	// KeyFile holds the chain's key (base64, at least 32 bytes once
	// decoded); GATEKEEPER_AUDIT_KEY wins. Required with audit_file.
	KeyFile string `yaml:"key_file"`
	// MaxFileBytes rotates audit_file before a record would take it past
	// this size; 0 never rotates. Rotated files are never deleted.
	MaxFileBytes int64 `yaml:"max_file_bytes"`
	// OnFailure: "refuse" (default) refuses a decision that cannot be
	// recorded in every sink; "continue" serves anyway, logging loudly.
	OnFailure string `yaml:"on_failure"`
	// Stderr also writes to stderr when another sink is set; with no
	// other sink, stderr is the sink.
	Stderr bool        `yaml:"stderr"`
	Syslog AuditSyslog `yaml:"syslog"`
	HTTP   AuditHTTP   `yaml:"http"`

	// Key is the key's text, from GATEKEEPER_AUDIT_KEY or key_file.
	Key sensitive.String `yaml:"-"`
}

// AuditSyslog sends every record to syslog as well.
type AuditSyslog struct {
	// Network: "local" (this machine's syslog socket), "udp", "tcp",
	// "unix" or "unixgram"; empty: no syslog.
	Network string `yaml:"network"`
	Address string `yaml:"address"` // host:port, or a socket path
	Tag     string `yaml:"tag"`     // default gatekeeper
}

// AuditHTTP POSTs every record to a collector as well.
type AuditHTTP struct {
	URL     string        `yaml:"url"`     // https (http only on loopback)
	Timeout time.Duration `yaml:"timeout"` // per record; default 5s, at most 1m
	// AuthorizationFile holds the Authorization header's value (for
	// example "Bearer …").
	AuthorizationFile string `yaml:"authorization_file"`

	Authorization sensitive.String `yaml:"-"`
}

// On-failure policies of the audit trail.
const (
	AuditRefuse   = "refuse"
	AuditContinue = "continue"
)

// minAuditFileBytes keeps rotation from making a file per record.
const minAuditFileBytes = 4096

func defaultAudit() Audit {
	return Audit{
		OnFailure: AuditRefuse,
		Syslog:    AuditSyslog{Tag: "gatekeeper"},
		HTTP:      AuditHTTP{Timeout: audit.DefaultHTTPTimeout},
	}
}

// auditSyslogVar reads GATEKEEPER_AUDIT_SYSLOG: "local", or a URL whose
// scheme is the network (udp://HOST:PORT, tcp://HOST:PORT,
// unixgram:///PATH, unix:///PATH).
func auditSyslogVar(c *Config, v string) error {
	if v == "local" {
		c.Audit.Syslog.Network, c.Audit.Syslog.Address = "local", ""
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" {
		return errors.New("not local or a URL like udp://HOST:514")
	}
	c.Audit.Syslog.Network, c.Audit.Syslog.Address = u.Scheme, u.Host
	if u.Scheme == "unix" || u.Scheme == "unixgram" {
		c.Audit.Syslog.Address = u.Path
	}
	return nil
}

func auditMaxBytesVar(c *Config, v string) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a number of bytes", v)
	}
	c.Audit.MaxFileBytes = n
	return nil
}

// validateAudit checks the audit section; it reads and opens nothing.
func (c Config) validateAudit() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	a := c.Audit
	if a.OnFailure != AuditRefuse && a.OnFailure != AuditContinue {
		add("audit.on_failure (GATEKEEPER_AUDIT_ON_FAILURE) %q is not refuse or continue", a.OnFailure)
	}
	if !a.Key.IsZero() {
		if _, err := audit.ParseKey(a.Key.Reveal()); err != nil {
			add("the audit key (GATEKEEPER_AUDIT_KEY or audit.key_file): %w", err)
		}
	} else if c.AuditFile != "" && a.KeyFile == "" { // an unreadable key_file is reported by Load
		add("the audit file (audit_file, GATEKEEPER_AUDIT_FILE) is hash-chained and needs a key in GATEKEEPER_AUDIT_KEY or audit.key_file (%s)", audit.MakeKey)
	}
	switch {
	case a.MaxFileBytes < 0:
		add("audit.max_file_bytes must not be negative (0 never rotates)")
	case a.MaxFileBytes > 0 && a.MaxFileBytes < minAuditFileBytes:
		add("audit.max_file_bytes must be at least %d (0 never rotates)", minAuditFileBytes)
	case a.MaxFileBytes > 0 && c.AuditFile == "":
		add("audit.max_file_bytes rotates the audit file: set audit_file (GATEKEEPER_AUDIT_FILE) too")
	}
	errs = append(errs, a.Syslog.check()...)
	errs = append(errs, a.HTTP.check()...)
	return errs
}

func (s AuditSyslog) check() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch s.Network {
	case "":
		if s.Address != "" {
			add("audit.syslog.address needs audit.syslog.network (local, udp, tcp, unix or unixgram)")
		}
	case "local":
		if s.Address != "" {
			add("audit.syslog: network local takes no address")
		}
	case "udp", "tcp":
		if _, port, err := net.SplitHostPort(s.Address); err != nil || port == "" {
			add("audit.syslog.address %q is not host:port like logs.example:514", s.Address)
		}
	case "unix", "unixgram":
		if !filepath.IsAbs(s.Address) {
			add("audit.syslog.address %q is not an absolute socket path", s.Address)
		}
	default:
		add("audit.syslog.network %q is not local, udp, tcp, unix or unixgram", s.Network)
	}
	if s.Network != "" && (s.Tag == "" || strings.ContainsAny(s.Tag, " \t\r\n:[]")) {
		add("audit.syslog.tag %q must be a word like gatekeeper", s.Tag)
	}
	return errs
}

func (h AuditHTTP) check() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if h.URL == "" {
		if h.AuthorizationFile != "" {
			add("audit.http.authorization_file needs audit.http.url")
		}
		return nil
	}
	u, err := url.Parse(h.URL)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))):
		add("audit.http.url (GATEKEEPER_AUDIT_HTTP_URL) %q must be an https URL (http only on loopback)", redactURL(h.URL))
	case u.User != nil:
		add("audit.http.url must not carry credentials: put the Authorization header's value in audit.http.authorization_file")
	}
	if h.Timeout <= 0 || h.Timeout > time.Minute {
		add("audit.http.timeout must be more than 0 and at most 1m (got %s)", h.Timeout)
	}
	return errs
}

// redactURL drops what a URL may hide a credential in.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}
