package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/vaultmfa"
	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/config"
	"github.com/gatekeeper-mcp/gatekeeper/internal/mcptools"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// stdioPrincipal is the one principal of a stdio server: whoever started it.
const stdioPrincipal access.Principal = "stdio"

// shutdownTimeout bounds the revocation of live grants at exit.
const shutdownTimeout = 15 * time.Second

const instructions = `Gatekeeper gives you secrets from Vault only with a human's approval.
You start with no access. Call authenticate for read access (the human approves on their own device;
if they use an authenticator app, ask them for the current code and pass it as passcode). To write,
call escalate with a reason first; write access is short and never renews by itself. Call release
when your writes are done and logout when you no longer need secrets. Never repeat a secret's
value to the user unless they ask for it.`

func serve(ctx context.Context, args []string, sys IO) error {
	fs := flags("serve", "Serve MCP over stdio. Configured from the environment; see the README.", sys)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.FromEnv(sys.Environ)
	if err = errors.Join(err, cfg.Validate()); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	logger := newLogger(sys.Stderr, cfg.LogLevel)
	auditOut, closeAudit, err := openAudit(cfg.AuditFile, sys.Stderr)
	if err != nil {
		return err
	}
	defer closeAudit()
	auditLog := audit.New(auditOut, logger)

	vc, err := vault.New(vault.Options{Address: cfg.VaultAddr})
	if err != nil {
		return err
	}
	kctx, stopKeepAlive := context.WithCancel(ctx)
	defer stopKeepAlive()
	go keepAlive(kctx, vc, cfg.VaultToken, logger)

	approver, err := vaultmfa.New(vaultmfa.Options{
		Vault:     vc,
		Bootstrap: cfg.VaultToken,
		KVMount:   cfg.KVMount,
		Accounts: map[access.Tier]string{
			access.Read:  setup.Agent("").AccountPath(access.Read),
			access.Write: setup.Agent("").AccountPath(access.Write),
		},
		Logger: logger,
	})
	if err != nil {
		return err
	}
	mgr := access.New(access.Options{
		Issuer:          approver,
		Audit:           auditLog,
		Logger:          logger,
		Scope:           cfg.KVMount + "/" + cfg.Prefix + "/",
		ReadTTL:         cfg.ReadTTL,
		WriteTTL:        cfg.WriteTTL,
		ApprovalTimeout: cfg.ApprovalTimeout,
	})

	server := mcp.NewServer(&mcp.Implementation{Name: "gatekeeper", Version: Version}, &mcp.ServerOptions{
		Instructions: instructions,
		Logger:       logger.With("component", "mcp"),
	})
	mcptools.Register(server, mcptools.Options{
		Access:  mgr,
		KV:      vc,
		KVMount: cfg.KVMount,
		Prefix:  cfg.Prefix,
		Audit:   auditLog,
		Logger:  logger,
		Principal: func(context.Context, *mcp.CallToolRequest) (access.Principal, error) {
			return stdioPrincipal, nil
		},
	})

	logger.Info("serving MCP on stdio", "vault", cfg.VaultAddr, "scope", cfg.KVMount+"/"+cfg.Prefix)
	runErr := server.Run(ctx, &mcp.IOTransport{Reader: sys.Stdin, Writer: nopCloser{sys.Stdout}})

	// stdin closed, SIGINT or SIGTERM: end every grant before exiting.
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := mgr.Close(sctx); err != nil {
		logger.Error("revoking grants at shutdown", "err", err)
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) && !errors.Is(runErr, io.EOF) {
		return fmt.Errorf("serving MCP: %w", runErr)
	}
	logger.Info("stopped; all grants revoked")
	return nil
}

// keepAlive renews the bootstrap token while Gatekeeper runs: setup makes it
// periodic, so it lives as long as someone uses it. A token that does not
// work is reported but does not stop the server: the agent is told, call by
// call, what is wrong, and nothing is granted until it is fixed.
func keepAlive(ctx context.Context, vc *vault.Client, tok sensitive.String, logger *slog.Logger) {
	for {
		info, err := vc.LookupSelf(ctx, tok)
		next := time.Hour
		if err != nil && ctx.Err() == nil {
			logger.Warn("the bootstrap token (VAULT_TOKEN) does not work now; no access can be granted until it does", "err", err)
		}
		if err == nil && info.Renewable && info.Period > 0 {
			if _, err := vc.RenewSelf(ctx, tok, info.Period); err != nil {
				logger.Warn("renewing the bootstrap token", "err", err)
			}
			next = min(info.Period/2, 12*time.Hour)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
	}
}

func openAudit(path string, stderr io.Writer) (io.Writer, func(), error) {
	if path == "" {
		return stderr, func() {}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("opening the audit file: %w", err)
	}
	return f, func() { _ = f.Close() }, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
