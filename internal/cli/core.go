package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/page"
	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/config"
	"github.com/gatekeeper-mcp/gatekeeper/internal/credential"
	"github.com/gatekeeper-mcp/gatekeeper/internal/egress"
	"github.com/gatekeeper-mcp/gatekeeper/internal/mcptools"
	"github.com/gatekeeper-mcp/gatekeeper/internal/ratelimit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/tracing"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaultauth"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaultstate"
)

const instructions = `Gatekeeper gives you secrets from Vault only with a human's approval.
You start with no access. Call authenticate for read access: the human answers on Gatekeeper's
approval page (or their phone), never in this chat, so never ask them for a code; if the result gives
you a link, pass it on and call again to wait for their answer. To write, call escalate with a reason
first; write access is short and never renews by itself. Call release when your writes are done and
logout when you no longer need secrets. Never repeat a secret's value to the user unless they ask for it.`

// shutdownTimeout bounds the revocation of live grants at exit.
const shutdownTimeout = 15 * time.Second

// core is what both transports share: one access model, one Vault client,
// one audit stream.
type core struct {
	// live are the settings a reload may change; read them through
	// settings().
	live atomic.Pointer[settings]
	// base bounds what settings run in the background: the server's life.
	base      context.Context
	stdio     bool
	reloading sync.Mutex // one reload at a time
	// forget ends the MCP sessions of an agent a reload removed; nil
	// over stdio.
	forget func(agent string)

	logger *slog.Logger
	audit  access.Recorder
	vault  *vault.Client
	// own is Gatekeeper's own Vault identity (bootstrap or broker token).
	own    *vaultauth.Identity
	access *access.Manager
	// agentOf maps a principal to its Vault layout.
	agentOf   func(access.Principal) setup.Agent
	limits    *ratelimit.Limiter // tool calls
	approvals *ratelimit.Limiter // approval requests
	// approverReady tells whether an approval can be run now.
	approverReady check
	tracing       *tracing.Tracing
	// exec runs run_with_secret's commands; nil leaves the tool out.
	exec mcptools.Runner
	// egress sends http_request's requests; nil leaves the tool out.
	egress *egress.Client
	// creds issues credentials from dynamic-secrets engines; nil leaves
	// the credential tools out.
	creds *credential.Service
	// pages is the approval page, where every approval is answered.
	pages *page.Server
	// state is the replicas' shared store; nil for one process.
	state *vaultstate.Store
	// schemas is shared by every MCP server (one per agent and scope set
	// over HTTP): the SDK resolves each tool's schemas once, not per server.
	schemas *mcp.SchemaCache
	// close revokes every grant and closes the audit log; once.
	close func()
}

type coreOptions struct {
	stdio     bool // one agent over stdin/stdout
	agentOf   func(access.Principal) setup.Agent
	recorders []access.Recorder // besides the audit log (metrics)
	transport func(http.RoundTripper) http.RoundTripper
}

