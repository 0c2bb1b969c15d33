package cli

import (
	"context"
	"encoding/json"
	"errors"
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
	fs := flags("dev", "Start a local dev Vault (on 127.0.0.1), set it up for Gatekeeper, write sample secrets and\n"+
		"print how to connect an agent. Runs until Ctrl-C.\n\n"+
		"Without --data the dev Vault is in memory and forgets everything on Ctrl-C. With --data DIR it\n"+
		"keeps its storage, unseal key and root token in DIR (dev only), and the next start with the same\n"+
		"DIR brings back the same secrets, enrollment, bootstrap token and client configuration.\n\n"+
		"--approver totp (default): the agent runs gatekeeper serve over stdio; you approve with the\n"+
		"  code of the authenticator app you enroll now (Vault's own login MFA).\n"+
		"--approver dev: this command serves MCP over HTTP itself and asks you, right here, to\n"+
		"  approve each request (brokered tokens; the dev approver exists only in this mode).", sys)
	approverFlag := fs.String("approver", "totp", "totp or dev")
	httpAddr := fs.String("http", "", "with --approver dev: where to serve MCP (default: where --data's folder served it last, else a free port on 127.0.0.1)")
	dataFlag := fs.String("data", "", "keep the dev Vault and its setup in this folder (created on first use); empty: in memory")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *approverFlag != "totp" && *approverFlag != config.ApproverDev {
		return fmt.Errorf("--approver %q is not totp or dev", *approverFlag)
	}
	var folder *devFolder
	if *dataFlag != "" {
		var err error
		if folder, err = openDevFolder(*dataFlag, *approverFlag); err != nil {
			return err
		}
		defer func() { _ = folder.Close() }()
		if *httpAddr == "" {
			*httpAddr = folder.HTTP
		}
	}
	if *httpAddr == "" {
		*httpAddr = "127.0.0.1:0"
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
	srv, err := startDevVault(ctx, bin, folder, sys)
	if err != nil {
		return err
	}
	pgStarted := false
	defer func() {
		srv.Stop()
		if ctx.Err() != nil {
			fmt.Fprint(sys.Stderr, stoppedMessage(folder, pgStarted))
		}
	}()

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
	// With a local PostgreSQL, database logins too. It lives in the
	// scratch folder even when the Vault is kept: each start points the
	// Vault's database engine at a new one.
	if pg, creds, err := devDatabase(ctx, vc, cfg.VaultToken, dir); err != nil {
		fmt.Fprintf(sys.Stderr, "No database credentials: %v\n", err)
	} else {
		defer pg.Stop()
		pgStarted = true
		cfg.Credentials = append(cfg.Credentials, creds...)
		fmt.Fprintf(sys.Stderr, "Started a dev PostgreSQL on %s for database credentials.\n", pg.Addr)
	}
	if *approverFlag == config.ApproverDev {
		return devBrokered(ctx, cfg, vc, srv, *httpAddr, folder, sys)
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
	configDir := dir
	if folder != nil {
		configDir = folder.dir
		if err := folder.save(); err != nil {
			return err
		}
	}
	configFile, err := writeDevConfig(configDir, cfg.Credentials)
	if err != nil {
		return err
	}
	printSetup(sys.Stdout, res)
	printConnect(sys.Stdout, self, srv, res, configFile, cfg.Credentials, folder)

	select {
	case <-ctx.Done():
	case <-srv.Exited():
		return fmt.Errorf("the dev Vault exited:\n%s", srv.Output())
	}
	return nil
}

// startDevVault starts the dev Vault: in memory, or kept in folder.
func startDevVault(ctx context.Context, bin string, folder *devFolder, sys IO) (*devvault.Server, error) {
	if folder == nil {
		fmt.Fprintf(sys.Stderr, "Starting a dev Vault (%s) in memory on 127.0.0.1 …\n", bin)
		srv, err := devvault.Start(ctx, bin)
		if err != nil {
			return nil, fmt.Errorf("starting the dev Vault: %w", err)
		}
		return srv, nil
	}
	fmt.Fprintf(sys.Stderr, "Starting the dev Vault (%s) kept in %s …\n", bin, folder.dir)
	srv, fresh, err := devvault.Open(ctx, bin, folder.dir)
	if err != nil {
		return nil, fmt.Errorf("starting the dev Vault: %w", err)
	}
	if fresh {
		fmt.Fprintf(sys.Stderr, "Created it. %s holds its root token and unseal key: it is for development only.\n", folder.dir)
	}
	return srv, nil
}

// stoppedMessage says, on Ctrl-C, what was stopped and what was kept.
func stoppedMessage(folder *devFolder, pg bool) string {
	stopped := "\nStopped the dev Vault"
	if pg {
		stopped += " and the dev PostgreSQL (its databases are gone)"
	}
	if folder == nil {
		return stopped + ". The dev Vault was in memory: everything in it is gone.\n"
	}
	return fmt.Sprintf(`%s.
Kept in %s: the Vault's storage with the secrets, %s. Start again with:
  gatekeeper dev --approver %s --data %s
`, stopped, folder.dir, folder.kept(), folder.Approver, shellQuote(folder.dir))
}

// devBrokered serves MCP over HTTP in this process, for one named agent,
// and asks on this terminal for every approval. Logs and audit events go
// to a file meanwhile, so that the prompt stays readable.
func devBrokered(ctx context.Context, cfg config.Config, vc *vault.Client, srv *devvault.Server, addr string, folder *devFolder, sys IO) error {
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
	key := ""
	if folder != nil {
		key = folder.APIKey
	}
	if key == "" {
		if key, err = clientauth.NewKey(); err != nil {
			return err
		}
	}
	cfg.DevMode = true
	cfg.VaultToken = res.BrokerToken
	cfg.Approval.Strategy, cfg.Approval.Approver = config.StrategyBrokered, config.ApproverDev
	cfg.Auth.APIKeys = []config.APIKey{{ID: devAgent, Agent: devAgent, SHA256: clientauth.HashKey(key), Scopes: all}}
	cfg.HTTP.Listen = addr
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	logFile, err := openDevLog(folder)
	if err != nil {
		return err
	}
	defer func() {
		_ = logFile.Close()
		fmt.Fprintf(sys.Stderr, "Logs and audit events of this run: %s\n", logFile.Name())
	}()
	quiet := IO{Stdin: sys.Stdin, Stdout: sys.Stdout, Stderr: logFile, Environ: sys.Environ, Hangup: sys.Hangup}
	return serveHTTP(ctx, cfg, quiet, nil, func(url string) {
		if folder != nil {
			folder.APIKey, folder.HTTP = key, strings.TrimPrefix(url, "http://")
			if err := folder.save(); err != nil {
				fmt.Fprintf(sys.Stderr, "The next start will need a new client configuration: %v\n", err)
			}
		}
		fmt.Fprintf(sys.Stdout, `
Gatekeeper (dev approver) serves MCP at %s/mcp for agent %q; its dev Vault is %s.
Connect Claude Code (for every folder; safe to run again):
  %s

Approval requests appear here: answer y or n (each also has a page, with Deny). Sample secrets: %s.
Credentials that die with the agent's grant: %s.
Logs and audit events go to %s while this terminal is for approvals.
Admin access to this dev Vault (dev only): VAULT_ADDR=%s VAULT_TOKEN=%s
%s
`, url, devAgent, srv.Addr, claudeAdd("--transport", "http", "gatekeeper", url+"/mcp", "--header", "X-API-Key: "+key),
			strings.Join(sampleNames(), ", "), credentialNames(cfg.Credentials), logFile.Name(), srv.Addr, srv.RootToken, stopHint(folder))
	})
}

// openDevLog opens the file that takes the dev server's logs and audit
// events: in the data folder, or a new temporary file kept after the run.
func openDevLog(folder *devFolder) (*os.File, error) {
	if folder == nil {
		f, err := os.CreateTemp("", "gatekeeper-dev-*.log")
		if err != nil {
			return nil, fmt.Errorf("creating the dev log file: %w", err)
		}
		return f, nil
	}
	f, err := os.OpenFile(filepath.Join(folder.dir, "gatekeeper.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the dev log file: %w", err)
	}
	return f, nil
}

// claudeAdd is the command line that registers Gatekeeper with Claude
// Code for every folder (user scope) and that can be run again: `claude mcp
// add` refuses a name that exists, so the line removes it first (which
// fails harmlessly the first time).
func claudeAdd(args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return "claude mcp remove --scope user gatekeeper >/dev/null 2>&1; claude mcp add --scope user " + strings.Join(q, " ")
}

// stopHint says what Ctrl-C will keep.
func stopHint(folder *devFolder) string {
	if folder == nil {
		return "Press Ctrl-C to stop; the dev Vault keeps everything in memory and forgets it."
	}
	return fmt.Sprintf("Press Ctrl-C to stop; %s keeps the dev Vault's storage, %s for the next start.", folder.dir, folder.kept())
}

// writeSamples writes the sample secrets that are not there yet: a kept
// dev Vault keeps what the developer changed.
func writeSamples(ctx context.Context, vc *vault.Client, cfg config.Config, folder string) error {
	for p, data := range samples {
		_, err := vc.KVRead(ctx, cfg.VaultToken, cfg.KVMount, folder+"/"+p)
		if err == nil {
			continue
		}
		if !errors.Is(err, vault.ErrNotFound) {
			return fmt.Errorf("reading sample secrets: %w", err)
		}
		if _, err := vc.KVWrite(ctx, cfg.VaultToken, cfg.KVMount, folder+"/"+p, data); err != nil {
			return fmt.Errorf("writing sample secrets: %w", err)
		}
	}
	return nil
}

func printConnect(w io.Writer, self string, srv *devvault.Server, res *setup.Result, configFile string, creds []config.Credential, folder *devFolder) {
	self, _ = filepath.Abs(self)
	tok := res.BootstrapToken.Reveal()
	fmt.Fprintf(w, `
Connect Claude Code (stdio, for every folder; safe to run again):
  %s

Any other MCP client: run this command over stdio:
`, claudeAdd("gatekeeper", "-e", "VAULT_ADDR="+srv.Addr, "-e", "VAULT_TOKEN="+tok, "-e", "GATEKEEPER_CONFIG="+configFile, "--", self, "serve"))
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
%s
`, strings.Join(sampleNames(), ", "), credentialNames(creds), srv.Addr, srv.RootToken, stopHint(folder))
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
