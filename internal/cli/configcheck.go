package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gatekeeper-mcp/gatekeeper/internal/config"
)

// configCmd is `gatekeeper config check`: load and validate everything serve
// would use and list every problem, touching nothing and contacting no
// Vault (gatekeeper doctor does).
func configCmd(args []string, sys IO) error {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(sys.Stderr, "Usage: gatekeeper config check [--config FILE] [--env-file FILE] [--http ADDR]")
		return ErrUsage
	}
	fs := flags("config check", "Validate the configuration serve would run with and list every problem.\nChecks the configuration only; gatekeeper doctor checks it against the real Vault.", sys)
	configFile := fs.String("config", "", "YAML config file (default $GATEKEEPER_CONFIG)")
	httpAddr := fs.String("http", "", "check as for serve --http ADDR")
	envFile := envFileFlag(fs)
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	env, err := environ(sys, *envFile)
	if err != nil {
		return err
	}
	cfg, err := config.Load(env, *configFile)
	if *httpAddr != "" {
		cfg.HTTP.Listen = *httpAddr
	}
	if err = errors.Join(err, cfg.Validate()); err != nil {
		var n int
		for _, line := range strings.Split(err.Error(), "\n") {
			if line != "" {
				n++
				fmt.Fprintf(sys.Stdout, "problem: %s\n", line)
			}
		}
		return fmt.Errorf("configuration has %d problem(s)", n)
	}
	fmt.Fprintf(sys.Stdout, "ok: %s\n", configSummary(cfg))
	fmt.Fprintln(sys.Stdout, "This checked the configuration only, without contacting Vault: gatekeeper doctor checks\n"+
		"everything serve needs against the real Vault (token, policies, mounts, logins, MFA, approver, audit).")
	return nil
}
