package access

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// An operator denies a pending write approval: the agent is told it was
// denied, keeps its read grant, and the denial's cool-down starts.
func TestDenyApproval(t *testing.T) {
	f := newFixture(t)
	mustAuthenticate(t, f)
	f.issuer.setDecide(func(ctx context.Context, _ Request) error {
		<-ctx.Done() // the human has not answered yet
		return ctx.Err()
	})
	done := make(chan error, 1)
	go func() {
		_, err := f.m.Escalate(context.Background(), agent, "deploy", nil, sensitive.String{})
		done <- err
	}()
	id := waitPending(t, f.m, agent)
	ctx := audit.WithCorrelationID(t.Context(), "ops_0123")
	v, err := f.m.DenyApproval(ctx, agent, id)
	if err != nil {
		t.Fatal(err)
	}
	if v.Tier != Write || v.ApprovalID != id || v.Reason != "deploy" || !v.Requested.Equal(t0) {
		t.Errorf("denied = %+v", v)
	}
	err = <-done
	if !errors.Is(err, ErrDenied) || !errors.Is(err, ErrOperatorDenied) {
		t.Fatalf("Escalate() = %v, want ErrDenied and ErrOperatorDenied", err)
	}
	decided := f.audit.named(audit.ApprovalDecided)
	if len(decided) != 2 || decided[1].Outcome != audit.Denied || decided[1].Detail != "denied by an operator (ops_0123)" || decided[1].ApprovalID != id {
		t.Errorf("approval.decided = %+v", decided)
	}
	if f.tier() != Read {
		t.Errorf("tier = %v, want read (kept)", f.tier())
	}
	f.issuer.setDecide(nil)
	var rl *RateLimitedError
	if _, err := f.m.Escalate(t.Context(), agent, "deploy", nil, sensitive.String{}); !errors.As(err, &rl) || !rl.Cooldown {
		t.Errorf("Escalate() right after the denial = %v, want the denial's cool-down", err)
	}
	if _, err := f.m.DenyApproval(t.Context(), agent, id); !errors.Is(err, ErrNoSuchApproval) {
		t.Errorf("denying it again = %v, want ErrNoSuchApproval", err)
	}
}

// Denying an approval that is not pending (another agent's, an unknown
// id) changes nothing.
func TestDenyApprovalNotPendingChangesNothing(t *testing.T) {
	f := newFixture(t)
	f.issuer.setDecide(func(ctx context.Context, _ Request) error {
		<-ctx.Done()
		return ctx.Err()
	})
	go func() { _, _ = f.m.Authenticate(context.Background(), agent, passcode) }()
	id := waitPending(t, f.m, agent)
	for _, c := range []struct {
		p  Principal
		id string
	}{{other, id}, {agent, "apr_0000000000000000"}, {agent, ""}} {
		if _, err := f.m.DenyApproval(t.Context(), c.p, c.id); !errors.Is(err, ErrNoSuchApproval) {
			t.Errorf("DenyApproval(%s, %q) = %v, want ErrNoSuchApproval", c.p, c.id, err)
		}
	}
	if p := f.m.Snapshot().Pending; len(p) != 1 || p[0].ApprovalID != id {
		t.Errorf("pending = %+v, want the approval untouched", p)
	}
	if _, err := f.m.RevokeAgent(t.Context(), agent); err != nil {
		t.Fatal(err)
	}
}

// Denied through another replica than the one asking the human: that one
// gives nothing, even if the human approves afterwards, and every replica
// keeps the cool-down.
func TestSharedDenyApprovalOnAnotherReplica(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReplicas(t, 2, func(o *Options) { o.DenialCooldown = time.Minute })
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
		p := r.ms[1].Snapshot().Pending
		if len(p) != 1 {
			t.Fatalf("B's view of pending approvals = %+v", p)
		}
		if _, err := r.ms[1].DenyApproval(audit.WithCorrelationID(t.Context(), "ops_b"), agent, p[0].ApprovalID); err != nil {
			t.Fatal(err)
		}
		if d := r.audit.named(audit.ApprovalDecided); len(d) != 1 || d[0].Outcome != audit.Denied || d[0].Detail != "denied by an operator (ops_b)" || d[0].ApprovalID != p[0].ApprovalID {
			t.Errorf("approval.decided at once = %+v, want B's record of the denial", d)
		}
		if err := <-errc; !errors.Is(err, ErrOperatorDenied) || !errors.Is(err, ErrDenied) {
			t.Errorf("A's authenticate = %v, want ErrOperatorDenied", err)
		}
		if live := liveTokens(r.issuer); len(live) != 0 {
			t.Errorf("the token approved after the denial is live: %v", live)
		}
		sl := r.store.slot(agent, Read)
		if sl.Grant != nil || sl.Claim != nil || sl.CoolUntil.IsZero() {
			t.Errorf("slot after the denial = %+v, want no grant, no claim, a cool-down", sl)
		}
	})
}
