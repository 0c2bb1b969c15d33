package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/config"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// openAudit opens every configured audit sink and the Log over them. With
// an audit file, the chain continues from the file's last record. Every
// sink is required; a sink that cannot be opened stops the start.
func openAudit(cfg config.Config, stderr io.Writer, logger *slog.Logger) (*audit.Log, error) {
	a := cfg.Audit
	var key sensitive.String
	if !a.Key.IsZero() {
		k, err := audit.ParseKey(a.Key.Reveal())
		if err != nil {
			return nil, err
		}
		key = k
	}
	var sinks []audit.Sink
	fail := func(err error) (*audit.Log, error) {
		for _, s := range sinks {
			_ = s.Close()
		}
		return nil, err
	}
	var head audit.Head
	if cfg.AuditFile != "" {
		f, err := audit.NewFileSink(audit.FileOptions{Path: cfg.AuditFile, MaxBytes: a.MaxFileBytes, Key: key})
		if err != nil {
			return fail(err)
		}
		head = f.Head()
		sinks = append(sinks, f)
	}
	if a.Syslog.Network != "" {
		s, err := audit.NewSyslogSink(audit.SyslogOptions{Network: a.Syslog.Network, Address: a.Syslog.Address, Tag: a.Syslog.Tag})
		if err != nil {
			return fail(err)
		}
		sinks = append(sinks, s)
	}
	if a.HTTP.URL != "" {
		s, err := audit.NewHTTPSink(audit.HTTPOptions{URL: a.HTTP.URL, Timeout: a.HTTP.Timeout, Authorization: a.HTTP.Authorization})
		if err != nil {
			return fail(err)
		}
		sinks = append(sinks, s)
	}
	if a.Stderr || len(sinks) == 0 {
		sinks = append(sinks, audit.NewWriterSink("stderr", stderr))
	}
	if a.OnFailure == config.AuditContinue {
		logger.Warn("audit.on_failure is continue: a decision that cannot be audited is served anyway")
	}
	if !key.IsZero() && cfg.AuditFile != "" {
		logger.Info("audit chain continues", "file", cfg.AuditFile, "after_seq", head.Seq)
	}
	return audit.New(audit.Options{
		Sinks:    sinks,
		Continue: a.OnFailure == config.AuditContinue,
		Logger:   logger,
		Key:      key,
		Head:     head,
	}), nil
}

// recordConfigLoaded audits the configuration a server starts with: a
// digest of the config file, never its values.
func recordConfigLoaded(ctx context.Context, l *audit.Log, cfg config.Config) error {
	if err := l.Record(ctx, configEvent(audit.ConfigLoaded, cfg)); err != nil {
		return fmt.Errorf("recording the configuration in the audit log: %w", err)
	}
	return nil
}

// configEvent is the audit event name about cfg (loaded, reloaded): the
// digest of its file, never its values.
func configEvent(name string, cfg config.Config) audit.Event {
	e := audit.Event{Event: name, Outcome: audit.OK, Detail: "environment only"}
	if cfg.FileSHA256 != "" {
		e.Detail, e.Digest = "config file", "sha256:"+cfg.FileSHA256
	}
	return e
}

// closeAuditLog closes the sinks and logs the chain's head, for an operator
// to keep as the last known head (audit verify --head).
func closeAuditLog(l *audit.Log, logger *slog.Logger) {
	if err := l.Close(); err != nil {
		logger.Error("closing the audit log", "err", err)
	}
	if h := l.Head(); h.Seq > 0 {
		logger.Info("audit log closed", "last_seq", h.Seq, "head", h.MAC)
	}
}
