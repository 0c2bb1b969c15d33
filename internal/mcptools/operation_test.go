package mcptools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// newTestOperations is the table with the test defaults of connectWith.
func newTestOperations(opts Options) *Operations {
	opts.KVMount, opts.TransitMount = "secret", "transit"
	opts.KeyName = func(_ access.Principal, k string) string { return "p." + k }
	opts.Folder = func(access.Principal) string { return "agent" }
	return NewOperations(opts)
}

func restCall(t *testing.T, ops *Operations, scopes []string, name, args string) (any, error) {
	t.Helper()
	return ops.Call(t.Context(), Request{Caller: Caller{Principal: "p", Scopes: scopes}, Operation: name, Args: json.RawMessage(args), API: audit.APIREST})
}

// TestBothFrontDoorsAlike calls read_secret as an MCP tool and as an
// operation: the same output, the same audit event but for the front door.
func TestBothFrontDoorsAlike(t *testing.T) {
	rec := &recorder{}
	cs := connect(t, &stubAccess{}, &stubKV{}, rec, nil)
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "read_secret", Arguments: map[string]any{"path": "db/pg"}})
	if err != nil || res.IsError {
		t.Fatalf("read_secret over MCP: %v %+v", err, res)
	}
	ops := newTestOperations(Options{Access: &stubAccess{}, Vault: &stubKV{}, Audit: rec})
	out, err := restCall(t, ops, []string{"read"}, "read_secret", `{"path": "db/pg"}`)
	if err != nil {
		t.Fatal(err)
	}
	viaREST, _ := json.Marshal(out)
	viaMCP, _ := json.Marshal(res.StructuredContent)
	if !jsonEqual(t, viaMCP, viaREST) {
		t.Errorf("output over MCP %s, over REST %s", viaMCP, viaREST)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.all) != 2 {
		t.Fatalf("audit = %+v, want two tool.call events", rec.all)
	}
	mcpEv, restEv := rec.all[0], rec.all[1]
	if mcpEv.API != audit.APIMCP || restEv.API != audit.APIREST {
		t.Errorf("api = %q and %q, want mcp and rest", mcpEv.API, restEv.API)
	}
	for _, ev := range []*audit.Event{&mcpEv, &restEv} {
		ev.API, ev.CorrelationID, ev.ElapsedMS, ev.Time = "", "", 0, time.Time{}
	}
	if diff := cmp.Diff(mcpEv, restEv); diff != "" {
		t.Errorf("audit events differ beyond the front door (-mcp +rest):\n%s", diff)
	}
}

// TestCallScopes: a credential's scopes decide as for the tools, and a
// caller without scopes may call nothing (nil is not "unlimited" here).
func TestCallScopes(t *testing.T) {
	tests := []struct {
		name   string
		scopes []string
		op     string
		status int // 0: allowed
	}{
		{"ok/read", []string{"read"}, "read_secret", 0},
		{"ok/whoami-with-any-scope", []string{"list"}, "whoami", 0},
		{"fail/nil-scopes", nil, "read_secret", http.StatusForbidden},
		{"fail/empty-scopes", []string{}, "token_status", http.StatusForbidden},
		{"fail/list-cannot-read", []string{"list"}, "read_secret", http.StatusForbidden},
		{"fail/read-cannot-write", []string{"read"}, "write_secret", http.StatusForbidden},
		{"fail/unknown-operation", []string{"read"}, "read_secrets", http.StatusNotFound},
		{"fail/stdio-only", []string{"read"}, "run_with_secret", http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kv := &stubKV{}
			ops := newTestOperations(Options{Access: &stubAccess{}, Vault: kv, Audit: &recorder{}})
			args := `{"path": "db"}`
			if tc.op == "whoami" || tc.op == "token_status" {
				args = ""
			}
			_, err := restCall(t, ops, tc.scopes, tc.op, args)
			var ce *CallError
			switch {
			case tc.status == 0 && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.status != 0 && (!errors.As(err, &ce) || ce.Status != tc.status):
				t.Fatalf("err = %v, want a CallError with status %d", err, tc.status)
			case tc.status != 0 && len(kv.reads) != 0:
				t.Errorf("Vault was read although the call was refused: %v", kv.reads)
			}
		})
	}
}

func TestWhoami(t *testing.T) {
	ops := newTestOperations(Options{Access: &stubAccess{}, Vault: &stubKV{}})
	out, err := restCall(t, ops, []string{"read", "list"}, "whoami", "")
	if err != nil {
		t.Fatal(err)
	}
	want := WhoamiOut{Principal: "p", Tier: "none", Scopes: []string{"read", "list"}, Folder: "secret/agent"}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("whoami (-want +got):\n%s", diff)
	}
}