func newCore(ctx context.Context, cfg config.Config, sys IO, o coreOptions) (*core, error) {
	logger := newLogger(sys.Stderr, cfg.Level())
	auditLog, err := openAudit(cfg, sys.Stderr, logger)
	if err != nil {
		return nil, err
	}
	closeAudit := func() { closeAuditLog(auditLog, logger) }
	if err := recordConfigLoaded(ctx, auditLog, cfg); err != nil {
		closeAudit()
		return nil, err
	}
	recorders := append([]access.Recorder{auditLog}, o.recorders...)
	rec := fanout(recorders)

	tr, err := tracing.New(ctx, tracing.Options{Endpoint: cfg.Tracing.OTLPEndpoint, SampleRatio: cfg.Tracing.SampleRatio, Version: Version})
	if err != nil {
		closeAudit()
		return nil, err
	}
	wrap := tr.Transport
	if o.transport != nil {
		wrap = func(rt http.RoundTripper) http.RoundTripper { return tr.Transport(o.transport(rt)) }
	}
	vc, err := vault.New(vault.Options{Address: cfg.VaultAddr, Namespace: cfg.VaultNamespace, WrapTransport: wrap})
	if err != nil {
		closeAudit()
		return nil, err
	}
	own, err := ownIdentity(ctx, cfg, vc, logger)
	if err != nil {
		closeAudit()
		return nil, fmt.Errorf("vault_auth: %w", err)
	}
	kctx, cancelKeepAlive := context.WithCancel(ctx)
	var kept sync.WaitGroup
	kept.Go(func() { own.Run(kctx) })
	// stopKeepAlive ends the token's upkeep and revokes a token Gatekeeper
	// logged in for: at exit, or when the start fails after the login.
	stopKeepAlive := func() {
		cancelKeepAlive()
		kept.Wait()
		rctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := own.Close(rctx); err != nil {
			logger.Warn("stopping", "err", err)
		}
	}
	c := &core{base: kctx, stdio: o.stdio, logger: logger, own: own, schemas: mcp.NewSchemaCache()}
	st, err := newSettings(kctx, cfg, o.stdio, logger)
	if err != nil {
		stopKeepAlive()
		closeAudit()
		return nil, err
	}
	c.live.Store(st)
	live := func() config.Config { return c.settings().cfg }

	layout := cfg.Layout()
	pages, err := newApprovalPage(cfg, o.stdio, sys.Stderr, logger)
	if err != nil {
		stopKeepAlive()
		closeAudit()
		return nil, err
	}
	iss, err := newIssuer(cfg, live, vc, own.Token, pages.Server, sys, o.agentOf, logger)
	if err != nil {
		pages.abandon()
		stopKeepAlive()
		closeAudit()
		return nil, err
	}
	bgCtx, stopBackground := context.WithCancel(ctx)
	var bgDone sync.WaitGroup
	bgDone.Go(func() {
		if err := pages.run(bgCtx); err != nil {
			logger.Error("a background part stopped", "err", err)
		}
	})
	c.approvals = ratelimit.New(c.rateOf(approvalRate), nil)
	store, sharedOpts, err := sharedState(ctx, cfg, vc, own.Token, logger)
	if err != nil {
		stopBackground()
		stopKeepAlive()
		closeAudit()
		return nil, err
	}
	var shared access.Shared // a nil *vaultstate.Store is not a nil Shared
	if store != nil {
		shared = store
	}
	mgr := access.New(access.Options{
		Issuer:          tr.Issuer(iss.issuer),
		DenialCooldown:  cooldown(cfg.Approval.Cooldown),
		Audit:           rec,
		Logger:          logger,
		ApprovalTimeout: cfg.ApprovalTimeout,
		PolicyFor: func(p access.Principal) access.Policy {
			a, now := o.agentOf(p), live()
			return access.Policy{
				Scope:    cfg.KVMount + "/" + layout.Folder(a) + "/",
				ReadTTL:  now.TTL(string(a), access.Read),
				WriteTTL: now.TTL(string(a), access.Write),
			}
		},
		ApprovalLimit:  func(p access.Principal) (time.Duration, bool) { return c.approvals.Allow(string(p)) },
		AcceptPasscode: cfg.Approval.PasscodeFallback,
		Shared:         shared,
		SharedOptions:  sharedOpts,
	})
	if err := mgr.Join(ctx); err != nil {
		stopBackground()
		stopKeepAlive()
		closeAudit()
		return nil, err
	}
	var eg *egress.Client
	if cfg.HTTPRequestEnabled() {
		opts := cfg.EgressOptions()
		opts.Logger = logger
		if eg, err = egress.New(opts); err != nil {
			stopBackground()
			stopKeepAlive()
			closeAudit()
			return nil, fmt.Errorf("http_request: %w", err)
		}
	}
	c.egress, c.audit, c.vault, c.access, c.agentOf, c.approverReady = eg, rec, vc, mgr, o.agentOf, iss.ready
	c.tracing, c.state, c.pages = tr, store, pages.Server
	c.limits = ratelimit.New(c.rateOf(toolRate), nil)
	if len(cfg.Credentials) > 0 {
		c.creds = credential.New(credential.Options{
			Vault: vc, Access: mgr, Specs: credentialSpecs(cfg, o.agentOf), Logger: logger,
		})
	}
	c.close = sync.OnceFunc(func() {
		// stdin closed, SIGINT or SIGTERM: end every grant before exiting
		// (with replicas, only the last one out does).
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := mgr.Close(sctx); err != nil {
			logger.Error("revoking grants at shutdown", "err", err)
		}
		stopBackground()
		bgDone.Wait()
		stopKeepAlive() // and the settings' background
		if err := tr.Shutdown(sctx); err != nil {
			logger.Warn("exporting the last traces", "err", err)
		}
		closeAudit()
	})
	return c, nil
}

// toolRate and approvalRate pick an agent's own limit of tool calls or of
// approval requests, else the default.
func toolRate(c config.Config, a config.Agent) config.Rate {
	if a.Rate != nil {
		return *a.Rate
	}
	return c.Limits.Rate
}

