package access

import (
	"context"
	"errors"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

// How grants end when replicas share them. The replica whose
// check-and-set removes a grant from the store revokes its token and
// records why; the others forget their copy at their next revalidation,
// and Vault refuses the token at once anyway.

// endShared is end (release, logout) with a shared store.
func (m *Manager) endShared(ctx context.Context, p Principal, why string, tiers ...Tier) error {
	now := m.opts.Clock.Now()
	var errs []error
	var failed []Tier
	for _, t := range tiers {
		prev, changed, err := m.changeSlot(ctx, p, t, func(s *Slot) bool {
			ch := s.Grant != nil || (t == Read && s.AutoSpent) || s.Revoked
			s.Grant, s.Sealed, s.Revoked = nil, "", false
			if t == Read {
				s.AutoSpent = false
			}
			return ch
		})
		if err != nil {
			errs = append(errs, err)
			failed = append(failed, t)
			continue
		}
		if changed && prev.grantLive(now) {
			if g := m.tokenOf(ctx, prev); g != nil {
				errs = append(errs, m.revoke(ctx, g, audit.GrantReleased, why))
			}
		}
	}
	m.mu.Lock()
	var local []*Grant
	if st, ok := m.principals[p]; ok {
		for _, t := range tiers {
			st.revoked[t] = false
			g := st.take(t)
			if g != nil && containsTier(failed, t) {
				local = append(local, g)
			}
		}
		st.autoSpent = false
	}
	m.mu.Unlock()
	// The store did not answer: what this replica holds ends here at
	// least, in Vault, so that the agent's word holds.
	for _, g := range local {
		errs = append(errs, m.revoke(ctx, g, audit.GrantReleased, why))
	}
	return errors.Join(errs...)
}

func containsTier(ts []Tier, t Tier) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// expireShared ends g, already dropped from the cache, when its time is
// up. Every replica that cached it gets here at about the same moment;
// the one that removes it from the store revokes and records it. If the
// store does not answer, this replica does so itself: a duplicate record
// is better than a missing one.
func (m *Manager) expireShared(ctx context.Context, g *Grant) {
	_, changed, err := m.changeSlot(ctx, g.Principal, g.Tier, func(s *Slot) bool {
		if s.Grant == nil || s.Grant.ApprovalID != g.ApprovalID {
			return false
		}
		s.Grant, s.Sealed = nil, ""
		return true
	})
	if changed || err != nil {
		_ = m.revoke(ctx, g, audit.GrantExpired, "expired")
	}
}

// recheckShared is Recheck with a shared store, once Vault refused g's
// token: if the store no longer holds g, Gatekeeper ended it (on this
// replica or another) and the agent is told how to get the tier again;
// otherwise it was revoked outside Gatekeeper, and it is removed from the
// store for every replica.
func (m *Manager) recheckShared(ctx context.Context, g *Grant) error {
	m.mu.Lock()
	if st, ok := m.principals[g.Principal]; ok && st.grants[g.Tier] == g {
		st.take(g.Tier)
	}
	m.mu.Unlock()
	revoked := false
	_, changed, err := m.changeSlot(ctx, g.Principal, g.Tier, func(s *Slot) bool {
		if s.Grant == nil || s.Grant.ApprovalID != g.ApprovalID {
			revoked = s.Revoked
			return false
		}
		s.Grant, s.Sealed = nil, ""
		return true
	})
	if err == nil && !changed {
		return endedErr(g.Tier, revoked)
	}
	_ = m.record(ctx, g, audit.GrantLost, audit.Failed, "vault no longer honours the token")
	return ErrGrantLost
}
