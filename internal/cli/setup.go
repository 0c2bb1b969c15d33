package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mdp/qrterminal/v3"

	"github.com/gatekeeper-mcp/gatekeeper/internal/config"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// layoutFlags are the settings setup and policy share. The environment and
// config file come first, flags last.
type layoutFlags struct {
	configFile        string
	envFile           *string
	kvMount, prefix   string
	readTTL, writeTTL time.Duration
	agents            agentList
	replicas          bool
}

func (l *layoutFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.configFile, "config", "", "YAML config file (default $GATEKEEPER_CONFIG); its agents are set up too")
	l.envFile = envFileFlag(fs)
	fs.StringVar(&l.kvMount, "kv-mount", "", "KV v2 mount (default $GATEKEEPER_KV_MOUNT or secret)")
	fs.StringVar(&l.prefix, "prefix", "", "agents' folder in the mount (default $GATEKEEPER_PREFIX or agent)")
	fs.DurationVar(&l.readTTL, "read-ttl", 0, "read-tier token TTL (default $GATEKEEPER_READ_TTL or 4h)")
	fs.DurationVar(&l.writeTTL, "write-ttl", 0, "write-tier token TTL (default $GATEKEEPER_WRITE_TTL or 15m)")
	fs.Var(&l.agents, "agent", "a named agent for HTTP mode (repeatable): its accounts, policies and MFA")
	fs.BoolVar(&l.replicas, "replicas", false, "replicas share grants through Vault (state.backend vault): Gatekeeper's own policy gets the state folder and key")
}

// appRoleName is the AppRole role setup --approle writes.
const appRoleName = "gatekeeper"

// agentList is a repeatable --agent flag.
type agentList []string

func (a *agentList) String() string     { return strings.Join(*a, ",") }
func (a *agentList) Set(v string) error { *a = append(*a, v); return nil }

// loadConfig reads the config file and the environment, applies the flags
// and validates. withVault says whether VAULT_ADDR and VAULT_TOKEN are needed.
func loadConfig(sys IO, lf *layoutFlags, withVault bool) (config.Config, error) {
	env, err := environ(sys, *lf.envFile)
	if err != nil {
		return config.Config{}, err
	}
	cfg, err := config.Load(env, lf.configFile)
	if lf.kvMount != "" {
		cfg.KVMount = lf.kvMount
	}
	if lf.prefix != "" {
		cfg.Prefix = lf.prefix
	}
	if lf.readTTL != 0 {
		cfg.ReadTTL = lf.readTTL
	}
	if lf.writeTTL != 0 {
		cfg.WriteTTL = lf.writeTTL
	}
	if lf.replicas {
		cfg.State.Backend = config.StateVault
	}
	for _, name := range lf.agents {
		if _, ok := cfg.FindAgent(name); !ok {
			cfg.Agents = append(cfg.Agents, config.Agent{Name: name})
		}
	}
	if !withVault {
		// policy touches no Vault: fill what Validate would demand.
		cfg.VaultAddr, cfg.VaultToken = "http://unused", sensitive.New("unused")
		cfg.VaultAuth.Method = config.VaultAuthToken
	}
	if err = errors.Join(err, cfg.Validate()); err != nil {
		return cfg, fmt.Errorf("configuration:\n%w", err)
	}
	return cfg, nil
}

func policyCmd(args []string, sys IO) error {
	fs := flags("policy", "Print the HCL of the policies setup writes, without touching Vault. With --agent (or a\n"+
		"config file's agents), the policies of those agents; else those of the single stdio agent.", sys)
	var lf layoutFlags
	lf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(sys, &lf, false)
	if err != nil {
		return err
	}
	var agents []setup.Agent
	for _, a := range cfg.Agents {
		agents = append(agents, setup.Agent(a.Name))
	}
	policies := cfg.Layout().Policies(agents...)
	if cfg.Approval.Strategy == config.StrategyBrokered {
		policies = append(policies, cfg.Layout().Broker())
	}
	for _, p := range policies {
		fmt.Fprintf(sys.Stdout, "# ---- policy %q ----\n%s\n", p.Name, p.HCL)
	}
	return nil
}