func approvalRate(c config.Config, a config.Agent) config.Rate {
	if a.Approvals != nil {
		return *a.Approvals
	}
	return c.Limits.Approvals
}

// rateOf is a limiter's rate for each agent, as the live settings say.
func (c *core) rateOf(pick func(config.Config, config.Agent) config.Rate) func(string) ratelimit.Rate {
	return func(agent string) ratelimit.Rate {
		cfg := c.settings().cfg
		a, _ := cfg.FindAgent(agent)
		r := pick(cfg, a)
		return ratelimit.Rate{PerMinute: r.PerMinute, Burst: r.Burst}
	}
}

// cooldown maps the configuration's "0 means none" to the access model's
// "negative means none".
func cooldown(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// toolsFor narrows include (nil: every tool) to what principal may use:
// http_request only with a destination allowed for it.
func (c *core) toolsFor(p access.Principal, include func(string) bool) func(string) bool {
	return func(tool string) bool {
		if tool == "http_request" && (c.egress == nil || !c.egress.Allows(string(p))) {
			return false
		}
		if strings.HasSuffix(tool, "_credential") || tool == "list_credentials" {
			if c.creds == nil || !c.creds.Allows(p) {
				return false
			}
		}
		return include == nil || include(tool)
	}
}

// mcpServer returns an MCP server with the tools include picks.
func (c *core) mcpServer(include func(string) bool, callerOf func(context.Context, *mcp.CallToolRequest) (mcptools.Caller, error)) *mcp.Server {
	server := mcp.NewServer(&mcp.Implementation{Name: "gatekeeper", Version: Version}, &mcp.ServerOptions{
		Instructions: instructions,
		Logger:       c.logger.With("component", "mcp"),
		SchemaCache:  c.schemas,
	})
	opts := c.toolOptions()
	opts.Caller, opts.Include = callerOf, include
	mcptools.Register(server, opts)
	return server
}

// toolOptions are the operations' options, whichever the front door: the
// MCP tools and the REST API read the configuration here alone. What they
// read from it here changes only with a restart; what a reload changes
// (reveal rules, limits) is read at call time.
func (c *core) toolOptions() mcptools.Options {
	cfg := c.settings().cfg
	layout := cfg.Layout()
	return mcptools.Options{
		Access:       c.access,
		Vault:        c.vault,
		KVMount:      cfg.KVMount,
		TransitMount: layout.Transit(),
		Folder:       func(p access.Principal) string { return layout.Folder(c.agentOf(p)) },
		KeyName:      func(p access.Principal, key string) string { return c.agentOf(p).KeyName(key) },
		Reveal:       func(_ access.Principal, path string) bool { return c.settings().reveal.Reveal(path) },
		Exec:         c.exec,
		Egress:       c.egressTool(),
		Credentials:  c.credentialTools(),
		Limit:        func(p access.Principal) (time.Duration, bool) { return c.limits.Allow(string(p)) },
		Audit:        c.audit,
		Logger:       c.logger,
		Tracer:       c.tracing.Tracer(),
		Links:        c.pages.Waiting,

		PasscodeFallback: cfg.Approval.PasscodeFallback,
	}
}

// credentialTools is the credential service as the tools take it: a nil
// service is no tools.
func (c *core) credentialTools() mcptools.Credentials {
	if c.creds == nil {
		return nil
	}
	return c.creds
}

// credentialSpecs are the credentials a principal may ask for, as the
// configuration names them.
func credentialSpecs(cfg config.Config, agentOf func(access.Principal) setup.Agent) func(access.Principal) []credential.Spec {
	return func(p access.Principal) []credential.Spec {
		var out []credential.Spec
		for _, cr := range cfg.CredentialsFor(string(agentOf(p))) {
			out = append(out, credential.Spec{
				Name: cr.Name, Engine: cr.Engine, Mount: cr.MountOf(), Role: cr.Role, Tier: cr.TierOf(), AllowsName: cr.AllowsName,
			})
		}
		return out
	}
}

// egressTool is the egress client as the tools take it: a nil client is no
// tool (a nil *egress.Client in the interface would not be).
func (c *core) egressTool() mcptools.Egress {
	if c.egress == nil {
		return nil
	}
	return c.egress
}

// fanout sends each audit event to every recorder, the audit log first. An
// event the audit log refused is not passed on: it did not happen.
type fanout []access.Recorder

func (f fanout) Record(ctx context.Context, e audit.Event) error {
	for _, r := range f {
		if err := r.Record(ctx, e); err != nil {
			return err
		}
	}
	return nil
}
