package vaulttest

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// KVReadStandIn starts a local server that answers every request at once
// with the same KV v2 read, and returns its address: no Vault in it, for
// measuring what a client itself costs per read (the Vault client's
// benchmark and the allocation check of a whole read_secret, which share
// the answer so that their counts compare).
func KVReadStandIn(tb testing.TB) string {
	body := []byte(`{"data":{"data":{"username":"app","password":"pw-db-5f2c9e"},"metadata":{"version":3,"created_time":"2026-01-02T03:04:05.123456789Z"}}}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	tb.Cleanup(srv.Close)
	return srv.URL
}
