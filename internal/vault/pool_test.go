package vault_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// TestConcurrentReadsReuseConnections: many agents reading at once keep
// their connections to Vault for the next reads, instead of dialing a new
// one per request beyond a handful (the API client's default pool keeps
// only GOMAXPROCS+1 idle connections per host).
func TestConcurrentReadsReuseConnections(t *testing.T) {
	const callers = 50
	var dials atomic.Int64
	var arrived sync.WaitGroup
	var mu sync.Mutex
	var release chan struct{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Hold every request until all callers are in flight, so that each
		// wave needs callers connections at once.
		mu.Lock()
		wait := release
		mu.Unlock()
		arrived.Done()
		<-wait
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"data":{"data":{"k":"v"},"metadata":{"version":1}}}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c, err := vault.New(vault.Options{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	for wave := range 3 {
		arrived.Add(callers)
		mu.Lock()
		release = make(chan struct{})
		mu.Unlock()
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				if _, err := c.KVRead(t.Context(), sensitive.New("tok"), "secret", "x"); err != nil {
					t.Errorf("wave %d: %v", wave, err)
				}
			})
		}
		arrived.Wait()
		close(release)
		wg.Wait()
	}
	if n := dials.Load(); n != callers {
		t.Errorf("three waves of %d concurrent reads opened %d connections, want %d", callers, n, callers)
	}
}
