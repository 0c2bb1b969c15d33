// Package mcptools exposes the access model as MCP tools, and the same
// operations to the REST API (Operations): one table of operations, several
// front doors. Each operation is a thin adapter: it validates input, asks
// the access.Manager for a grant, calls Vault with that grant's token and
// turns every error into a message the model can act on, with the audit
// correlation id (and, for HTTP, a status: classify). Decisions live in the
// access package, not here.
package mcptools

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/execsecret"
	"github.com/gatekeeper-mcp/gatekeeper/internal/secretuse"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/tracing"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// Access is what the tools need from the access model.
type Access interface {
	Authenticate(ctx context.Context, p access.Principal, passcode sensitive.String) (access.Status, error)
	Escalate(ctx context.Context, p access.Principal, reason string, paths []string, passcode sensitive.String) (access.Status, error)
	ForRead(ctx context.Context, p access.Principal, trigger string) (*access.Grant, error)
	ForWrite(p access.Principal, path string) (*access.Grant, error)
	Once(ctx context.Context, p access.Principal, reason, trigger string, paths []string, passcode sensitive.String, fn func(tok sensitive.String) error) error
	Recheck(ctx context.Context, g *access.Grant) error
	Status(p access.Principal) access.Status
	Credential(p access.Principal, name string) (access.Credential, error)
	Credentials(p access.Principal) []access.CredentialView
	Release(ctx context.Context, p access.Principal) (access.Status, error)
	Logout(ctx context.Context, p access.Principal) (access.Status, error)
}

// Vault is what the tools need from the Vault client.
type Vault interface {
	KVReadVersion(ctx context.Context, tok sensitive.String, mount, path string, version int64) (*vault.KVSecret, error)
	KVWriteCAS(ctx context.Context, tok sensitive.String, mount, path string, data map[string]any, cas *int64) (int64, error)
	KVPatch(ctx context.Context, tok sensitive.String, mount, path string, data map[string]any, cas *int64) (int64, error)
	KVList(ctx context.Context, tok sensitive.String, mount, path string) ([]string, error)
	KVMetadata(ctx context.Context, tok sensitive.String, mount, path string) (*vault.KVMetadata, error)
	KVDelete(ctx context.Context, tok sensitive.String, mount, path string, versions []int64) error
	KVUndelete(ctx context.Context, tok sensitive.String, mount, path string, versions []int64) error
	KVDestroy(ctx context.Context, tok sensitive.String, mount, path string, versions []int64) error
	TransitEncrypt(ctx context.Context, tok sensitive.String, mount, key, plaintextB64 string) (string, error)
	TransitDecrypt(ctx context.Context, tok sensitive.String, mount, key, ciphertext string) (string, error)
	TransitRewrap(ctx context.Context, tok sensitive.String, mount, key, ciphertext string) (string, error)
	TransitSign(ctx context.Context, tok sensitive.String, mount, key, inputB64 string) (string, error)
	TransitVerify(ctx context.Context, tok sensitive.String, mount, key, inputB64, signature string) (bool, error)
}

// Runner runs a local command with secret values in its environment.
type Runner interface {
	Run(ctx context.Context, command string, args []string, env map[string]secretuse.Secret) (execsecret.Result, error)
}

// Recorder receives audit events. An error means the event was not
// recorded, and the call's result must not be given (audit.ErrUnavailable).
type Recorder interface {
	Record(ctx context.Context, e audit.Event) error
}

