package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

// The operator's view and revocation with a shared store: the status page
// of any replica shows every replica's grants and pending approvals, and a
// revocation through any replica ends the access everywhere (the store
// first, then Vault; other replicas drop their copies within their
// revalidation interval, and Vault refuses the tokens at once).

// snapshotShared is Snapshot from the store. If the store does not answer,
// it shows what this replica holds, and says so in the debug log.
func (m *Manager) snapshotShared() Snapshot {
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.SharedOptions.Timeout)
	defer cancel()
	slots, err := m.opts.Shared.List(ctx)
	now := m.opts.Clock.Now()
	s := Snapshot{At: now}
	if err != nil {
		m.opts.Logger.Warn("the shared store did not answer; the status shows this replica's own view", "err", err)
		m.addLocal(&s, now)
	}
	for _, sl := range slots {
		if sl.Tier <= Write && sl.grantLive(now) {
			g := *sl.Grant
			g.Principal, g.Tier = sl.Principal, sl.Tier
			s.Grants = append(s.Grants, viewOf(&g, now))
		}
		if c := sl.Claim; c != nil && !claimDead(c, now) {
			s.Pending = append(s.Pending, m.claimView(sl.Principal, sl.Tier, c))
		}
	}
	s.sort()
	return s
}

func (m *Manager) claimView(p Principal, t Tier, c *Claim) PendingView {
	return PendingView{
		Principal: p, Tier: t, ApprovalID: c.ApprovalID, Reason: c.Reason, Trigger: c.Trigger,
		Paths: slices.Clone(c.Paths), Requested: c.Expires.Add(-m.opts.ApprovalTimeout), Expires: c.Expires,
	}
}

// operatorRevokeShared is operatorRevoke with a shared store: check runs
// against the store's view of p, then each slot from tier from up loses
// its grant and its pending claim (whose replica then gives nothing, and
// whose waiters are told), the read slot is marked so that reads ask
// nobody by themselves, and the tokens removed are revoked in Vault.
func (m *Manager) operatorRevokeShared(ctx context.Context, p Principal, from Tier, check func(*principalState, time.Time) error) (Revocation, error) {
	rev := Revocation{Principal: p}
	now := m.opts.Clock.Now()
	view := &principalState{}
	for t := from; t <= Destroy; t++ {
		s, err := m.opts.Shared.Load(ctx, p, t)
		if err != nil {
			return rev, unavailable("reading the agent's access", err)
		}
		if t <= Write && s.grantLive(now) {
			view.grants[t] = s.Grant
		}
		if c := s.Claim; c != nil && !claimDead(c, now) {
			view.pending[t] = &flight{id: c.ApprovalID}
		}
	}
	if err := check(view, now); err != nil {
		return rev, err
	}

	var ended []Slot
	var errs []error
	var failed []Tier
	for t := from; t <= Destroy; t++ {
		prev, changed, err := m.changeSlot(ctx, p, t, func(s *Slot) bool {
			ch := false
			if s.Grant != nil && t <= Write {
				s.Grant, s.Sealed, ch = nil, "", true
			}
			if t <= Write && !s.Revoked {
				s.Revoked, ch = true, true
			}
			if s.Claim != nil {
				s.Last, s.Claim, ch = &Outcome{ApprovalID: s.Claim.ApprovalID, Result: ResultRevoked}, nil, true
			}
			if t == Read && from == Read && !s.AutoSpent {
				// As in one process: the agent's next read is told to
				// authenticate; asking again takes a deliberate step.
				s.AutoSpent, ch = true, true
			}
			return ch
		})
		if err != nil {
			errs = append(errs, err)
			failed = append(failed, t)
			continue
		}
		if !changed {
			continue
		}
		if t <= Write && prev.grantLive(now) {
			ended = append(ended, prev)
			g := *prev.Grant
			g.Principal, g.Tier = p, t
			rev.Grants = append(rev.Grants, viewOf(&g, now))
		}
		if c := prev.Claim; c != nil && !claimDead(c, now) {
			rev.Cancelled = append(rev.Cancelled, m.claimView(p, t, c))
		}
	}

	// This replica's own copies and flights end as in one process.
	m.mu.Lock()
	st := m.state(p)
	var local []*Grant
	for t := from; t <= Write; t++ {
		st.revoked[t] = true
		if g := st.take(t); g != nil {
			local = append(local, g)
		}
	}
	for t := from; t <= Destroy; t++ {
		if f := st.pending[t]; f != nil && !f.cancelled {
			f.cancel(revokedErr(t))
			f.cancelled = true
		}
	}
	if from == Read {
		st.autoSpent = true
	}
	m.mu.Unlock()

	for i, s := range ended {
		g := findGrant(local, s.Grant.ApprovalID)
		if g == nil {
			g = m.tokenOf(ctx, s)
		}
		if g == nil {
			rev.Failed = append(rev.Failed, rev.Grants[i])
			errs = append(errs, fmt.Errorf("revoking %s's %s grant (accessor %s) in vault: %w", p, s.Tier, s.Grant.Accessor, ErrSlotUnreadable))
			continue
		}
		if err := m.revoke(ctx, g, audit.GrantRevoked, operatorWhy); err != nil {
			rev.Failed = append(rev.Failed, rev.Grants[i])
			errs = append(errs, fmt.Errorf("revoking %s's %s grant (accessor %s) in vault: %w", p, s.Tier, s.Grant.Accessor, err))
		}
	}
	for _, g := range local {
		if containsTier(failed, g.Tier) {
			// The store did not answer: what this replica holds ends in
			// Vault at least, and the others find the token refused.
			if err := m.revoke(ctx, g, audit.GrantRevoked, operatorWhy); err == nil {
				rev.Grants = append(rev.Grants, viewOf(g, now))
			}
		}
	}
	m.opts.Logger.InfoContext(ctx, "access revoked by an operator", "principal", p, "from_tier", from,
		"grants", len(rev.Grants), "failed", len(rev.Failed), "approvals_cancelled", len(rev.Cancelled))
	return rev, errors.Join(errs...)
}

func findGrant(gs []*Grant, approvalID string) *Grant {
	for _, g := range gs {
		if g.ApprovalID == approvalID {
			return g
		}
	}
	return nil
}
