package mcptools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/secretuse"
)

// Operations is the one table of what an agent can do: each operation's
// name, description, input and output schemas and handler. The MCP tools
// are registered from it and the REST API calls it, so a new operation
// shows up at both front doors, under the same checks and audit.
type Operations struct {
	t   *tools
	ops []*operation
	// hidden are the tools MCP would offer but Include left out: MCP does
	// not list them, and a call of one by name gets the reason instead of
	// "unknown tool".
	hidden []string
}

// operation is one row of the table.
type operation struct {
	tool  *mcp.Tool // with its input and output schemas
	input *jsonschema.Resolved
	// register adds it to an MCP server.
	register func(s *mcp.Server)
	// call decodes a JSON input object and runs the handler.
	call func(ctx context.Context, c *call, args json.RawMessage) (any, error)
}

// fronts names the operations that only one front door offers; the others
// are offered by both. run_with_secret runs a local command for a stdio
// agent; whoami answers what an HTTP caller's credential is, which an MCP
// client's session already knows.
var fronts = map[string]string{
	"run_with_secret": audit.APIMCP,
	"whoami":          audit.APIREST,
}

// NewOperations builds the table of operations that every front door
// serves. A front door other than MCP does not use Options.Caller: each
// Request says who calls.
func NewOperations(opts Options) *Operations {
	opts = defaults(opts)
	t := &tools{opts: opts, resolver: secretuse.NewResolver(secretuse.ResolverOptions{Vault: opts.Vault, Mount: opts.KVMount})}
	o := &Operations{t: t}
	o.add(op(t, withCodes(authenticateTool, opts.PasscodeFallback), t.authenticate))
	o.add(op(t, withCodes(escalateTool, opts.PasscodeFallback), t.escalate))
	o.add(op(t, statusTool, t.status))
	o.add(op(t, whoamiTool, t.whoami))
	o.add(op(t, releaseTool, t.release))
	o.add(op(t, logoutTool, t.logout))
	o.add(op(t, readTool, t.read))
	o.add(op(t, metadataTool, t.metadata))
	o.add(op(t, listTool, t.list))
	o.add(op(t, writeTool, t.write))
	o.add(op(t, patchTool, t.patch))
	o.add(op(t, deleteTool, t.delete))
	o.add(op(t, undeleteTool, t.undelete))
	o.add(op(t, withCodes(destroyTool, opts.PasscodeFallback), t.destroy))
	o.add(op(t, encryptTool, t.encrypt))
	o.add(op(t, decryptTool, t.decrypt))
	o.add(op(t, rewrapTool, t.rewrap))
	o.add(op(t, signTool, t.sign))
	o.add(op(t, verifyTool, t.verify))
	if opts.Exec != nil {
		o.add(op(t, runTool, t.runWithSecret))
	}
	if opts.Egress != nil {
		o.add(op(t, httpTool, t.httpRequest))
	}
	if opts.Credentials != nil {
		o.add(op(t, issueCredentialTool, t.issueCredential))
		o.add(op(t, listCredentialsTool, t.listCredentials))
		o.add(op(t, revokeCredentialTool, t.revokeCredential))
	}
	return o
}

func (o *Operations) add(op *operation) {
	if o.t.opts.Include(op.tool.Name) {
		o.ops = append(o.ops, op)
	} else if front, only := fronts[op.tool.Name]; !only || front == audit.APIMCP {
		o.hidden = append(o.hidden, op.tool.Name)
	}
}

// register adds the operations MCP offers to s.
func (o *Operations) register(s *mcp.Server) {
	for _, op := range o.ops {
		if front, only := fronts[op.tool.Name]; !only || front == audit.APIMCP {
			op.register(s)
		}
	}
	if len(o.hidden) > 0 {
		s.AddReceivingMiddleware(o.refuseHidden)
	}
}

