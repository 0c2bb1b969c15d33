package access

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// The replica's cache in front of the shared store: the grants it holds in
// memory are used for at most SharedOptions.Revalidate before the store is
// asked again, and a principal this replica has not seen is looked up.
// A grant approved through another replica is taken from the store here,
// without a new approval; a grant the store no longer has (released,
// logged out, revoked, expired, replaced) is forgotten here.

// refresh makes the cache's answer for p at tier need (or above) current:
// a live cached grant at one of those tiers that was revalidated within
// the interval answers by itself (a hit); otherwise every such tier that
// is not one is read from the store (a miss always asks). With all, every
// tier that is not a fresh live grant is read (the agent's whole status).
// Without a shared store it does nothing. If the store does not answer,
// p's cached grants stay unusable until it does.
func (m *Manager) refresh(ctx context.Context, p Principal, need Tier, all bool) error {
	if m.opts.Shared == nil {
		return nil
	}
	m.mu.Lock()
	st := m.state(p)
	arrived := st.reloads
	m.mu.Unlock()
	// One revalidation of p at a time: callers that queued behind one
	// that read the store after they arrived take its answer.
	st.sync.Lock()
	defer st.sync.Unlock()
	var stale []Tier
	m.mu.Lock()
	now := m.opts.Clock.Now()
	for t := need; t <= Write; t++ {
		current := !st.checked[t].IsZero() && st.reloads[t] > arrived[t]
		hit := st.grants[t].liveAt(now) && !st.checked[t].IsZero() && now.Sub(st.checked[t]) < m.opts.SharedOptions.Revalidate
		if hit && !all {
			stale = nil
			break
		}
		if !hit && !current {
			stale = append(stale, t)
		}
	}
	m.mu.Unlock()
	// The tiers are read at once (a miss costs one round trip, not two),
	// then applied in order.
	m.mu.Lock()
	for _, t := range stale {
		st.reloads[t]++
	}
	m.mu.Unlock()
	at := m.opts.Clock.Now()
	slots := make([]Slot, len(stale))
	errs := make([]error, len(stale))
	var wg sync.WaitGroup
	for i, t := range stale {
		wg.Go(func() { slots[i], errs[i] = m.opts.Shared.Load(ctx, p, t) })
	}
	wg.Wait()
	err := errors.Join(errs...)
	for i := 0; err == nil && i < len(slots); i++ {
		err = m.apply(ctx, slots[i], at)
	}
	if err != nil {
		m.mu.Lock()
		st.checked = [Write + 1]time.Time{}
		m.mu.Unlock()
		return unavailable("revalidating access", err)
	}
	return nil
}

// refreshQuietly is refresh for callers without a context, bounded in time.
func (m *Manager) refreshQuietly(p Principal, need Tier, all bool) error {
	if m.opts.Shared == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.SharedOptions.Timeout)
	defer cancel()
	return m.refresh(ctx, p, need, all)
}

// verified reports whether st's grant at t may be used: always without a
// shared store; with one, only while its last revalidation succeeded.
func (m *Manager) verified(st *principalState, t Tier) bool {
	return m.opts.Shared == nil || !st.checked[t].IsZero()
}

// remoteClaim is the approval another replica runs for st at t, if any.
func (m *Manager) remoteClaim(st *principalState, t Tier, now time.Time) *Claim {
	if m.opts.Shared == nil || t > Write {
		return nil
	}
	if c := st.remote[t]; c != nil && now.Before(c.Expires) {
		return c
	}
	return nil
}

// apply brings the cache in line with slot s, read from the store at now.
func (m *Manager) apply(ctx context.Context, s Slot, now time.Time) error {
	m.mu.Lock()
	st := m.state(s.Principal)
	if s.Version < st.version[s.Tier] {
		// Read before this replica wrote the slot: its own news is newer.
		st.checked[s.Tier] = now
		m.mu.Unlock()
		return nil
	}
	cur := st.grants[s.Tier]
	switch {
	case !s.grantLive(now):
		// Ended elsewhere (or expired): forget it. Whoever removed it
		// from the store revoked it.
		st.take(s.Tier)
		m.note(st, s, now)
		m.mu.Unlock()
		return nil
	case cur != nil && cur.ApprovalID == s.Grant.ApprovalID:
		m.note(st, s, now)
		m.mu.Unlock()
		return nil
	}
	m.mu.Unlock()

	g, err := m.unseal(ctx, s)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.Version < st.version[s.Tier] {
		return nil // this replica wrote the slot meanwhile
	}
	if g == nil {
		st.take(s.Tier) // unreadable: as if absent
	} else {
		m.install(st, g)
	}
	m.note(st, s, now)
	return nil
}

// note records what the store said about st at s.Tier besides the grant.
// m.mu must be held.
func (m *Manager) note(st *principalState, s Slot, now time.Time) {
	st.checked[s.Tier] = now
	st.version[s.Tier] = s.Version
	st.coolUntil[s.Tier] = s.CoolUntil
	st.remote[s.Tier] = nil
	if s.Tier <= Write {
		st.revoked[s.Tier] = s.Revoked
	}
	if c := s.Claim; c != nil && !claimDead(c, now) {
		st.remote[s.Tier] = c
	}
	if s.Tier == Read {
		st.autoSpent = s.AutoSpent
	}
}

