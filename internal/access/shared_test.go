package access

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// Replicas sharing one store, one Vault (the fake issuer) and one audit
// stream, on synctest's clock: time moves only when every goroutine
// waits, so delays are exact and nothing sleeps for real.

func TestSharedGrantServesEveryReplica(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReplicas(t, 3, nil)
		a, b, c := r.ms[0], r.ms[1], r.ms[2]
		if _, err := a.Authenticate(t.Context(), agent, passcode); err != nil {
			t.Fatal(err)
		}
		g, err := b.ForRead(t.Context(), agent, "read_secret db")
		if err != nil || g.Token.Reveal() != "tok-read-1" || g.ApprovalID != r.issuer.requests[0].ID {
			t.Fatalf("B's read = %+v, %v; want the grant approved through A", g, err)
		}
		if st := c.Status(agent); st.Tier != Read {
			t.Errorf("C's status = %+v, want read", st)
		}
		if sl := r.store.slot(agent, Read); sl.Grant == nil || !sl.Grant.Token.IsZero() || sl.Sealed == "" {
			t.Errorf("the stored slot = %+v, want a grant whose token is only sealed", sl)
		}

		// Write earned through B (from the read token approved through A)
		// serves C's writes, narrowed as approved.
		if _, err := b.Escalate(t.Context(), agent, "rotate", []string{"db"}, passcode); err != nil {
			t.Fatal(err)
		}
		if r.issuer.held[1] != "tok-read-1" {
			t.Errorf("write was earned from %q, want the read token", r.issuer.held[1])
		}
		if g, err := c.ForWrite(agent, "db"); err != nil || g.Token.Reveal() != "tok-write-2" {
			t.Errorf("C's write = %+v, %v", g, err)
		}
		if _, err := c.ForWrite(agent, "other"); !errors.Is(err, ErrPathNotGranted) {
			t.Errorf("C's write elsewhere = %v, want ErrPathNotGranted", err)
		}
		if n := r.issuer.issueCount(); n != 2 {
			t.Errorf("approvals = %d, want 2 (read, write)", n)
		}

		// Released through A: revoked once, gone from C within the
		// revalidation interval.
		if _, err := a.Release(t.Context(), agent); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"tok-write-2"}, r.issuer.revokedTokens()); diff != "" {
			t.Errorf("revoked (-want +got):\n%s", diff)
		}
		time.Sleep(revalidate)
		if _, err := c.ForWrite(agent, "db"); !errors.Is(err, ErrWriteRequired) {
			t.Errorf("C's write after the release = %v, want ErrWriteRequired", err)
		}
		if n := len(r.audit.named(audit.GrantReleased)); n != 1 {
			t.Errorf("grant.released events = %d, want 1", n)
		}
	})
}

func TestSharedOneApprovalForConcurrentCallsAcrossReplicas(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReplicas(t, 3, nil)
		r.issuer.decide = func(context.Context, Request) error {
			time.Sleep(5 * time.Second) // the human takes a moment
			return nil
		}
		const n = 50
		grants := make([]*Grant, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { grants[i], errs[i] = r.ms[i%3].ForRead(t.Context(), agent, "read_secret db") })
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil || grants[i].ApprovalID != grants[0].ApprovalID {
				t.Fatalf("read %d = %+v, %v; want the one shared grant", i, grants[i], errs[i])
			}
		}
		if c, q := r.issuer.issueCount(), r.requested(); c != 1 || q != 1 {
			t.Fatalf("approvals = %d, requested = %d; want 1 and 1", c, q)
		}

		// The same for 50 escalations at once: one more approval.
		for i := range n {
			wg.Go(func() {
				_, errs[i] = r.ms[i%3].Escalate(t.Context(), agent, "rotate", nil, passcode)
			})
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("escalation %d: %v", i, errs[i])
			}
		}
		if c := r.issuer.issueCount(); c != 2 {
			t.Errorf("approvals after the escalations = %d, want 2", c)
		}
	})
}

