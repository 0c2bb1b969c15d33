package mcptools

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

// TestToolOutsideScopesOverMCP: a tool the credential's scopes leave out
// is not listed, and calling it by name is answered with the scope it
// needs, not the SDK's "unknown tool"; the refusal is audited and reaches
// nothing.
func TestToolOutsideScopesOverMCP(t *testing.T) {
	rec, kv := &recorder{}, &stubKV{}
	cs := scopedSession(t, []string{"list"}, rec, kv)
	list, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range list.Tools {
		if tool.Name == "read_secret" || tool.Name == "write_secret" {
			t.Errorf("%s is listed for a list-only credential", tool.Name)
		}
	}
	for tool, want := range map[string]string{
		"read_secret":  `read_secret needs the "read" scope`,
		"write_secret": `write_secret needs the "write" scope`,
		"encrypt":      `encrypt needs the "transit" scope`,
	} {
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"path": "db"}})
		if err != nil {
			t.Fatalf("%s: %v (want a tool result naming the scope)", tool, err)
		}
		text := res.Content[0].(*mcp.TextContent).Text
		if !res.IsError || !strings.Contains(text, want) || !strings.Contains(text, "(ref ") {
			t.Errorf("%s: %q, want an error saying %q with its ref", tool, text, want)
		}
	}
	if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "no_such_tool"}); err == nil || !strings.Contains(err.Error(), "unknown tool") {
		t.Errorf("a tool that does not exist: %v, want unknown tool", err)
	}
	// A credential without scopes is refused every tool MCP offers, and
	// whoami, which only REST offers, stays unknown.
	none := scopedSession(t, []string{}, &recorder{}, kv)
	res, err := none.CallTool(t.Context(), &mcp.CallToolParams{Name: "token_status"})
	if err != nil || !res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "needs a credential with at least one scope") {
		t.Errorf("token_status without scopes: %+v, %v", res, err)
	}
	if _, err := none.CallTool(t.Context(), &mcp.CallToolParams{Name: "whoami"}); err == nil || !strings.Contains(err.Error(), "unknown tool") {
		t.Errorf("whoami over MCP: %v, want unknown tool", err)
	}
	if len(kv.reads) != 0 {
		t.Errorf("Vault was read: %v", kv.reads)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	refused := slices.IndexFunc(rec.all, func(e audit.Event) bool {
		return e.Event == audit.ToolCall && e.Tool == "read_secret" && e.Outcome == audit.Refused && e.API == audit.APIMCP
	})
	if refused < 0 {
		t.Errorf("audit = %+v, want read_secret's refusal", rec.all)
	}
}

// TestToolOutsideScopesOverREST: the same sentence, with 403.
func TestToolOutsideScopesOverREST(t *testing.T) {
	ops := newTestOperations(Options{Access: &stubAccess{}, Vault: &stubKV{}, Audit: &recorder{}})
	_, err := restCall(t, ops, []string{"list"}, "read_secret", `{"path": "db"}`)
	var ce *CallError
	if !errors.As(err, &ce) || ce.Status != http.StatusForbidden || !strings.Contains(ce.Message, `read_secret needs the "read" scope`) {
		t.Fatalf("read_secret with the list scope: %v, want 403 naming the read scope", err)
	}
	_, err = restCall(t, ops, []string{}, "token_status", ``)
	if !errors.As(err, &ce) || !strings.Contains(ce.Message, "needs a credential with at least one scope") {
		t.Errorf("token_status with no scope: %v", err)
	}
}

// scopedSession connects a client to a server whose tools are those of a
// credential with scopes, as serve --http builds it.
func scopedSession(t *testing.T, scopes []string, rec *recorder, kv *stubKV) *mcp.ClientSession {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "gatekeeper", Version: "test"}, nil)
	Register(s, Options{
		Access: &stubAccess{}, Vault: kv, KVMount: "secret", TransitMount: "transit", Audit: rec,
		KeyName: func(_ access.Principal, k string) string { return "p." + k },
		Folder:  func(access.Principal) string { return "agent" },
		Include: ToolsFor(scopes),
		Caller: func(context.Context, *mcp.CallToolRequest) (Caller, error) {
			return Caller{Principal: "p", Scopes: scopes}, nil
		},
	})
	st, ct := mcp.NewInMemoryTransports()
	ss, err := s.Connect(t.Context(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ss.Close() })
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil).Connect(t.Context(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}
