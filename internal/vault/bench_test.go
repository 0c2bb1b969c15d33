package vault_test

import (
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// BenchmarkKVRead is the client's own cost of one KV read, against a local
// server that answers at once (no Vault in it).
//
//	go test -run XXX -bench KVRead -benchmem ./internal/vault
func BenchmarkKVRead(b *testing.B) {
	c, err := vault.New(vault.Options{Address: vaulttest.KVReadStandIn(b)})
	if err != nil {
		b.Fatal(err)
	}
	tok := sensitive.New("hvs.benchmark-token")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.KVRead(b.Context(), tok, "secret", "agent/db"); err != nil {
			b.Fatal(err)
		}
	}
}