func TestSharedDenialReachesWaitersAndCoolsDownEveryReplica(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReplicas(t, 3, nil)
		r.issuer.decide = func(context.Context, Request) error {
			time.Sleep(3 * time.Second)
			return ErrDenied
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Go(func() { _, errs[i] = r.ms[i].Authenticate(t.Context(), agent, passcode) })
		}
		wg.Wait()
		for i, err := range errs {
			if !errors.Is(err, ErrDenied) {
				t.Errorf("replica %d: %v, want ErrDenied", i, err)
			}
		}
		_, err := r.ms[2].Authenticate(t.Context(), agent, passcode)
		var limited *RateLimitedError
		if !errors.As(err, &limited) || !limited.Cooldown {
			t.Errorf("C right after the denial = %v, want the cool-down", err)
		}
		if n := r.requested(); n != 1 {
			t.Errorf("approvals requested = %d, want 1", n)
		}
		time.Sleep(DefaultDenialCooldown)
		r.issuer.decide = nil
		if _, err := r.ms[2].Authenticate(t.Context(), agent, passcode); err != nil {
			t.Errorf("C after the cool-down: %v", err)
		}
	})
}

func TestSharedDeadReplicasClaimExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReplicas(t, 1, nil)
		// A replica claimed the approval and died (kill -9) before any
		// answer: its claim stays in the store.
		r.store.put(Slot{Principal: agent, Tier: Read, Claim: &Claim{
			ApprovalID: "apr_dead", Replica: "rep-dead", Expires: time.Now().Add(time.Minute),
		}})
		start := time.Now()
		if _, err := r.ms[0].Authenticate(t.Context(), agent, passcode); err != nil {
			t.Fatal(err)
		}
		waited := time.Since(start)
		if limit := time.Minute + claimGrace + time.Second; waited > limit {
			t.Errorf("the dead claim held the agent up for %v, want at most %v", waited, limit)
		}
		if waited < time.Minute {
			t.Errorf("asked anew after %v, while the claim could still be answered", waited)
		}
		if n := r.requested(); n != 1 {
			t.Errorf("approvals requested = %d, want 1 (the dead replica's is gone)", n)
		}
	})
}

func TestSharedRevalidationDelayIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReplicas(t, 2, nil)
		a, b := r.ms[0], r.ms[1]
		if _, err := a.Authenticate(t.Context(), agent, passcode); err != nil {
			t.Fatal(err)
		}
		g, err := b.ForRead(t.Context(), agent, "read_secret db")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Logout(t.Context(), agent); err != nil {
			t.Fatal(err)
		}
		// Vault refuses the token at once: B learns from the store that
		// Gatekeeper ended it (not "revoked outside").
		if err := b.Recheck(t.Context(), g); !errors.Is(err, ErrNotAuthenticated) {
			t.Errorf("B's recheck = %v, want ErrNotAuthenticated", err)
		}
		if n := len(r.audit.named(audit.GrantLost)); n != 0 {
			t.Errorf("grant.lost events = %d, want 0", n)
		}

		// Without a refusal from Vault, B notices within the interval.
		if _, err := a.Authenticate(t.Context(), agent, passcode); err != nil {
			t.Fatal(err)
		}
		if b.Status(agent).Tier != Read {
			t.Fatal("B does not see the new grant")
		}
		if _, err := a.Logout(t.Context(), agent); err != nil {
			t.Fatal(err)
		}
		time.Sleep(revalidate - time.Millisecond)
		if tier := b.Status(agent).Tier; tier != Read {
			t.Errorf("B just inside the interval sees %s (the cache is allowed to lag up to it)", tier)
		}
		time.Sleep(time.Millisecond)
		if tier := b.Status(agent).Tier; tier != None {
			t.Errorf("B after the revalidation interval sees %s, want none", tier)
		}
	})
}

func TestSharedStoreDownFailsClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReplicas(t, 1, nil)
		m := r.ms[0]
		if _, err := m.Authenticate(t.Context(), agent, passcode); err != nil {
			t.Fatal(err)
		}
		r.store.setFail(errStoreDown)
		time.Sleep(revalidate)
		_, err := m.ForRead(t.Context(), agent, "read_secret db")
		if !errors.Is(err, ErrStateUnavailable) || !errors.Is(err, errStoreDown) {
			t.Errorf("read with the store down = %v, want ErrStateUnavailable wrapping the cause", err)
		}
		if _, err := m.Authenticate(t.Context(), agent, passcode); !errors.Is(err, ErrStateUnavailable) {
			t.Errorf("authenticate with the store down = %v", err)
		}
		if _, err := m.Escalate(t.Context(), agent, "x", nil, passcode); !errors.Is(err, ErrStateUnavailable) {
			t.Errorf("escalate with the store down = %v", err)
		}
		if _, err := m.ForWrite(agent, "db"); !errors.Is(err, ErrStateUnavailable) {
			t.Errorf("write with the store down = %v", err)
		}
		if st := m.Status(agent); st.Tier != None {
			t.Errorf("status with the store down = %+v, want no usable access", st)
		}
		if n := r.requested(); n != 1 {
			t.Errorf("approvals requested = %d, want 1", n)
		}
		r.store.setFail(nil)
		if g, err := m.ForRead(t.Context(), agent, "read_secret db"); err != nil || g.Token.Reveal() != "tok-read-1" {
			t.Errorf("read once the store is back = %+v, %v", g, err)
		}
	})
}