// Options configure the tools. Access, Vault, KVMount, TransitMount,
// Folder and KeyName are required; Caller too for Register.
type Options struct {
	Access       Access
	Vault        Vault
	KVMount      string
	TransitMount string
	// Folder is a principal's folder in KVMount: its paths are relative to it.
	Folder func(p access.Principal) string
	// KeyName is the transit key a principal calls key.
	KeyName func(p access.Principal, key string) string
	// Reveal says whether read tools may return the values at a path;
	// nil reveals everything.
	Reveal func(p access.Principal, path string) bool
	// Exec, if set, adds run_with_secret (stdio only, off by default).
	Exec Runner
	// Egress, if set, adds http_request for the principals it allows
	// (Include decides which principals' servers list it).
	Egress Egress
	// Credentials, if set, adds issue_credential, list_credentials and
	// revoke_credential.
	Credentials Credentials
	// Caller says who calls an MCP tool and what the credential allows.
	// Over stdio it is the one configured principal with no scope
	// restriction. (Operations.Call is told the caller instead.)
	Caller func(ctx context.Context, req *mcp.CallToolRequest) (Caller, error)
	// Include picks the tools to register (nil: all). Over HTTP each
	// credential's scopes decide which tools exist for it.
	Include func(tool string) bool
	// Limit is asked before every call, and again for every further Vault
	// call one tool call makes (list_secrets' walk); refusing returns when
	// to retry.
	// Nil: no limit.
	Limit  func(p access.Principal) (retryAfter time.Duration, ok bool)
	Audit  Recorder
	Logger *slog.Logger
	// Tracer traces each call (nil: no tracing).
	Tracer trace.Tracer
	// ProgressEvery is how often a call waiting for an approval reports
	// progress to a client that asked for it. Default 5s.
	ProgressEvery time.Duration
	// PasscodeFallback says the deployment takes a code passed by the
	// agent (access.Options.AcceptPasscode); the tool descriptions say so.
	PasscodeFallback bool
	// Links gives the approval page of a principal's pending approval of
	// a tier, for progress reports; nil: none.
	Links func(p access.Principal, t access.Tier) (string, bool)
}

// Caller is the principal behind a call and its credential's scopes.
type Caller struct {
	Principal access.Principal
	// Scopes limit the tools; nil means no limit (stdio).
	Scopes []string
}

type tools struct {
	opts     Options
	resolver *secretuse.Resolver
}

// Register adds the tools to s: the operations table, as MCP tools.
func Register(s *mcp.Server, opts Options) {
	if opts.Caller == nil {
		panic("mcptools.Register: Caller is required")
	}
	NewOperations(opts).register(s)
}