// refuseHidden answers a tools/call of an operation this credential is not
// offered with the sentence that says why (the scope it needs), where the
// SDK would answer "unknown tool". The call goes through invoke like any
// other, so it is checked, rate-limited and audited alike; its handler
// only refuses.
func (o *Operations) refuseHidden(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		r, ok := req.(*mcp.CallToolRequest)
		if method != "tools/call" || !ok || r.Params == nil || !slices.Contains(o.hidden, r.Params.Name) {
			return next(ctx, method, req)
		}
		c := &call{req: r, tool: r.Params.Name}
		who := func() (Caller, error) { return o.t.opts.Caller(ctx, r) }
		_, id, err := o.t.invoke(audit.WithAPI(ctx, audit.APIMCP), c, who, func(context.Context) (any, error) { return nil, errNotAllowed })
		msg, _ := agentMessage(err)
		return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: msg + " (ref " + id + ")"}}}, nil
	}
}

// op makes a row of the table from a typed handler. The schemas are
// inferred from In and Out once per process (schemas.go) and given to the
// MCP SDK as they are, so what tools/list shows and what the REST API
// documents are the same schemas.
//
// Both front doors decode the input the same way (decode, inside invoke),
// so a call the schema refuses is refused, answered and audited alike at
// each. The MCP tool is registered with the SDK's untyped AddTool: its
// typed AddTool would validate the input a second time, through a
// re-marshalled copy, and validate Gatekeeper's own output against the
// output schema on every call, re-marshalling that too (15 % of
// Gatekeeper's CPU per read at 100 agents, docs/performance.md). The
// output is marshalled once, for the structured content and its text copy.
func op[In, Out any](t *tools, tool *mcp.Tool, h func(ctx context.Context, c *call, in In) (Out, error)) *operation {
	in, resolved, err := schemaOf[In]()
	if err != nil {
		panic(fmt.Sprintf("mcptools: %s input schema: %v", tool.Name, err))
	}
	out, _, err := schemaOf[Out]()
	if err != nil {
		panic(fmt.Sprintf("mcptools: %s output schema: %v", tool.Name, err))
	}
	tt := *tool
	tt.InputSchema, tt.OutputSchema = in, out
	o := &operation{tool: &tt, input: resolved}
	o.call = func(ctx context.Context, c *call, args json.RawMessage) (any, error) {
		var v In
		if err := decode(o.input, args, &v); err != nil {
			return nil, err
		}
		return h(ctx, c, v)
	}
	o.register = func(s *mcp.Server) {
		s.AddTool(o.tool, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			c := &call{req: req, tool: tt.Name}
			who := func() (Caller, error) { return t.opts.Caller(ctx, req) }
			out, id, err := t.invoke(audit.WithAPI(ctx, audit.APIMCP), c, who, func(ctx context.Context) (any, error) {
				return o.call(ctx, c, req.Params.Arguments)
			})
			if err != nil {
				msg, _ := agentMessage(err)
				return toolResult(&toolError{msg: msg + " (ref " + id + ")"}), nil
			}
			b, err := json.Marshal(out)
			if err != nil {
				return toolResult(&toolError{msg: "Gatekeeper could not encode the result (ref " + id + ")"}), nil
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(b)}}, StructuredContent: json.RawMessage(b)}, nil
		})
	}
	return o
}

// toolResult is a failed call as the agent sees it.
func toolResult(err error) *mcp.CallToolResult {
	var res mcp.CallToolResult
	res.SetError(err)
	return &res
}