func TestSharedLastReplicaOutRevokes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReplicas(t, 2, nil)
		a, b := r.ms[0], r.ms[1]
		if _, err := a.Authenticate(t.Context(), agent, passcode); err != nil {
			t.Fatal(err)
		}
		if err := a.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"tok-read-1"}, liveTokens(r.issuer)); diff != "" {
			t.Errorf("live tokens after the first replica left (-want +got):\n%s", diff)
		}
		if _, err := b.ForRead(t.Context(), agent, "read_secret db"); err != nil || r.issuer.issueCount() != 1 {
			t.Fatalf("B after A left: %v, approvals %d", err, r.issuer.issueCount())
		}
		if err := b.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if live := liveTokens(r.issuer); len(live) != 0 {
			t.Errorf("live tokens after the last replica left = %v", live)
		}
		if sl := r.store.slot(agent, Read); sl.Grant != nil {
			t.Errorf("the store still holds %+v", sl.Grant)
		}
		if n := len(r.audit.named(audit.GrantRevoked)); n != 1 {
			t.Errorf("grant.revoked events = %d, want 1", n)
		}
	})
}

func TestSharedReplicaThatCannotTellRevokes(t *testing.T) {
	for _, tc := range []struct {
		name string
		prep func(r *replicas)
	}{
		{"fail/store down", func(r *replicas) { r.store.setFail(errStoreDown) }},
		{"ok/the other replica's heartbeat is stale", func(r *replicas) {
			_ = r.store.Beat(context.Background(), "rep-gone", time.Now().Add(-time.Second))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newReplicas(t, 1, nil)
				if _, err := r.ms[0].Authenticate(t.Context(), agent, passcode); err != nil {
					t.Fatal(err)
				}
				tc.prep(r)
				_ = r.ms[0].Close(t.Context())
				if live := liveTokens(r.issuer); len(live) != 0 {
					t.Errorf("live tokens = %v, want every grant revoked", live)
				}
			})
		})
	}
}

func TestSharedOperatorRevocationEndsAccessEverywhere(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReplicas(t, 3, nil)
		a, b, c := r.ms[0], r.ms[1], r.ms[2]
		if _, err := a.Authenticate(t.Context(), agent, passcode); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Escalate(t.Context(), agent, "rotate", nil, passcode); err != nil {
			t.Fatal(err)
		}
		snap := c.Snapshot()
		if len(snap.Grants) != 2 {
			t.Fatalf("C's snapshot = %+v, want both grants", snap)
		}
		if _, err := c.RevokeGrant(t.Context(), agent, Read, "apr_other"); !errors.Is(err, ErrNoSuchGrant) {
			t.Errorf("revoking a grant not shown = %v", err)
		}
		rev, err := c.RevokeAgent(t.Context(), agent)
		if err != nil || len(rev.Grants) != 2 || len(rev.Failed) != 0 {
			t.Fatalf("RevokeAgent = %+v, %v", rev, err)
		}
		if live := liveTokens(r.issuer); len(live) != 0 {
			t.Errorf("live tokens = %v", live)
		}
		time.Sleep(revalidate)
		// The next call through any replica needs a new approval, which
		// only the agent's deliberate authenticate asks for.
		// It is told an operator revoked its access, on every replica.
		if _, err := a.ForRead(t.Context(), agent, "read_secret db"); !errors.Is(err, ErrNotAuthenticated) || !errors.Is(err, ErrRevoked) {
			t.Errorf("A's read after the revocation = %v, want ErrRevoked and ErrNotAuthenticated", err)
		}
		if _, err := b.ForWrite(agent, "db"); !errors.Is(err, ErrWriteRequired) || !errors.Is(err, ErrRevoked) {
			t.Errorf("B's write after the revocation = %v, want ErrRevoked and ErrWriteRequired", err)
		}
		if n := r.requested(); n != 2 {
			t.Errorf("approvals requested = %d, want 2", n)
		}
		if _, err := b.Authenticate(t.Context(), agent, passcode); err != nil || r.requested() != 3 {
			t.Errorf("authenticate after the revocation: %v, requested %d", err, r.requested())
		}
		time.Sleep(revalidate)
		if _, err := c.ForRead(t.Context(), agent, "read_secret db"); err != nil {
			t.Errorf("C's read after a new approval = %v", err)
		}
		if n := len(r.audit.named(audit.GrantRevoked)); n != 2 {
			t.Errorf("grant.revoked events = %d, want 2", n)
		}
	})
}

