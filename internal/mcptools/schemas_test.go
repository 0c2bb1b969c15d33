package mcptools

import (
	"context"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
)

// serverOptions are the least Options NewOperations takes.
func serverOptions() Options {
	return Options{
		Access: &stubAccess{}, Vault: &stubKV{}, KVMount: "secret", TransitMount: "transit",
		KeyName: func(_ access.Principal, k string) string { return "p." + k },
		Folder:  func(access.Principal) string { return "agent" },
		Caller:  func(context.Context, *mcp.CallToolRequest) (Caller, error) { return Caller{Principal: "p"}, nil },
	}
}

// TestTablesShareSchemas: the tables of several servers, built at once,
// hold the same schemas, made once; each server lists them.
func TestTablesShareSchemas(t *testing.T) {
	tables := make([]*Operations, 8)
	var wg sync.WaitGroup
	for i := range tables {
		wg.Go(func() {
			tables[i] = NewOperations(serverOptions())
			s := mcp.NewServer(&mcp.Implementation{Name: "gatekeeper", Version: "test"}, nil)
			tables[i].register(s)
		})
	}
	wg.Wait()
	for i, table := range tables[1:] {
		if len(table.ops) != len(tables[0].ops) {
			t.Fatalf("table %d has %d operations, the first %d", i+1, len(table.ops), len(tables[0].ops))
		}
		for j, op := range table.ops {
			first := tables[0].ops[j]
			if op.tool.InputSchema != first.tool.InputSchema || op.tool.OutputSchema != first.tool.OutputSchema || op.input != first.input {
				t.Errorf("table %d: %s has schemas of its own", i+1, op.tool.Name)
			}
		}
	}
}

// BenchmarkServer: what one more agent's MCP server costs to build.
func BenchmarkServer(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		s := mcp.NewServer(&mcp.Implementation{Name: "gatekeeper", Version: "test"}, nil)
		Register(s, serverOptions())
	}
}