// decode validates args against the operation's input schema and decodes
// them into v, for every front door. Its errors name what is wrong, never
// a value given. The schemas come from jsonschema.For,
// which gives no property a default, so there are none to apply and the
// validated arguments are decoded as they came.
func decode(schema *jsonschema.Resolved, args json.RawMessage, v any) error {
	m := map[string]any{}
	if len(args) > 0 {
		if err := json.Unmarshal(args, &m); err != nil {
			return inputError("the input must be a JSON object")
		}
	}
	if m == nil {
		m = map[string]any{} // null
	}
	var instance any = m
	if err := schema.Validate(&instance); err != nil {
		return inputError(schemaProblem(err))
	}
	if len(args) == 0 {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	if err := json.Unmarshal(args, v); errors.As(err, &typeErr) {
		return inputError("the field " + typeErr.Field + " has the wrong type")
	} else if err != nil {
		return inputError("the input must be a JSON object")
	}
	return nil
}

var (
	badProperty     = regexp.MustCompile(`/properties/([a-z_]+)`)
	missingProperty = regexp.MustCompile(`missing properties: \[("[a-z_]+"(?:,\s*"[a-z_]+")*)\]`)
)

// schemaProblem says what the validator found wrong, by the names of the
// schema's own properties: the validator's words may quote a value.
func schemaProblem(err error) string {
	msg := err.Error()
	if m := missingProperty.FindStringSubmatch(msg); m != nil {
		return "missing " + strings.ReplaceAll(m[1], `"`, "")
	}
	if m := badProperty.FindAllStringSubmatch(msg, -1); m != nil {
		return m[len(m)-1][1] + " has the wrong type or value"
	}
	if strings.Contains(msg, "additional properties") {
		return "the input has a field the operation does not take (see its schema)"
	}
	return "the input does not match the operation's schema"
}

// Request is a call through a front door other than MCP.
type Request struct {
	// Caller was authenticated by the front door. Scopes decide, as for an
	// MCP tool, which operations it may call; nil Scopes allow none.
	Caller Caller
	// Operation names the operation (a tool's name).
	Operation string
	// Args is its input, a JSON object; empty for none.
	Args json.RawMessage
	// API is the front door, for the audit trail (audit.APIREST).
	API string
}

// Call runs one operation for a caller. A refusal or failure is a
// *CallError with the same message and correlation id an MCP tool gives.
func (o *Operations) Call(ctx context.Context, req Request) (any, error) {
	op := o.find(req.Operation)
	if op == nil {
		return nil, &CallError{Status: http.StatusNotFound, Message: fmt.Sprintf("There is no operation %q.", req.Operation)}
	}
	caller := req.Caller
	if caller.Scopes == nil {
		caller.Scopes = []string{} // no credential here goes unrestricted
	}
	c := &call{tool: op.tool.Name}
	out, id, err := o.t.invoke(audit.WithAPI(ctx, req.API), c, func() (Caller, error) { return caller, nil },
		func(ctx context.Context) (any, error) { return op.call(ctx, c, req.Args) })
	if err != nil {
		return nil, classify(err, id)
	}
	return out, nil
}

// find is the operation of that name this front door offers, or nil.
func (o *Operations) find(name string) *operation {
	if front, only := fronts[name]; only && front == audit.APIMCP {
		return nil
	}
	for _, op := range o.ops {
		if op.tool.Name == name {
			return op
		}
	}
	return nil
}

// Spec describes one operation for a front door's documentation.
type Spec struct {
	Name, Title, Description string
	// Scope is the scope a credential needs ("" any that opens some
	// operation; see Allowed).
	Scope         string
	Input, Output *jsonschema.Schema
}

// Specs lists the operations this front door offers, in table order.
func (o *Operations) Specs() []Spec {
	var out []Spec
	for _, op := range o.ops {
		if o.find(op.tool.Name) == nil {
			continue
		}
		out = append(out, Spec{
			Name: op.tool.Name, Title: op.tool.Title, Description: op.tool.Description, Scope: toolScopes[op.tool.Name],
			Input: op.tool.InputSchema.(*jsonschema.Schema), Output: op.tool.OutputSchema.(*jsonschema.Schema),
		})
	}
	return out
}

// CallError is a refused or failed call as a front door other than MCP
// shows it: the agent's message with its correlation id, and what HTTP
// says of it.
type CallError struct {
	// Status is the HTTP status (classify).
	Status int
	// Message is what an MCP tool would say, "(ref ID)" included.
	Message       string
	CorrelationID string
	// Tier is the access the call needs and the caller lacks (403).
	Tier string
	// ApprovalURL is the page where the human answers the approval the
	// call started; the caller relays it and calls again (403).
	ApprovalURL string
	// RetryAfter is when to try again (429).
	RetryAfter time.Duration
	err        error
}

func (e *CallError) Error() string { return e.Message }
func (e *CallError) Unwrap() error { return e.err }
