// Package mcptools exposes the access model as MCP tools. Each tool is a thin
// adapter: it validates input, asks the access.Manager for a grant, calls
// Vault with that grant's token and turns every error into a message the
// model can act on, with the audit correlation id. Decisions live in the
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

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// Access is what the tools need from the access model.
type Access interface {
	Authenticate(ctx context.Context, p access.Principal, passcode sensitive.String) (access.Status, error)
	Escalate(ctx context.Context, p access.Principal, reason string, paths []string, passcode sensitive.String) (access.Status, error)
	ForRead(ctx context.Context, p access.Principal, trigger string) (*access.Grant, error)
	ForWrite(p access.Principal, path string) (*access.Grant, error)
	Recheck(ctx context.Context, g *access.Grant) error
	Status(p access.Principal) access.Status
	Release(ctx context.Context, p access.Principal) (access.Status, error)
	Logout(ctx context.Context, p access.Principal) (access.Status, error)
}

// KV is what the tools need from Vault.
type KV interface {
	KVRead(ctx context.Context, tok sensitive.String, mount, path string) (*vault.KVSecret, error)
	KVWrite(ctx context.Context, tok sensitive.String, mount, path string, data map[string]any) (int64, error)
	KVList(ctx context.Context, tok sensitive.String, mount, path string) ([]string, error)
}

// Recorder receives audit events.
type Recorder interface {
	Record(ctx context.Context, e audit.Event)
}

// Options configure the tools. Access, KV, KVMount, Folder and Caller are
// required.
type Options struct {
	Access  Access
	KV      KV
	KVMount string
	// Folder is a principal's folder in KVMount: its paths are relative to it.
	Folder func(p access.Principal) string
	// Caller says who calls and what the credential allows. Over stdio it is
	// the one configured principal with no scope restriction.
	Caller func(ctx context.Context, req *mcp.CallToolRequest) (Caller, error)
	// Include picks the tools to register (nil: all). Over HTTP each
	// credential's scopes decide which tools exist for it.
	Include func(tool string) bool
	// Limit is asked before every call; refusing returns when to retry.
	// Nil: no limit.
	Limit  func(p access.Principal) (retryAfter time.Duration, ok bool)
	Audit  Recorder
	Logger *slog.Logger
	// ProgressEvery is how often a call waiting for an approval reports
	// progress to a client that asked for it. Default 5s.
	ProgressEvery time.Duration
}

// Caller is the principal behind a call and its credential's scopes.
type Caller struct {
	Principal access.Principal
	// Scopes limit the tools; nil means no limit (stdio).
	Scopes []string
}

type tools struct{ opts Options }

// Register adds the tools to s.
func Register(s *mcp.Server, opts Options) {
	if opts.Access == nil || opts.KV == nil || opts.KVMount == "" || opts.Folder == nil || opts.Caller == nil {
		panic("mcptools.Register: Access, KV, KVMount, Folder and Caller are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Audit == nil {
		opts.Audit = (*audit.Log)(nil)
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = 5 * time.Second
	}
	if opts.Include == nil {
		opts.Include = func(string) bool { return true }
	}
	t := &tools{opts: opts}
	add(s, t, authenticateTool, t.authenticate)
	add(s, t, escalateTool, t.escalate)
	add(s, t, readTool, t.read)
	add(s, t, writeTool, t.write)
	add(s, t, listTool, t.list)
	add(s, t, statusTool, t.status)
	add(s, t, releaseTool, t.release)
	add(s, t, logoutTool, t.logout)
}

// call is one tool call as the handlers see it.
type call struct {
	req       *mcp.CallToolRequest
	principal access.Principal
	tool      string
	path      string // the agent's path, once validated, for the audit log
}

type handler[In, Out any] func(ctx context.Context, c *call, in In) (Out, error)

// add wraps a handler with what every call needs: a correlation id, the
// caller and its scopes (checked again on every call), the rate limit, one
// audit event and the translation of errors for the model.
func add[In, Out any](s *mcp.Server, t *tools, tool *mcp.Tool, h handler[In, Out]) {
	if !t.opts.Include(tool.Name) {
		return
	}
	mcp.AddTool(s, tool, func(ctx context.Context, req *mcp.CallToolRequest, in In) (*mcp.CallToolResult, Out, error) {
		var zero Out
		id := newCorrelationID()
		ctx = audit.WithCorrelationID(ctx, id)
		c := &call{req: req, tool: tool.Name}
		ctx = offerLinks(ctx, c)
		out, err := run(ctx, t, c, func() (Out, error) { return h(ctx, c, in) })
		ev := audit.Event{Event: audit.ToolCall, Outcome: audit.OK, CorrelationID: id, Principal: string(c.principal), Tool: tool.Name, Path: c.path}
		if err != nil {
			msg, outcome := agentMessage(err)
			ev.Outcome, ev.Detail = outcome, msg
			t.opts.Audit.Record(ctx, ev)
			t.opts.Logger.DebugContext(ctx, "tool call failed", "tool", tool.Name, "correlation_id", id, "err", err)
			return nil, zero, &toolError{msg: msg + " (ref " + id + ")"}
		}
		t.opts.Audit.Record(ctx, ev)
		return nil, out, nil
	})
}

// run checks the caller, its scopes and its rate before the handler runs.
func run[Out any](ctx context.Context, t *tools, c *call, h func() (Out, error)) (Out, error) {
	var zero Out
	caller, err := t.opts.Caller(ctx, c.req)
	if err != nil {
		return zero, err
	}
	c.principal = caller.Principal
	if caller.Scopes != nil && !Allowed(c.tool, caller.Scopes) {
		return zero, errNotAllowed
	}
	if t.opts.Limit != nil {
		if wait, ok := t.opts.Limit(caller.Principal); !ok {
			return zero, &access.RateLimitedError{What: "tool calls", RetryAfter: wait}
		}
	}
	return h()
}

// errNotAllowed refuses a tool the credential's scopes do not include. The
// tool is not even listed for such a credential; this is the second check.
var errNotAllowed = errors.New("tool not allowed for this credential")

type toolError struct{ msg string }

func (e *toolError) Error() string { return e.msg }

func newCorrelationID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func ptr[T any](v T) *T { return &v }
