package access

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

// What an operator sees and does: every principal's grants and pending
// approvals at once, and revocation that does not wait for the agent. The
// status page is a thin adapter over this file.

// GrantView is a live grant as an operator sees it: everything but the
// token. The accessor lets the operator find the token in Vault's own
// audit log or revoke it there by hand.
type GrantView struct {
	Principal   Principal
	Tier        Tier
	Scope       string
	Paths       []string // narrowed write grant; empty means all of Scope
	IssuedAt    time.Time
	ExpiresAt   time.Time
	SecondsLeft int64
	ApprovalID  string
	Accessor    string
	// Credentials were issued with the grant's token and end with it.
	Credentials []CredentialView
}

// PendingView is an approval waiting for a human, as an operator sees it.
// It never carries the passcode the agent passed on.
type PendingView struct {
	Principal  Principal
	Tier       Tier
	ApprovalID string
	Reason     string
	Trigger    string
	Paths      []string
	// Requested is when the approval was asked: its expiry less the
	// approval timeout.
	Requested time.Time
	Expires   time.Time
}

// Snapshot is every principal's live grants and pending approvals at one
// moment, ordered by principal and then tier.
type Snapshot struct {
	At      time.Time
	Grants  []GrantView
	Pending []PendingView
}

// Revocation says what an operator's revocation ended.
type Revocation struct {
	Principal Principal
	// Grants were taken from the agent; each was revoked in Vault unless
	// it is also in Failed.
	Grants []GrantView
	// Failed were dropped here but Vault did not confirm their revocation:
	// their tokens die at their own TTL (no longer than the grant) unless
	// revoked in Vault by accessor.
	Failed []GrantView
	// Cancelled approvals were cut short: whatever the human answers
	// gives nothing.
	Cancelled []PendingView
}

var (
	// ErrNoSuchGrant: the grant to revoke is not live any more (it ended,
	// or was replaced by a grant from another approval). Nothing changed.
	ErrNoSuchGrant = errors.New("no such live grant")
	// ErrNothingToRevoke: the principal holds no grant and waits for no
	// approval. Nothing changed.
	ErrNothingToRevoke = errors.New("nothing to revoke")
	// ErrRevoked marks an approval an operator cut short. The error its
	// callers get also wraps the error that says how to get access back
	// (ErrNotAuthenticated or ErrWriteRequired).
	ErrRevoked = errors.New("access was revoked by an operator")
)

// operatorWhy is the audit detail of everything an operator ends.
const operatorWhy = "revoked by an operator"

// Snapshot returns every principal's live grants and pending approvals;
// with a shared store, those of every replica.
func (m *Manager) Snapshot() Snapshot {
	if m.opts.Shared != nil {
		return m.snapshotShared()
	}
	now := m.opts.Clock.Now()
	s := Snapshot{At: now}
	m.addLocal(&s, now)
	s.sort()
	return s
}

// sort orders grants and pending approvals by principal, then tier.
func (s *Snapshot) sort() {
	slices.SortFunc(s.Grants, func(a, b GrantView) int {
		return cmp.Or(cmp.Compare(a.Principal, b.Principal), cmp.Compare(a.Tier, b.Tier))
	})
	slices.SortFunc(s.Pending, func(a, b PendingView) int {
		return cmp.Or(cmp.Compare(a.Principal, b.Principal), cmp.Compare(a.Tier, b.Tier))
	})
}

// addLocal adds what this process holds to s: its live grants and the
// approvals it is waiting for.
func (m *Manager) addLocal(s *Snapshot, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for p, st := range m.principals {
		for t := Read; t <= Write; t++ {
			if g := st.grants[t]; g.liveAt(now) {
				s.Grants = append(s.Grants, viewOf(g, now))
			}
		}
		for t := Read; t <= Destroy; t++ {
			if f := st.pending[t]; f != nil {
				s.Pending = append(s.Pending, m.pendingOf(p, t, f))
			}
		}
	}
}

func viewOf(g *Grant, now time.Time) GrantView {
	left := max(int64(g.ExpiresAt.Sub(now).Seconds()), 0)
	return GrantView{
		Principal: g.Principal, Tier: g.Tier, Scope: g.Scope, Paths: slices.Clone(g.Paths),
		IssuedAt: g.IssuedAt, ExpiresAt: g.ExpiresAt, SecondsLeft: left,
		ApprovalID: g.ApprovalID, Accessor: g.Accessor, Credentials: credentialViews([]*Grant{g}, now),
	}
}

func (m *Manager) pendingOf(p Principal, t Tier, f *flight) PendingView {
	return PendingView{
		Principal: p, Tier: t, ApprovalID: f.id, Reason: f.reason, Trigger: f.trigger,
		Paths: slices.Clone(f.paths), Requested: f.expires.Add(-m.opts.ApprovalTimeout), Expires: f.expires,
	}
}