// install caches g (from the store) as st's grant at its tier, with its
// own expiry timer, replacing what was cached without revoking it: the
// replica that replaced it in the store did. m.mu must be held.
func (m *Manager) install(st *principalState, g *Grant) *Grant {
	if cur := st.grants[g.Tier]; cur != nil && cur.ApprovalID == g.ApprovalID {
		return cur
	}
	st.take(g.Tier)
	g.stopTimer = m.opts.Clock.AfterFunc(g.ExpiresAt.Sub(m.opts.Clock.Now()), func() { m.expire(g) })
	st.grants[g.Tier] = g
	return g
}

// unseal returns the grant that slot s holds, token included, checked
// against where it is kept: nothing read from the store grants more than
// the record's own principal, tier, paths and expiry, nor lives longer
// than this replica's policy allows for the tier. A record that cannot be
// trusted is (nil, nil): absent. An error means the store did not answer.
func (m *Manager) unseal(ctx context.Context, s Slot) (*Grant, error) {
	g, err := m.opts.Shared.Unseal(ctx, s)
	if errors.Is(err, ErrSlotUnreadable) {
		m.opts.Logger.WarnContext(ctx, "a shared grant record cannot be trusted; treated as absent",
			"principal", s.Principal, "tier", s.Tier, "err", err)
		return nil, nil
	}
	if err != nil {
		return nil, unavailable("reading a shared grant", err)
	}
	bad := g == nil || g.Token.IsZero() || s.Grant == nil ||
		g.Principal != s.Principal || g.Tier != s.Tier || g.ApprovalID != s.Grant.ApprovalID ||
		g.ExpiresAt.Sub(g.IssuedAt) > m.policy(s.Principal).ttl(s.Tier)
	if bad {
		m.opts.Logger.WarnContext(ctx, "a shared grant record does not match its place; treated as absent",
			"principal", s.Principal, "tier", s.Tier)
		return nil, nil
	}
	out := &Grant{
		Principal: s.Principal, Tier: s.Tier, Scope: g.Scope, Paths: slices.Clone(g.Paths),
		Token: g.Token, Accessor: g.Accessor, ApprovalID: g.ApprovalID,
		IssuedAt: g.IssuedAt, ExpiresAt: g.ExpiresAt,
	}
	if s.Grant.ExpiresAt.Before(out.ExpiresAt) {
		out.ExpiresAt = s.Grant.ExpiresAt
	}
	return out, nil
}

// tokenOf returns the grant slot s holds with its token, to revoke it:
// this replica's cached copy if it has one, else unsealed from the store.
// Nil when neither works.
func (m *Manager) tokenOf(ctx context.Context, s Slot) *Grant {
	if s.Grant == nil {
		return nil
	}
	m.mu.Lock()
	if st, ok := m.principals[s.Principal]; ok && s.Tier <= Write {
		if g := st.grants[s.Tier]; g != nil && g.ApprovalID == s.Grant.ApprovalID {
			m.mu.Unlock()
			return g
		}
	}
	m.mu.Unlock()
	g, err := m.unseal(ctx, s)
	if err != nil || g == nil {
		m.opts.Logger.WarnContext(ctx, "cannot read a shared grant's token to revoke it; it dies at its own TTL",
			"principal", s.Principal, "tier", s.Tier, "accessor", s.Grant.Accessor, "err", err)
		return nil
	}
	return g
}

// changeSlot applies change to p's slot at t by check-and-set, reading it
// again whenever another replica wrote first. change reports whether it
// changed anything; if not, nothing is written. It returns the slot as it
// was before the change that was written.
func (m *Manager) changeSlot(ctx context.Context, p Principal, t Tier, change func(*Slot) bool) (prev Slot, changed bool, err error) {
	for range casAttempts {
		s, err := m.opts.Shared.Load(ctx, p, t)
		if err != nil {
			return Slot{}, false, unavailable("reading a shared slot", err)
		}
		prev = s
		prev.Grant, prev.Claim = cloneGrant(s.Grant), cloneClaim(s.Claim)
		if !change(&s) {
			return prev, false, nil
		}
		stored, err := m.opts.Shared.Store(ctx, s)
		if errors.Is(err, ErrSlotConflict) {
			continue
		}
		if err != nil {
			return prev, false, unavailable("writing a shared slot", err)
		}
		m.mu.Lock()
		m.state(p).version[t] = stored.Version
		m.mu.Unlock()
		return prev, true, nil
	}
	return prev, false, unavailable("writing a shared slot", ErrSlotConflict)
}

func cloneGrant(g *Grant) *Grant {
	if g == nil {
		return nil
	}
	c := *g
	c.Paths = slices.Clone(g.Paths)
	c.stopTimer = nil
	return &c
}

func cloneClaim(c *Claim) *Claim {
	if c == nil {
		return nil
	}
	d := *c
	d.Paths = slices.Clone(c.Paths)
	return &d
}
