package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
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
	"github.com/gatekeeper-mcp/gatekeeper/internal/reveal"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/tracing"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
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
	cfg    config.Config
	logger *slog.Logger
	audit  access.Recorder
	vault  *vault.Client
	access *access.Manager
	// agentOf maps a principal to its Vault layout.
	agentOf func(access.Principal) setup.Agent
	limits  *ratelimit.Limiter
	// approverReady tells whether an approval can be run now.
	approverReady check
	reveal        *reveal.Matcher
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
	vc, err := vault.New(vault.Options{Address: cfg.VaultAddr, WrapTransport: wrap})
	if err != nil {
		closeAudit()
		return nil, err
	}
	kctx, stopKeepAlive := context.WithCancel(ctx)
	go keepAlive(kctx, vc, cfg.VaultToken, logger)

	layout := cfg.Layout()
	pages, err := newApprovalPage(cfg, o.stdio, sys.Stderr, logger)
	if err != nil {
		stopKeepAlive()
		closeAudit()
		return nil, err
	}
	iss, err := newIssuer(cfg, vc, pages.Server, sys, o.agentOf, logger)
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
	rateOf := func(pick func(config.Agent) *config.Rate, def config.Rate) func(string) ratelimit.Rate {
		return func(agent string) ratelimit.Rate {
			r := def
			if a, ok := cfg.FindAgent(agent); ok && pick(a) != nil {
				r = *pick(a)
			}
			return ratelimit.Rate{PerMinute: r.PerMinute, Burst: r.Burst}
		}
	}
	approvals := ratelimit.New(rateOf(func(a config.Agent) *config.Rate { return a.Approvals }, cfg.Limits.Approvals), nil)
	store, sharedOpts, err := sharedState(ctx, cfg, vc, logger)
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
			a := o.agentOf(p)
			return access.Policy{
				Scope:    cfg.KVMount + "/" + layout.Folder(a) + "/",
				ReadTTL:  cfg.TTL(string(a), access.Read),
				WriteTTL: cfg.TTL(string(a), access.Write),
			}
		},
		ApprovalLimit:  func(p access.Principal) (time.Duration, bool) { return approvals.Allow(string(p)) },
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
	matcher, err := reveal.New(cfg.RevealPolicy()) // validated with the configuration
	if err != nil {
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
	c := &core{
		reveal: matcher,
		egress: eg,
		cfg:    cfg, logger: logger, audit: rec, vault: vc, access: mgr, agentOf: o.agentOf, approverReady: iss.ready,
		tracing: tr,
		state:   store,
		pages:   pages.Server,
		limits:  ratelimit.New(rateOf(func(a config.Agent) *config.Rate { return a.Rate }, cfg.Limits.Rate), nil),
	}
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
		stopKeepAlive()
		if err := tr.Shutdown(sctx); err != nil {
			logger.Warn("exporting the last traces", "err", err)
		}
		closeAudit()
	})
	return c, nil
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
	})
	opts := c.toolOptions()
	opts.Caller, opts.Include = callerOf, include
	mcptools.Register(server, opts)
	return server
}

// toolOptions are the operations' options, whichever the front door: the
// MCP tools and the REST API read the configuration here alone.
func (c *core) toolOptions() mcptools.Options {
	layout := c.cfg.Layout()
	return mcptools.Options{
		Access:       c.access,
		Vault:        c.vault,
		KVMount:      c.cfg.KVMount,
		TransitMount: layout.Transit(),
		Folder:       func(p access.Principal) string { return layout.Folder(c.agentOf(p)) },
		KeyName:      func(p access.Principal, key string) string { return c.agentOf(p).KeyName(key) },
		Reveal:       func(_ access.Principal, path string) bool { return c.reveal.Reveal(path) },
		Exec:         c.exec,
		Egress:       c.egressTool(),
		Credentials:  c.credentialTools(),
		Limit:        func(p access.Principal) (time.Duration, bool) { return c.limits.Allow(string(p)) },
		Audit:        c.audit,
		Logger:       c.logger,
		Tracer:       c.tracing.Tracer(),
		Links:        c.pages.Waiting,

		PasscodeFallback: c.cfg.Approval.PasscodeFallback,
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
