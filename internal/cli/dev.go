package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gatekeeper-mcp/gatekeeper/internal/clientauth"
	"github.com/gatekeeper-mcp/gatekeeper/internal/config"
	"github.com/gatekeeper-mcp/gatekeeper/internal/devvault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// samples are written into a dev Vault so an agent has something to read.
var samples = map[string]map[string]any{
	"demo/database": {"username": "app", "password": "dev-only-not-a-real-password", "host": "db.internal:5432"}, //nolint:gosec // G101: a sample for the throwaway dev Vault
	"demo/api":      {"key": "dev-only-api-key", "endpoint": "https://api.example.test"},
}

// devAgent is the named agent of `gatekeeper dev --approver dev`.
const devAgent = "dev"

func dev(ctx context.Context, args []string, sys IO) error {
	fs := flags("dev", "Start a local dev Vault (in memory, on 127.0.0.1), set it up for Gatekeeper, write sample\n"+
		"secrets and print how to connect an agent. Runs until Ctrl-C.\n\n"+
		"--approver totp (default): the agent runs gatekeeper serve over stdio; you approve with the\n"+
		"  code of the authenticator app you enroll now (Vault's own login MFA).\n"+
		"--approver dev: this command serves MCP over HTTP itself and asks you, right here, to\n"+
		"  approve each request (brokered tokens; the dev approver exists only in this mode).", sys)
	approverFlag := fs.String("approver", "totp", "totp or dev")
	httpAddr := fs.String("http", "127.0.0.1:0", "with --approver dev: where to serve MCP")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *approverFlag != "totp" && *approverFlag != config.ApproverDev {
		return fmt.Errorf("--approver %q is not totp or dev", *approverFlag)
	}
	// The dev Vault gets its own address and token (no AppRole, no
	// namespace); other settings apply.
	var environ []string
	for _, kv := range sys.Environ {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "VAULT_ADDR", "VAULT_TOKEN", "VAULT_ROLE_ID", "VAULT_ROLE_ID_FILE", "VAULT_SECRET_ID", "VAULT_SECRET_ID_FILE", "VAULT_NAMESPACE":
		default:
			environ = append(environ, kv)
		}
	}
	cfg, err := config.Load(environ, "")
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	bin, err := devvault.Find()
	if err != nil {
		return err
	}
	fmt.Fprintf(sys.Stderr, "Starting a dev Vault (%s) on 127.0.0.1 …\n", bin)
	srv, err := devvault.Start(ctx, bin)
	if err != nil {
		return fmt.Errorf("starting the dev Vault: %w", err)
	}
	defer srv.Stop()

	cfg.VaultAddr, cfg.VaultToken = srv.Addr, sensitive.New(srv.RootToken)
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	vc, err := vault.New(vault.Options{Address: srv.Addr})
	if err != nil {
		return err
	}
	// Credentials that die with the grant, to try: certificates from a
	// dev PKI.
	pki, err := devPKI(ctx, vc, cfg.VaultToken)
	if err != nil {
		return err
	}
	cfg.Credentials = append(cfg.Credentials, pki)
	dir, err := os.MkdirTemp("", "gatekeeper-dev-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	// With a local PostgreSQL, database logins too.
	if pg, creds, err := devDatabase(ctx, vc, cfg.VaultToken, dir); err != nil {
		fmt.Fprintf(sys.Stderr, "No database credentials: %v\n", err)
	} else {
		defer pg.Stop()
		cfg.Credentials = append(cfg.Credentials, creds...)
		fmt.Fprintf(sys.Stderr, "Started a dev PostgreSQL on %s for database credentials.\n", pg.Addr)
	}
	if *approverFlag == config.ApproverDev {
		return devBrokered(ctx, cfg, vc, srv, *httpAddr, sys)
	}
	res, err := setup.Apply(ctx, vc, cfg.VaultToken, setup.Options{Layout: cfg.Layout()})
	if err != nil {
		return fmt.Errorf("setting up the dev Vault: %w", err)
	}
	if err := writeSamples(ctx, vc, cfg, cfg.Prefix); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the gatekeeper binary: %w", err)
	}
	configFile, err := writeDevConfig(dir, cfg.Credentials)
	if err != nil {
		return err
	}
	printSetup(sys.Stdout, res)
	printConnect(sys.Stdout, self, srv, res, configFile, cfg.Credentials)

	select {
	case <-ctx.Done():
		fmt.Fprintln(sys.Stderr, "\nStopping the dev Vault; everything in it is gone.")
	case <-srv.Exited():
		return fmt.Errorf("the dev Vault exited:\n%s", srv.Output())
	}
	return nil
}

