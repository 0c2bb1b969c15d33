package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/config"
	"github.com/gatekeeper-mcp/gatekeeper/internal/execsecret"
	"github.com/gatekeeper-mcp/gatekeeper/internal/mcptools"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
)

// stdioPrincipal is the one principal of a stdio server that is not a named
// agent: whoever started it.
const stdioPrincipal access.Principal = "stdio"

func serve(ctx context.Context, args []string, sys IO) error {
	fs := flags("serve", "Serve MCP over stdio (default) or Streamable HTTP (--http). Configured from the\n"+
		"environment and an optional config file; see the README.", sys)
	httpAddr := fs.String("http", "", "serve Streamable HTTP at /mcp on this host:port (overrides GATEKEEPER_HTTP_ADDR)")
	configFile := fs.String("config", "", "YAML config file (overrides GATEKEEPER_CONFIG)")
	envFile := envFileFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	// load reads the configuration, at start and again on a reload: the
	// .env file too, so a reload sees what it now says.
	load := func() (config.Config, error) {
		env, err := environ(sys, *envFile)
		if err != nil {
			return config.Config{}, err
		}
		cfg, err := config.Load(env, *configFile)
		if *httpAddr != "" {
			cfg.HTTP.Listen = *httpAddr
		}
		if err = errors.Join(err, cfg.Validate()); err != nil {
			return cfg, fmt.Errorf("configuration:\n%w", err)
		}
		return cfg, nil
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	if cfg.HTTP.Listen != "" {
		return serveHTTP(ctx, cfg, sys, load, nil)
	}
	return serveStdio(ctx, cfg, sys, load)
}

// serveStdio serves one agent over stdin/stdout: the single stdio agent, or
// the named agent GATEKEEPER_AGENT. stdout carries only JSON-RPC. A hangup
// reloads the configuration with load.
func serveStdio(ctx context.Context, cfg config.Config, sys IO, load func() (config.Config, error)) error {
	principal := stdioPrincipal
	if cfg.Agent != "" {
		principal = access.Principal(cfg.Agent)
	}
	c, err := newCore(ctx, cfg, sys, coreOptions{
		stdio:   true,
		agentOf: func(access.Principal) setup.Agent { return setup.Agent(cfg.Agent) },
	})
	if err != nil {
		return err
	}
	if cfg.Exec.Enabled {
		// Only over stdio: the command runs beside the agent, as the user.
		r, err := execsecret.New(execsecret.Options{Allowed: cfg.Exec.Allowed, Env: cfg.Exec.Env, Timeout: cfg.Exec.Timeout})
		if err != nil {
			c.close()
			return fmt.Errorf("exec: %w", err)
		}
		c.exec = r
	}
	server := c.mcpServer(c.toolsFor(principal, nil), func(context.Context, *mcp.CallToolRequest) (mcptools.Caller, error) {
		return mcptools.Caller{Principal: principal}, nil
	})
	rctx, stopReloads := context.WithCancel(ctx)
	defer stopReloads()
	c.startChecks(rctx, server)
	go c.watchReload(rctx, sys.Hangup, load)
	c.logger.Info("serving MCP on stdio", "vault", cfg.VaultAddr, "principal", principal,
		"folder", cfg.KVMount+"/"+cfg.Layout().Folder(setup.Agent(cfg.Agent)))
	runErr := server.Run(ctx, &mcp.IOTransport{Reader: sys.Stdin, Writer: nopCloser{sys.Stdout}})
	c.close()
	if runErr != nil && !errors.Is(runErr, context.Canceled) && !errors.Is(runErr, io.EOF) {
		return fmt.Errorf("serving MCP: %w", runErr)
	}
	c.logger.Info("stopped; all grants revoked")
	return nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
