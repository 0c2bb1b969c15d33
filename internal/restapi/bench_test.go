package restapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/mcptools"
)

type statusOnly struct{ mcptools.Access }

func (statusOnly) Status(p access.Principal) access.Status { return access.Status{Principal: p} }

// BenchmarkStatus is one GET /v1/status through the real operations table
// (caller, scopes, correlation id, audit event, JSON), without Vault.
func BenchmarkStatus(b *testing.B) {
	ops := mcptools.NewOperations(mcptools.Options{
		Access: statusOnly{}, Vault: struct{ mcptools.Vault }{}, KVMount: "secret", TransitMount: "transit",
		Folder:  func(access.Principal) string { return "agent" },
		KeyName: func(_ access.Principal, k string) string { return k },
	})
	a, err := New(Options{Operations: ops, Caller: func(context.Context) (mcptools.Caller, bool) {
		return mcptools.Caller{Principal: "alice", Scopes: []string{"read"}}, true
	}})
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/v1/status", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		a.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
