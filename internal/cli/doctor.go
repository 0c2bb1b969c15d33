package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/gatekeeper-mcp/gatekeeper/internal/config"
	"github.com/gatekeeper-mcp/gatekeeper/internal/doctor"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaultauth"
)

// ErrChecksFailed means gatekeeper doctor found something serve needs
// missing or broken; the report says what and how to fix it.
var ErrChecksFailed = errors.New("a check failed")

// doctorCmd is `gatekeeper doctor`: check against the real Vault everything
// serve needs, one line per check with a fix for each failure. Exit status:
// 0 when every check passed, 1 when one failed, 2 on a usage error.
func doctorCmd(ctx context.Context, args []string, sys IO) error {
	fs := flags("doctor", "Check, against the real Vault/OpenBao, everything serve needs: one line per check,\n"+
		"with a fix for each failure. Exit status: 0 every check passed, 1 a check failed, 2 usage.", sys)
	configFile := fs.String("config", "", "YAML config file (default $GATEKEEPER_CONFIG)")
	httpAddr := fs.String("http", "", "check as for serve --http ADDR (every configured agent)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	envFile := envFileFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	rep := diagnose(ctx, sys, *envFile, *configFile, *httpAddr)
	write := rep.WriteText
	if *asJSON {
		write = rep.WriteJSON
	}
	if err := write(sys.Stdout); err != nil {
		return err
	}
	if !rep.OK {
		return ErrChecksFailed
	}
	return nil
}

// diagnose loads the configuration as serve would and runs every check.
func diagnose(ctx context.Context, sys IO, envFile, configFile, httpAddr string) doctor.Report {
	failed := func(name, fix string, err error) doctor.Report {
		detail := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
		return doctor.Report{Checks: []doctor.Result{{Name: name, Status: doctor.Failed, Detail: detail, Fix: fix}}}
	}
	const configFix = "gatekeeper config check lists every problem; fix them in the environment or the config file"
	env, err := environ(sys, envFile)
	if err != nil {
		return failed("config", configFix, err)
	}
	cfg, err := config.Load(env, configFile)
	if httpAddr != "" {
		cfg.HTTP.Listen = httpAddr
	}
	if err = errors.Join(err, cfg.Validate()); err != nil {
		return failed("config", configFix, err)
	}
	vc, err := vault.New(vault.Options{Address: cfg.VaultAddr, Namespace: cfg.VaultNamespace})
	if err != nil {
		return failed(doctor.NameVault, "check VAULT_ADDR and the files VAULT_CACERT, VAULT_CAPATH, VAULT_CLIENT_CERT and VAULT_CLIENT_KEY name", err)
	}
	logger := newLogger(sys.Stderr, cfg.Level())
	own := &ownToken{start: func(ctx context.Context) (*vaultauth.Identity, error) { return ownIdentity(ctx, cfg, vc, logger) }}
	defer own.close(ctx, logger)
	rep := doctor.Run(ctx, serveChecks(cfg, vc, own.token, approverReady(cfg, logger)))
	rep.Checks = append([]doctor.Result{{Name: "config", Status: doctor.OK, Detail: configSummary(cfg)}}, rep.Checks...)
	return rep
}

// ownToken is Gatekeeper's own token as serve would obtain it, obtained at
// the first check that needs it; a token Gatekeeper logged in for is
// revoked by close.
type ownToken struct {
	start func(ctx context.Context) (*vaultauth.Identity, error)
	once  sync.Once
	id    *vaultauth.Identity
	err   error
}

func (o *ownToken) token(ctx context.Context) (sensitive.String, error) {
	o.once.Do(func() { o.id, o.err = o.start(ctx) })
	if o.err != nil {
		return sensitive.String{}, o.err
	}
	return o.id.Token(), nil
}

func (o *ownToken) close(ctx context.Context, logger *slog.Logger) {
	if o.id == nil {
		return
	}
	if err := o.id.Close(context.WithoutCancel(ctx)); err != nil {
		logger.Warn("stopping", "err", err)
	}
}

// configSummary is one line on what the configuration serves.
func configSummary(cfg config.Config) string {
	mode := "stdio"
	if cfg.HTTP.Listen != "" {
		mode = "http on " + cfg.HTTP.Listen
	}
	s := fmt.Sprintf("%s, vault %s, folder %s/%s, %d agent(s)", mode, cfg.VaultAddr, cfg.KVMount, cfg.Prefix, len(cfg.Agents))
	if m := cfg.AuthMethods(); len(m) > 0 {
		s += ", auth: " + strings.Join(m, ", ")
	}
	return s
}