func TestSharedOperatorRevocationCancelsAnotherReplicasApproval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReplicas(t, 2, nil)
		r.issuer.decide = func(context.Context, Request) error {
			time.Sleep(10 * time.Second) // approves after the operator acted
			return nil
		}
		errc := make(chan error, 1)
		go func() {
			_, err := r.ms[0].Authenticate(t.Context(), agent, passcode)
			errc <- err
		}()
		time.Sleep(time.Second)
		if p := r.ms[1].Snapshot().Pending; len(p) != 1 {
			t.Fatalf("B's view of pending approvals = %+v", p)
		}
		rev, err := r.ms[1].RevokeAgent(t.Context(), agent)
		if err != nil || len(rev.Cancelled) != 1 {
			t.Fatalf("RevokeAgent = %+v, %v", rev, err)
		}
		if err := <-errc; !errors.Is(err, ErrRevoked) {
			t.Errorf("A's authenticate = %v, want ErrRevoked", err)
		}
		if live := liveTokens(r.issuer); len(live) != 0 {
			t.Errorf("the token approved after the revocation is live: %v", live)
		}
		if sl := r.store.slot(agent, Read); sl.Grant != nil || sl.Claim != nil {
			t.Errorf("slot after the revocation = %+v", sl)
		}
	})
}

func TestSharedRecordsGrantNoMoreThanTheySeal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReplicas(t, 3, nil)
		a, b, c := r.ms[0], r.ms[1], r.ms[2]
		if _, err := a.Authenticate(t.Context(), agent, passcode); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Escalate(t.Context(), agent, "rotate", []string{"db"}, passcode); err != nil {
			t.Fatal(err)
		}
		// Someone who may write the KV record but not use the transit key
		// widens the write grant's paths in the clear: the sealed paths
		// still decide.
		sl := r.store.slot(agent, Write)
		sl.Grant.Paths = nil
		r.store.put(sl)
		if _, err := b.ForWrite(agent, "other"); !errors.Is(err, ErrPathNotGranted) {
			t.Errorf("write outside the sealed paths = %v, want ErrPathNotGranted", err)
		}
		// A record that does not unseal counts as absent on a replica
		// that holds no copy of its own: a new approval, never a guess.
		rs := r.store.slot(agent, Read)
		rs.Sealed = "garbage"
		r.store.put(rs)
		r.store.put(Slot{Principal: agent, Tier: Write}) // no write either
		before := r.requested()
		g, err := c.ForRead(t.Context(), agent, "read_secret db")
		if err != nil || g.Token.Reveal() == "tok-read-1" || r.requested() != before+1 {
			t.Errorf("read over an unreadable record = %+v, %v (requested %d)", g, err, r.requested()-before)
		}
	})
}

func TestSharedStoppingReplicaHandsItsApprovalOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReplicas(t, 2, nil)
		var calls atomic.Int32
		r.issuer.decide = func(ctx context.Context, _ Request) error {
			if calls.Add(1) == 1 {
				<-ctx.Done() // A's approval: A stops before any answer
				return ctx.Err()
			}
			time.Sleep(time.Second)
			return nil
		}
		errA, errB := make(chan error, 1), make(chan error, 1)
		go func() { _, err := r.ms[0].Authenticate(context.Background(), agent, passcode); errA <- err }()
		synctest.Wait()
		go func() { _, err := r.ms[1].Authenticate(context.Background(), agent, passcode); errB <- err }()
		synctest.Wait()
		if err := r.ms[0].Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := <-errA; !errors.Is(err, ErrClosed) {
			t.Errorf("the caller on the stopping replica got %v, want ErrClosed", err)
		}
		if err := <-errB; err != nil {
			t.Errorf("the caller waiting on B got %v, want B to ask anew and succeed", err)
		}
		if n := r.requested(); n != 2 {
			t.Errorf("approvals requested = %d, want 2", n)
		}
	})
}

func TestSharedExpiryIsRecordedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReplicas(t, 2, func(o *Options) { o.ReadTTL = time.Minute })
		if _, err := r.ms[0].Authenticate(t.Context(), agent, passcode); err != nil {
			t.Fatal(err)
		}
		if _, err := r.ms[1].ForRead(t.Context(), agent, "read_secret db"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		if n := len(r.audit.named(audit.GrantExpired)); n != 1 {
			t.Errorf("grant.expired events = %d, want 1", n)
		}
		if diff := cmp.Diff([]string{"tok-read-1"}, r.issuer.revokedTokens()); diff != "" {
			t.Errorf("revocations (-want +got):\n%s", diff)
		}
	})
}

func TestSharedDestroyIsOnePerAgent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReplicas(t, 2, nil)
		a, b := r.ms[0], r.ms[1]
		if _, err := a.Authenticate(t.Context(), agent, passcode); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Escalate(t.Context(), agent, "clean up", nil, passcode); err != nil {
			t.Fatal(err)
		}
		r.issuer.decide = func(context.Context, Request) error { time.Sleep(5 * time.Second); return nil }
		done := make(chan error, 1)
		go func() {
			done <- a.Once(t.Context(), agent, "drop old", "destroy_secret db", []string{"db"}, passcode, func(sensitive.String) error { return nil })
		}()
		time.Sleep(time.Second)
		err := b.Once(t.Context(), agent, "drop old", "destroy_secret db", []string{"db"}, passcode, func(sensitive.String) error { return nil })
		if !errors.Is(err, ErrOncePending) {
			t.Errorf("a second destroy through B = %v, want ErrOncePending", err)
		}
		if err := <-done; err != nil {
			t.Errorf("the destroy through A: %v", err)
		}
		if sl := r.store.slot(agent, Destroy); sl.Grant != nil || sl.Claim != nil {
			t.Errorf("the destroy slot keeps %+v", sl)
		}
	})
}

// TestSharedLogoutCancelsAnotherReplicasApproval: a logout through one
// replica withdraws the approval another replica runs; the human's later
// yes gives nothing.
func TestSharedLogoutCancelsAnotherReplicasApproval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReplicas(t, 2, nil)
		r.issuer.decide = func(context.Context, Request) error {
			time.Sleep(10 * time.Second) // approves after the logout
			return nil
		}
		errc := make(chan error, 1)
		go func() {
			_, err := r.ms[0].Authenticate(t.Context(), agent, passcode)
			errc <- err
		}()
		time.Sleep(time.Second)
		if _, err := r.ms[1].Logout(t.Context(), agent); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; !errors.Is(err, ErrLoggedOut) {
			t.Errorf("A's authenticate = %v, want ErrLoggedOut", err)
		}
		if live := liveTokens(r.issuer); len(live) != 0 {
			t.Errorf("the token approved after the logout is live: %v", live)
		}
		if sl := r.store.slot(agent, Read); sl.Grant != nil || sl.Claim != nil {
			t.Errorf("slot after the logout = %+v", sl)
		}
	})
}

// A replica whose cache still holds a grant another replica's operator
// revoked learns it when Vault refuses the token: Recheck tells the agent
// an operator revoked its access, as a replica that has revalidated does.
func TestSharedRecheckTellsOfAnotherReplicasRevocation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReplicas(t, 2, nil)
		a, c := r.ms[0], r.ms[1]
		if _, err := a.Authenticate(t.Context(), agent, passcode); err != nil {
			t.Fatal(err)
		}
		if _, err := c.RevokeAgent(t.Context(), agent); err != nil {
			t.Fatal(err)
		}
		g, err := a.ForRead(t.Context(), agent, "read_secret db")
		if err != nil {
			t.Fatalf("A's read within its revalidation interval = %v, want its cached grant", err)
		}
		if err := a.Recheck(t.Context(), g); !errors.Is(err, ErrNotAuthenticated) || !errors.Is(err, ErrRevoked) {
			t.Errorf("Recheck after another replica's revocation = %v, want ErrRevoked and ErrNotAuthenticated", err)
		}
	})
}