// badReads are inputs of read_secret that both front doors refuse, and
// what the refusal says.
var badReads = map[string]struct{ args, want string }{
	"not-an-object":   {`[1]`, "must be a JSON object"},
	"wrong-type":      {`{"path": "db", "version": "two-secret-words"}`, "version has the wrong type"},
	"wrong-type-path": {`{"path": 5}`, "path has the wrong type"},
	"unknown-field":   {`{"path": "db", "token": "x"}`, "a field the operation does not take"},
	"other-case":      {`{"PATH": "db"}`, "a field the operation does not take"},
	"missing-path":    {`{}`, "missing path"},
	"null":            {`null`, "missing path"},
	"negative":        {`{"path": "db", "version": -1}`, "version must be positive"},
	"traversal":       {`{"path": "../other/db"}`, "invalid path"},
	"trailing-tokens": {`{"path": "db"} {}`, "must be a JSON object"},
}

func TestCallRefusesBadInput(t *testing.T) {
	for name, tc := range badReads {
		t.Run(name, func(t *testing.T) {
			args := tc.args
			kv, rec := &stubKV{}, &recorder{}
			ops := newTestOperations(Options{Access: &stubAccess{}, Vault: kv, Audit: rec})
			_, err := restCall(t, ops, []string{"read"}, "read_secret", args)
			var ce *CallError
			if !errors.As(err, &ce) || ce.Status != http.StatusBadRequest || !strings.Contains(ce.Message, "(ref "+ce.CorrelationID+")") {
				t.Fatalf("err = %#v, want 400 with the correlation id in the message", err)
			}
			if !strings.Contains(ce.Message, tc.want) || strings.Contains(ce.Message, "secret-words") {
				t.Errorf("message %q, want it to say %q and quote no value", ce.Message, tc.want)
			}
			if len(kv.reads) != 0 {
				t.Errorf("Vault was read: %v", kv.reads)
			}
			if len(rec.all) != 1 || rec.all[0].Outcome != audit.Refused || rec.all[0].CorrelationID != ce.CorrelationID {
				t.Errorf("audit = %+v, want one refused tool.call with the error's correlation id", rec.all)
			}
		})
	}
}

// TestToolRefusesBadInput: the MCP tool refuses what the REST operation
// refuses, with the same words, before anything reaches Vault.
func TestToolRefusesBadInput(t *testing.T) {
	for name, tc := range badReads {
		if !json.Valid([]byte(tc.args)) {
			continue // a JSON-RPC message cannot carry it
		}
		t.Run(name, func(t *testing.T) {
			kv, rec := &stubKV{}, &recorder{}
			cs := connect(t, &stubAccess{}, kv, rec, nil)
			res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "read_secret", Arguments: json.RawMessage(tc.args)})
			if err != nil {
				t.Fatal(err)
			}
			text := res.Content[0].(*mcp.TextContent).Text
			if !res.IsError || res.StructuredContent != nil || !strings.Contains(text, tc.want) || strings.Contains(text, "secret-words") {
				t.Errorf("result %v %q, want an error that says %q and quotes no value", res.IsError, text, tc.want)
			}
			if len(kv.reads) != 0 {
				t.Errorf("Vault was read: %v", kv.reads)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.all) != 1 || rec.all[0].Outcome != audit.Refused || !strings.Contains(text, "(ref "+rec.all[0].CorrelationID+")") {
				t.Errorf("audit = %+v, want one refused tool.call whose correlation id the result gives", rec.all)
			}
		})
	}
}

func TestCallRateLimited(t *testing.T) {
	ops := newTestOperations(Options{Access: &stubAccess{}, Vault: &stubKV{},
		Limit: func(access.Principal) (time.Duration, bool) { return 1500 * time.Millisecond, false }})
	_, err := restCall(t, ops, []string{"read"}, "token_status", "")
	var ce *CallError
	if !errors.As(err, &ce) || ce.Status != http.StatusTooManyRequests || ce.RetryAfter != 1500*time.Millisecond {
		t.Fatalf("err = %#v, want 429 retrying after 1.5s", err)
	}
}