// RevokeGrant ends p's live grant at tier t now, in Vault, on an
// operator's word. approvalID names the grant the operator saw: if the
// live grant at t came from another approval (the one seen has ended and
// a new one replaced it), nothing is revoked and the error is
// ErrNoSuchGrant, so that an operator never ends access they have not
// been shown.
//
// Revoking read also ends write and every pending approval of p: write was
// earned from read and reads with its own token, so a write grant left
// behind would keep reading. Revoking write ends write and pending write
// and destroy approvals; read stays.
func (m *Manager) RevokeGrant(ctx context.Context, p Principal, t Tier, approvalID string) (Revocation, error) {
	if t != Read && t != Write {
		return Revocation{Principal: p}, fmt.Errorf("%w: tier %s is never held", ErrNoSuchGrant, t)
	}
	return m.operatorRevoke(ctx, p, t, func(st *principalState, now time.Time) error {
		if g := st.grants[t]; !g.liveAt(now) || g.ApprovalID != approvalID {
			return ErrNoSuchGrant
		}
		return nil
	})
}

// RevokeAgent ends all of p's access now, in Vault, on an operator's word:
// every grant and every pending approval. ErrNothingToRevoke when there is
// neither. A one-shot destroy token already handed to its operation is not
// held here: it is revoked as soon as that one operation returns.
func (m *Manager) RevokeAgent(ctx context.Context, p Principal) (Revocation, error) {
	return m.operatorRevoke(ctx, p, Read, func(st *principalState, _ time.Time) error {
		for t := Read; t <= Destroy; t++ {
			if (t <= Write && st.grants[t] != nil) || (st.pending[t] != nil && !st.pending[t].cancelled) {
				return nil
			}
		}
		return ErrNothingToRevoke
	})
}

// operatorRevoke ends p's grants and pending approvals at tier from and
// above, once check (run under the lock, before anything changes) allows.
func (m *Manager) operatorRevoke(ctx context.Context, p Principal, from Tier, check func(*principalState, time.Time) error) (Revocation, error) {
	if m.opts.Shared != nil {
		return m.operatorRevokeShared(ctx, p, from, check)
	}
	rev := Revocation{Principal: p}
	m.mu.Lock()
	st, ok := m.principals[p]
	if !ok {
		st = &principalState{} // a principal never seen holds nothing
	}
	now := m.opts.Clock.Now()
	if err := check(st, now); err != nil {
		m.mu.Unlock()
		return rev, err
	}
	var ended []*Grant
	for t := from; t <= Write; t++ {
		st.revoked[t] = true
		// Taken even if its time is up and its timer has not fired yet:
		// expire then finds it gone, so it is revoked here.
		if g := st.take(t); g != nil {
			ended = append(ended, g)
			rev.Grants = append(rev.Grants, viewOf(g, now))
		}
	}
	for t := from; t <= Destroy; t++ {
		f := st.pending[t]
		if f == nil || f.cancelled {
			continue
		}
		// Cancelled under the lock: run, which publishes a grant under
		// the same lock, either sees the cause and gives nothing, or has
		// published already, and then the grant was taken above.
		f.cancel(revokedErr(t))
		f.cancelled = true
		rev.Cancelled = append(rev.Cancelled, m.pendingOf(p, t, f))
	}
	if from == Read {
		// The agent's next read does not start an approval by itself: it
		// is told it has no access and must call authenticate. An operator
		// who just cut an agent off must not see the human asked again
		// (and perhaps approving out of habit) by the very next call the
		// agent makes; asking again takes a deliberate step by the agent.
		// A successful approval (authenticate) clears this, as always.
		st.autoSpent = true
	}
	m.mu.Unlock()

	var errs []error
	for i, g := range ended {
		if err := m.revoke(ctx, g, audit.GrantRevoked, operatorWhy); err != nil {
			rev.Failed = append(rev.Failed, rev.Grants[i])
			errs = append(errs, fmt.Errorf("revoking %s's %s grant (accessor %s) in vault: %w", p, g.Tier, g.Accessor, err))
		}
	}
	m.opts.Logger.InfoContext(ctx, "access revoked by an operator", "principal", p, "from_tier", from,
		"grants", len(rev.Grants), "failed", len(rev.Failed), "approvals_cancelled", len(rev.Cancelled))
	return rev, errors.Join(errs...)
}

// revokedErr is what the callers of an approval an operator cut short get:
// ErrRevoked, and the error that tells the agent how to get access back.
func revokedErr(t Tier) error {
	if t == Read {
		return fmt.Errorf("%w: %w", ErrRevoked, ErrNotAuthenticated)
	}
	return fmt.Errorf("%w: %w", ErrRevoked, ErrWriteRequired)
}
