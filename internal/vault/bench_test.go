package vault_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// BenchmarkKVRead is the client's own cost of one KV read, against a local
// server that answers at once (no Vault in it).
//
//	go test -run XXX -bench KVRead -benchmem ./internal/vault
func BenchmarkKVRead(b *testing.B) {
	body := []byte(`{"data":{"data":{"username":"app","password":"pw-db-5f2c9e"},"metadata":{"version":3,"created_time":"2026-01-02T03:04:05.123456789Z"}}}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	c, err := vault.New(vault.Options{Address: srv.URL})
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