func TestClassify(t *testing.T) {
	expires := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		err    error
		status int
		tier   string
		url    string
	}{
		{"approval-link", &approvalLink{url: "https://gk/approve/x", tier: access.Write, expires: expires}, 403, "write", "https://gk/approve/x"},
		{"no-read-access", access.ErrNotAuthenticated, 403, "read", ""},
		{"no-write-access", fmt.Errorf("writing: %w", access.ErrWriteRequired), 403, "write", ""},
		{"denied", access.ErrDenied, 403, "", ""},
		{"scope", errNotAllowed, 403, "", ""},
		{"scope-named", &scopeError{tool: "read_secret", need: "read"}, 403, "", ""},
		{"revoked-read", fmt.Errorf("%w: %w", access.ErrRevoked, access.ErrNotAuthenticated), 403, "read", ""},
		{"revoked-write", fmt.Errorf("%w: %w", access.ErrRevoked, access.ErrWriteRequired), 403, "write", ""},
		{"malformed-passcode", access.ErrPasscodeMalformed, 400, "", ""},
		{"bad-input", inputError("versions are numbered from 1"), 400, "", ""},
		{"not-found", &vault.Error{Kind: vault.ErrNotFound, Op: "reading"}, 404, "", ""},
		{"cas", &vault.Error{Kind: vault.ErrCASMismatch, Op: "writing"}, 409, "", ""},
		{"limited", &access.RateLimitedError{What: "approvals", RetryAfter: time.Second}, 429, "", ""},
		{"sealed", &vault.Error{Kind: vault.ErrSealed, Op: "reading"}, 503, "", ""},
		{"unreachable", &vault.Error{Kind: vault.ErrUnreachable, Op: "reading"}, 503, "", ""},
		{"audit-down", audit.ErrUnavailable, 503, "", ""},
		{"unknown", errors.New("something internal"), 500, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ce := classify(tc.err, "c0ffee")
			msg, _ := agentMessage(tc.err)
			if ce.Status != tc.status || ce.Tier != tc.tier || ce.ApprovalURL != tc.url {
				t.Errorf("classify = %d %q %q, want %d %q %q", ce.Status, ce.Tier, ce.ApprovalURL, tc.status, tc.tier, tc.url)
			}
			if ce.Message != msg+" (ref c0ffee)" || ce.CorrelationID != "c0ffee" {
				t.Errorf("message %q, want the tool's %q with its ref", ce.Message, msg)
			}
		})
	}
}

// TestSpecsAreTheToolsSchemas: the schemas a front door documents are the
// ones MCP clients see in tools/list.
func TestSpecsAreTheToolsSchemas(t *testing.T) {
	cs := connect(t, &stubAccess{}, &stubKV{}, &recorder{}, nil)
	list, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	specs := map[string]Spec{}
	for _, s := range newTestOperations(Options{Access: &stubAccess{}, Vault: &stubKV{}}).Specs() {
		specs[s.Name] = s
	}
	if _, ok := specs["whoami"]; !ok {
		t.Error("whoami is not among the operations")
	}
	for _, tool := range list.Tools {
		s, ok := specs[tool.Name]
		if !ok {
			t.Errorf("tool %s is not an operation", tool.Name)
			continue
		}
		for what, pair := range map[string][2]any{"input": {tool.InputSchema, s.Input}, "output": {tool.OutputSchema, s.Output}} {
			a, _ := json.Marshal(pair[0])
			b, _ := json.Marshal(pair[1])
			if !jsonEqual(t, a, b) {
				t.Errorf("%s %s schema differs:\ntool %s\nspec %s", tool.Name, what, a, b)
			}
		}
		delete(specs, tool.Name)
	}
	if diff := cmp.Diff([]string{"whoami"}, keys(specs)); diff != "" {
		t.Errorf("operations that are not MCP tools (-want +got):\n%s", diff)
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return cmp.Equal(x, y)
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// numberKV holds a secret whose value is an integer no float64 holds.
type numberKV struct{ stubKV }

func (*numberKV) KVReadVersion(context.Context, sensitive.String, string, string, int64) (*vault.KVSecret, error) {
	return &vault.KVSecret{Data: map[string]any{"id": json.Number("12345678901234567891")}, Version: 1}, nil
}

// TestToolResultKeepsNumbers: the result is marshalled once, not decoded
// into float64s and marshalled again, so a number in a secret reaches the
// agent as Vault sent it.
func TestToolResultKeepsNumbers(t *testing.T) {
	cs := connectWith(t, Options{Access: &stubAccess{}, Vault: &numberKV{}, Reveal: func(access.Principal, string) bool { return true }}, nil, "")
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "read_secret", Arguments: map[string]any{"path": "db"}})
	if err != nil || res.IsError {
		t.Fatalf("read_secret: %v %+v", err, res)
	}
	if text := res.Content[0].(*mcp.TextContent).Text; !strings.Contains(text, `"id":12345678901234567891`) {
		t.Errorf("result %s, want the number as Vault sent it", text)
	}
}

// TestMessagesSayWhatHappened: the agent reads who ended its access, and
// why a code was refused before anything was asked.
func TestMessagesSayWhatHappened(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"revoked-read", fmt.Errorf("%w: %w", access.ErrRevoked, access.ErrNotAuthenticated), []string{"An operator revoked your access", "Call authenticate"}},
		{"revoked-write", fmt.Errorf("%w: %w", access.ErrRevoked, access.ErrWriteRequired), []string{"An operator revoked your write access", "Call escalate"}},
		{"malformed-passcode", access.ErrPasscodeMalformed, []string{"6 to 10 digits", "Nothing was sent to Vault"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg, outcome := agentMessage(tc.err)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q does not say %q", msg, w)
				}
			}
			if outcome != audit.Refused {
				t.Errorf("outcome %s, want refused", outcome)
			}
		})
	}
}
