package vaultstate_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// issuer stands in for the approver here: what is tested is the access
// model's coordination through the real store.
type issuer struct {
	mu     sync.Mutex
	issued int
	live   map[string]bool
}

func (i *issuer) Issue(ctx context.Context, req access.Request, _ sensitive.String) (access.Issued, error) {
	select {
	case <-time.After(300 * time.Millisecond): // the human
	case <-ctx.Done():
		return access.Issued{}, ctx.Err()
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.issued++
	tok := fmt.Sprintf("hvs.token-%d", i.issued)
	i.live[tok] = true
	return access.Issued{Token: sensitive.New(tok), Accessor: "acc-" + tok, TTL: req.TTL}, nil
}

func (i *issuer) Revoke(_ context.Context, tok sensitive.String) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.live[tok.Reveal()] = false
	return nil
}

func (i *issuer) Check(_ context.Context, tok sensitive.String) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.live[tok.Reveal()] {
		return access.ErrTokenInvalid
	}
	return nil
}

// TestReplicasShareOneApprovalThroughVault: three access models, one real
// store; concurrent reads through all of them make one approval, and the
// last one out revokes.
func TestReplicasShareOneApprovalThroughVault(t *testing.T) {
	t.Parallel()
	e := start(t)
	iss := &issuer{live: map[string]bool{}}
	var ms []*access.Manager
	for i := range 3 {
		m := access.New(access.Options{
			Issuer: iss, Shared: e.store,
			SharedOptions: access.SharedOptions{Replica: fmt.Sprintf("rep-%d", i), Poll: 50 * time.Millisecond},
		})
		if err := m.Join(t.Context()); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	const n = 30
	var wg sync.WaitGroup
	grants := make([]*access.Grant, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { grants[i], errs[i] = ms[i%3].ForRead(t.Context(), "alice", "read_secret db") })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || grants[i].Token.Reveal() != "hvs.token-1" {
			t.Fatalf("read %d = %v, %v", i, grants[i], errs[i])
		}
	}
	if iss.issued != 1 {
		t.Fatalf("approvals = %d, want 1", iss.issued)
	}
	for i, m := range ms {
		if err := m.Close(t.Context()); err != nil {
			t.Errorf("closing replica %d: %v", i, err)
		}
		if alive := iss.Check(t.Context(), sensitive.New("hvs.token-1")) == nil; alive != (i < 2) {
			t.Errorf("after replica %d left, the token is alive: %v", i, alive)
		}
	}
}
