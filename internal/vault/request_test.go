package vault_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
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
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
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

// TestEachRequestSendsItsOwnToken: concurrent calls with different tokens
// each reach Vault with the token they named, and a call without one sends
// none; the shared client never carries a token from one call to another.
func TestEachRequestSendsItsOwnToken(t *testing.T) {
	var mu sync.Mutex
	seen := map[string][]string{} // path -> tokens
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path] = append(seen[r.URL.Path], r.Header.Get("X-Vault-Token"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"data":{"data":{"k":"v"},"metadata":{"version":1}}}`))
	}))
	t.Cleanup(srv.Close)
	c, err := vault.New(vault.Options{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		for range 10 {
			wg.Go(func() {
				tok := sensitive.New(fmt.Sprintf("token-%d", i))
				if i == 0 {
					tok = sensitive.String{}
				}
				if _, err := c.KVRead(t.Context(), tok, "secret", fmt.Sprintf("p%d", i)); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	for i := range 20 {
		want := fmt.Sprintf("token-%d", i)
		if i == 0 {
			want = ""
		}
		got := seen[fmt.Sprintf("/v1/secret/data/p%d", i)]
		if len(got) != 10 {
			t.Errorf("path %d: %d requests, want 10", i, len(got))
		}
		for _, tok := range got {
			if tok != want {
				t.Errorf("path %d reached Vault with token %q, want %q", i, tok, want)
			}
		}
	}
}

func TestNonPrintableTokenIsRefused(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { requests.Add(1) }))
	t.Cleanup(srv.Close)
	c, err := vault.New(vault.Options{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.KVRead(t.Context(), sensitive.New("tok\nX-Evil: 1"), "secret", "x")
	wantKind(t, err, vault.ErrInvalidRequest)
	if strings.Contains(err.Error(), "Evil") {
		t.Errorf("the error shows the token: %v", err)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
}
