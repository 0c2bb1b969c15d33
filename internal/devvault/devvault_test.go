package devvault

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// A healthy answer on the port is not enough: when another process took
// the port first, the answer comes from a server that does not know this
// one's root token, and Start must not take it for its own.
func TestHealthyMeansThisServer(t *testing.T) {
	bin, err := Find()
	if err != nil {
		t.Fatalf("%v (run the tests with scripts/test, which builds Vault first)", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	other, err := Start(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Stop()

	client := &http.Client{Timeout: 2 * time.Second}
	if !other.answersAsItself(ctx, client) {
		t.Fatal("a running server does not answer as itself")
	}
	// No process of its own: its Exited never fires, so only the answer
	// tells it apart.
	impostor := &Server{Addr: other.Addr, RootToken: "dev-root-" + randomHex()}
	if impostor.answersAsItself(ctx, client) {
		t.Fatal("a server whose port another Vault holds was taken as healthy")
	}
	if err := impostor.waitHealthy(ctx, 500*time.Millisecond); err == nil {
		t.Fatal("waitHealthy accepted another server's answer")
	}
}