// devBrokered serves MCP over HTTP in this process, for one named agent
// with a fresh API key, and asks on this terminal for every approval.
func devBrokered(ctx context.Context, cfg config.Config, vc *vault.Client, srv *devvault.Server, addr string, sys IO) error {
	all := []string{"read", "list", "write"}
	cfg.Agents = []config.Agent{{Name: devAgent, Scopes: all}} // before the layout: the roles are the dev agent's
	res, err := setup.Apply(ctx, vc, cfg.VaultToken, setup.Options{
		Layout: cfg.Layout(), Agents: []setup.AgentSetup{{Name: devAgent}}, Brokered: true,
	})
	if err != nil {
		return fmt.Errorf("setting up the dev Vault: %w", err)
	}
	if err := writeSamples(ctx, vc, cfg, cfg.Prefix+"/"+devAgent); err != nil {
		return err
	}
	key, err := clientauth.NewKey()
	if err != nil {
		return err
	}
	cfg.DevMode = true
	cfg.VaultToken = res.BrokerToken
	cfg.Approval.Strategy, cfg.Approval.Approver = config.StrategyBrokered, config.ApproverDev
	cfg.Auth.APIKeys = []config.APIKey{{ID: devAgent, Agent: devAgent, SHA256: clientauth.HashKey(key), Scopes: all}}
	cfg.HTTP.Listen = addr
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	err = serveHTTP(ctx, cfg, sys, nil, func(url string) {
		fmt.Fprintf(sys.Stdout, `
Gatekeeper (dev approver) serves MCP at %s/mcp for agent %q; its dev Vault is %s.
Connect Claude Code:
  claude mcp add --transport http gatekeeper %s/mcp --header "X-API-Key: %s"

Approval requests appear here: answer y or n (each also has a page, with Deny). Sample secrets: %s.
Credentials that die with the agent's grant: %s.
Admin access to this dev Vault (dev only): VAULT_ADDR=%s VAULT_TOKEN=%s
Press Ctrl-C to stop; the dev Vault forgets everything.
`, url, devAgent, srv.Addr, url, key, strings.Join(sampleNames(), ", "), credentialNames(cfg.Credentials), srv.Addr, srv.RootToken)
	})
	fmt.Fprintln(sys.Stderr, "\nStopping the dev Vault; everything in it is gone.")
	return err
}

func writeSamples(ctx context.Context, vc *vault.Client, cfg config.Config, folder string) error {
	for p, data := range samples {
		if _, err := vc.KVWrite(ctx, cfg.VaultToken, cfg.KVMount, folder+"/"+p, data); err != nil {
			return fmt.Errorf("writing sample secrets: %w", err)
		}
	}
	return nil
}

func printConnect(w io.Writer, self string, srv *devvault.Server, res *setup.Result, configFile string, creds []config.Credential) {
	self, _ = filepath.Abs(self)
	tok := res.BootstrapToken.Reveal()
	fmt.Fprintf(w, `
Connect Claude Code (stdio):
  claude mcp add gatekeeper -e VAULT_ADDR=%s -e VAULT_TOKEN=%s -e GATEKEEPER_CONFIG=%s -- %s serve

Any other MCP client: run this command over stdio:
`, srv.Addr, tok, configFile, self)
	cfg := map[string]any{"mcpServers": map[string]any{"gatekeeper": map[string]any{
		"command": self,
		"args":    []string{"serve"},
		"env":     map[string]string{"VAULT_ADDR": srv.Addr, "VAULT_TOKEN": tok, "GATEKEEPER_CONFIG": configFile},
	}}}
	b, _ := json.MarshalIndent(cfg, "  ", "  ")
	fmt.Fprintf(w, "  %s\n", b)
	fmt.Fprintf(w, `
Sample secrets: %s (try: "list my secrets", then "read demo/database").
Credentials that die with your grant: %s (try: "issue a web-cert for app.dev.internal").
When the agent asks for access, you get a link to Gatekeeper's approval page (your client shows it,
or the agent passes it on): open it and type the code your authenticator app shows there, never in
the chat.
Admin access to this dev Vault (dev only): VAULT_ADDR=%s VAULT_TOKEN=%s
Press Ctrl-C to stop; the dev Vault keeps everything in memory and forgets it.
`, strings.Join(sampleNames(), ", "), credentialNames(creds), srv.Addr, srv.RootToken)
}

// credentialNames lists the credentials, for the dev instructions.
func credentialNames(creds []config.Credential) string {
	var names []string
	for _, c := range creds {
		names = append(names, c.Name+" ("+c.Engine+")")
	}
	return strings.Join(names, ", ")
}

func sampleNames() []string {
	return slices.Sorted(maps.Keys(samples))
}