// defaults checks what Options require and fills in the rest.
func defaults(opts Options) Options {
	if opts.Access == nil || opts.Vault == nil || opts.KVMount == "" || opts.TransitMount == "" || opts.Folder == nil || opts.KeyName == nil {
		panic("mcptools: Access, Vault, KVMount, TransitMount, Folder and KeyName are required")
	}
	if opts.Reveal == nil {
		opts.Reveal = func(access.Principal, string) bool { return true }
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Audit == nil {
		opts.Audit = (*audit.Log)(nil)
	}
	if opts.Tracer == nil {
		opts.Tracer = noop.NewTracerProvider().Tracer("")
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = 5 * time.Second
	}
	if opts.Include == nil {
		opts.Include = func(string) bool { return true }
	}
	if opts.Links == nil {
		opts.Links = func(access.Principal, access.Tier) (string, bool) { return "", false }
	}
	return opts
}

// call is one tool call as the handlers see it.
type call struct {
	req       *mcp.CallToolRequest // nil outside MCP
	principal access.Principal
	scopes    []string // the caller's; nil: no restriction (stdio)
	api       string   // the front door (audit.APIMCP, audit.APIREST)
	tool      string
	path      string // the agent's path, once validated, for the audit log
	reveal    string // "revealed", "withheld" or "injected", when the call read values
	// tier and accessor name the grant the call used, for the audit log.
	tier, accessor string
	// secrets names the references a call used secrets through
	// ("path#field", space-separated); never values.
	secrets string
	// http is what http_request did, for the audit log.
	http httpAudit
}

// httpAudit is the audit view of a use of secrets: for http_request, where
// the request went as written (placeholders, never values), how, and what
// came back; for both tools, how many markers the agent got.
type httpAudit struct {
	destination, method string
	status, sent, recvd int64
	redacted            int64
}

// invoke runs one call, whichever front door it came through, with what
// every call needs: a correlation id, the caller and its scopes (checked
// again on every call), the rate limit, one audit event and a trace span.
// The result is given only once its audit event is written: a read that
// cannot be recorded reveals nothing. The error, if any, is the raw one:
// each front door shows it through agentMessage (and classify).
func (t *tools) invoke(ctx context.Context, c *call, who func() (Caller, error), h func(ctx context.Context) (any, error)) (_ any, id string, _ error) {
	id, c.api = newCorrelationID(), audit.API(ctx)
	ctx = audit.WithCorrelationID(ctx, id)
	ctx, span := t.opts.Tracer.Start(ctx, "tool "+c.tool, trace.WithAttributes(
		attribute.String("gatekeeper.tool", c.tool), attribute.String("gatekeeper.correlation_id", id)))
	ctx, relayed := offerLinks(ctx, c)
	start := time.Now()
	out, err := t.run(c, who, func() (any, error) { return h(ctx) })
	if link := relayed(); link != nil && errors.Is(err, context.Canceled) {
		// The approval goes on; the agent passes its link on.
		err = link
	}
	ev := c.event(audit.Event{Event: audit.ToolCall, Outcome: audit.OK, CorrelationID: id,
		ElapsedMS: time.Since(start).Milliseconds()})
	ev.HTTPStatus, ev.BytesReceived, ev.Redactions = c.http.status, c.http.recvd, c.http.redacted
	if err != nil {
		msg, outcome := agentMessage(err)
		ev.Outcome, ev.Detail = outcome, auditDetail(err, msg)
	}
	if aerr := t.opts.Audit.Record(ctx, ev); aerr != nil && err == nil {
		err = aerr
		ev.Outcome = audit.Failed
	}
	span.SetAttributes(attribute.String("gatekeeper.principal", ev.Principal), attribute.String("gatekeeper.path", ev.Path),
		attribute.String("gatekeeper.tier", ev.Tier))
	tracing.End(span, string(ev.Outcome), err != nil)
	if err != nil {
		t.opts.Logger.DebugContext(ctx, "tool call failed", "tool", c.tool, "api", c.api, "correlation_id", id, "err", err)
		return nil, id, err
	}
	return out, id, nil
}

// withCodes is tool as a deployment shows it: one that takes the agent's
// passcode says so, without inviting the model to ask for codes.
func withCodes(tool *mcp.Tool, fallback bool) *mcp.Tool {
	if !fallback {
		return tool
	}
	t := *tool
	t.Description += " Only if the human chooses to give you their current code, you may pass it as passcode; " +
		"never ask them for one."
	return &t
}

// intent records, before a call changes anything in Vault (a write, a
// deletion, a command run with secrets), what it is about to do with which
// grant. If that cannot be recorded, nothing is done.
func (t *tools) intent(ctx context.Context, c *call, g *access.Grant) error {
	c.tier, c.accessor = g.Tier.String(), g.Accessor
	return t.opts.Audit.Record(ctx, c.event(audit.Event{Event: audit.ToolRequest, Outcome: audit.OK, ApprovalID: g.ApprovalID}))
}

// event fills in what the call knows about itself.
func (c *call) event(e audit.Event) audit.Event {
	e.Principal, e.API, e.Tool, e.Path, e.Tier, e.Accessor, e.Reveal = string(c.principal), c.api, c.tool, c.path, c.tier, c.accessor, c.reveal
	e.Secrets, e.Destination, e.HTTPMethod, e.BytesSent = c.secrets, c.http.destination, c.http.method, c.http.sent
	return e
}

// run checks the caller, its scopes and its rate before the handler runs.
func (t *tools) run(c *call, who func() (Caller, error), h func() (any, error)) (any, error) {
	caller, err := who()
	if err != nil {
		return nil, err
	}
	c.principal, c.scopes = caller.Principal, caller.Scopes
	if caller.Scopes != nil && !Allowed(c.tool, caller.Scopes) {
		return nil, &scopeError{tool: c.tool, need: toolScopes[c.tool]}
	}
	if t.opts.Limit != nil {
		if wait, ok := t.opts.Limit(caller.Principal); !ok {
			return nil, &access.RateLimitedError{What: "tool calls", RetryAfter: wait}
		}
	}
	return h()
}

// spend charges one more Vault call of the current tool call to the
// caller's rate limit; false when the limit refuses it.
func (t *tools) spend(c *call) bool {
	if t.opts.Limit == nil {
		return true
	}
	_, ok := t.opts.Limit(c.principal)
	return ok
}

// errNotAllowed refuses a tool the credential may not use (a scopeError
// says which scope it lacks). The tool is not even listed for such a
// credential; this is the second check.
var errNotAllowed = errors.New("tool not allowed for this credential")

type toolError struct{ msg string }

func (e *toolError) Error() string { return e.msg }

func newCorrelationID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func ptr[T any](v T) *T { return &v }