func setupCmd(ctx context.Context, args []string, sys IO) error {
	fs := flags("setup", "Make a Vault/OpenBao ready for Gatekeeper, idempotently. Needs VAULT_ADDR and an admin VAULT_TOKEN.\n"+
		"Login MFA is TOTP unless the Duo flags are given (the Duo secret key comes from $GATEKEEPER_DUO_SECRET_KEY).", sys)
	var lf layoutFlags
	lf.register(fs)
	asJSON := fs.Bool("json", false, "print one JSON object (bootstrap_token, totp_url, kv_mount, prefix, …) instead of text")
	brokered := fs.Bool("brokered", false, "also prepare the brokered-token strategy: token roles, the broker policy and token (printed as broker_token)")
	approle := fs.Bool("approle", false, "also write the AppRole role "+appRoleName+" (on vault_auth.approle.mount) that serve logs in with instead of VAULT_TOKEN, and print its role id")
	var duo setup.Duo
	fs.StringVar(&duo.Host, "duo-host", "", "Duo API hostname, e.g. api-XXXXXXXX.duosecurity.com")
	fs.StringVar(&duo.IntegrationKey, "duo-integration-key", "", "Duo integration key")
	fs.StringVar(&duo.Username, "duo-username", "", "the approver's Duo username")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(sys, &lf, true)
	if err != nil {
		return err
	}
	opts := setup.Options{Layout: cfg.Layout(), Agents: cfg.AgentSetups(), Brokered: *brokered || cfg.Approval.Strategy == config.StrategyBrokered}
	if *approle {
		// The identity serve runs with: the strategy it is configured for.
		policy := setup.BootstrapPolicy
		if cfg.Approval.Strategy == config.StrategyBrokered {
			policy = setup.BrokerPolicy
		}
		opts.AppRole = &setup.AppRole{Mount: cfg.VaultAuth.AppRole.Mount, Role: appRoleName, Policy: policy}
	}
	if duo.Host != "" || duo.IntegrationKey != "" || duo.Username != "" {
		duo.SecretKey = cfg.DuoSecretKey
		if duo.Host == "" || duo.IntegrationKey == "" || duo.Username == "" || duo.SecretKey.IsZero() {
			return errors.New("duo needs --duo-host, --duo-integration-key, --duo-username and $GATEKEEPER_DUO_SECRET_KEY")
		}
		opts.Duo = &duo
	}
	vc, err := vault.New(vault.Options{Address: cfg.VaultAddr, Namespace: cfg.VaultNamespace})
	if err != nil {
		return err
	}
	res, err := setup.Apply(ctx, vc, cfg.VaultToken, opts)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	if *asJSON {
		return printJSON(sys.Stdout, res)
	}
	printSetup(sys.Stdout, res)
	return nil
}

// setupJSON is setup's --json output; scripts rely on these names.
type setupJSON struct {
	*setup.Result
	BootstrapToken string `json:"bootstrap_token"`
	BrokerToken    string `json:"broker_token,omitempty"`
}

func printJSON(w io.Writer, res *setup.Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(setupJSON{Result: res, BootstrapToken: res.BootstrapToken.Reveal(), BrokerToken: res.BrokerToken.Reveal()})
}

func printSetup(w io.Writer, res *setup.Result) {
	fmt.Fprintf(w, "Gatekeeper is set up on %s.\n", res.VaultAddr)
	fmt.Fprintf(w, "  agents see:      %s/%s/ (KV v2)\n", res.KVMount, res.Prefix)
	if len(res.Agents) > 0 {
		fmt.Fprintf(w, "  named agents:    %s (each in %s/%s/NAME/)\n", strings.Join(res.Agents, ", "), res.KVMount, res.Prefix)
	}
	fmt.Fprintf(w, "  policies:        %s\n", strings.Join(res.Policies, ", "))
	fmt.Fprintf(w, "  tier accounts:   userpass at %s, login MFA: %s\n", strings.Join(res.AuthMounts, ", "), res.MFAMethod)
	if len(res.Changed) == 0 {
		fmt.Fprintln(w, "  changed:         nothing (already set up)")
	} else {
		fmt.Fprintf(w, "  changed:         %s\n", strings.Join(res.Changed, ", "))
	}
	switch {
	case res.TOTPURL != "":
		fmt.Fprintln(w, "\nThe approver enrolls now: scan this with an authenticator app (or add the URL by hand).")
		qrterminal.GenerateWithConfig(res.TOTPURL, qrterminal.Config{
			Level: qrterminal.L, Writer: w, HalfBlocks: true, QuietZone: 1,
			BlackChar: qrterminal.BLACK_BLACK, WhiteBlackChar: qrterminal.WHITE_BLACK,
			WhiteChar: qrterminal.WHITE_WHITE, BlackWhiteChar: qrterminal.BLACK_WHITE,
		})
		fmt.Fprintf(w, "%s\n", res.TOTPURL)
	case res.MFAMethod == "totp":
		fmt.Fprintln(w, "\nThe approver is already enrolled; their authenticator app keeps working.")
	}
	fmt.Fprintf(w, "\nBootstrap token for gatekeeper serve (VAULT_TOKEN). It can only start a login that the approver must confirm:\n%s\n", res.BootstrapToken.Reveal())
	if !res.BrokerToken.IsZero() {
		fmt.Fprintf(w, "\nBroker token for approval.strategy brokered (VAULT_TOKEN instead). It can only mint tokens through the gatekeeper-* roles:\n%s\n", res.BrokerToken.Reveal())
	}
	if a := res.AppRole; a != nil {
		fmt.Fprintf(w, "\nAppRole for gatekeeper serve, instead of VAULT_TOKEN: role %s on auth/%s, policy %s.\n", a.Role, a.Mount, a.Policy)
		fmt.Fprintf(w, "  VAULT_ROLE_ID=%s\n", a.RoleID)
		fmt.Fprintf(w, "  A secret id (keep it like a password; give it as VAULT_SECRET_ID or VAULT_SECRET_ID_FILE):\n")
		fmt.Fprintf(w, "    vault write -f -field=secret_id auth/%s/role/%s/secret-id\n", a.Mount, a.Role)
	}
}
