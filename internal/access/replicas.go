package access

import (
	"context"
	"errors"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

// Replicas come and go one by one (a rolling restart): each says in the
// store that it is alive, and one that stops leaves the grants it served
// to the others. Only the last replica out revokes them all, as one
// process does at shutdown. A replica that cannot tell whether others are
// alive revokes: less access, never more.

// Join says in the store that this replica is alive, and keeps saying it
// until Close. Without a shared store it does nothing. An error means the
// store does not answer or refuses this replica's credential: serving
// would then grant nothing.
func (m *Manager) Join(ctx context.Context) error {
	if m.opts.Shared == nil {
		return nil
	}
	if err := m.beat(ctx); err != nil {
		return unavailable("announcing this replica", err)
	}
	m.mu.Lock()
	m.scheduleBeat()
	m.mu.Unlock()
	return nil
}

func (m *Manager) beat(ctx context.Context) error {
	o := m.opts.SharedOptions
	return m.opts.Shared.Beat(ctx, o.Replica, m.opts.Clock.Now().Add(o.Heartbeat*3))
}

// scheduleBeat arms the next heartbeat. m.mu must be held.
func (m *Manager) scheduleBeat() {
	if m.closed {
		return
	}
	m.beatStop = m.opts.Clock.AfterFunc(m.opts.SharedOptions.Heartbeat, func() {
		m.beatMu.Lock()
		m.mu.Lock()
		closed := m.closed
		m.mu.Unlock()
		if !closed {
			ctx, cancel := context.WithTimeout(context.Background(), m.opts.SharedOptions.Timeout)
			if err := m.beat(ctx); err != nil {
				m.opts.Logger.Warn("the shared store did not take this replica's heartbeat", "err", err)
			}
			cancel()
		}
		m.beatMu.Unlock()
		m.mu.Lock()
		m.scheduleBeat()
		m.mu.Unlock()
	})
}

// closeShared is Close with a shared store. Pending approvals this replica
// runs end and are handed over (a replica whose caller still waits claims
// them anew); then, if another replica is alive, the grants stay in the
// store for it to serve; if none is (or the store cannot say), every grant
// in the store is revoked and removed.
func (m *Manager) closeShared(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	var local []*Grant
	for _, st := range m.principals {
		for t := Read; t <= Write; t++ {
			if g := st.take(t); g != nil {
				local = append(local, g)
			}
		}
	}
	if m.beatStop != nil {
		m.beatStop()
	}
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait() // flights publish their end before this replica leaves

	// No heartbeat runs past this point, so none says alive after the
	// goodbye.
	m.beatMu.Lock()
	now := m.opts.Clock.Now()
	id := m.opts.SharedOptions.Replica
	leftErr := m.opts.Shared.Beat(ctx, id, now)
	m.beatMu.Unlock()
	others := 0
	replicas, err := m.opts.Shared.Replicas(ctx)
	for rid, until := range replicas {
		if rid != id && until.After(now) {
			others++
		}
	}
	if err == nil && leftErr == nil && others > 0 {
		m.opts.Logger.InfoContext(ctx, "leaving this replica's grants to the other replicas", "replicas", others, "grants", len(local))
		return nil
	}
	if err == nil && leftErr != nil {
		err = leftErr
	}
	if err != nil {
		m.opts.Logger.WarnContext(ctx, "cannot tell whether other replicas are alive; revoking every grant", "err", err)
	}
	return m.revokeAllShared(ctx, local)
}

// revokeAllShared revokes and removes every grant in the store, and the
// ones this replica holds if the store does not answer.
func (m *Manager) revokeAllShared(ctx context.Context, local []*Grant) error {
	slots, err := m.opts.Shared.List(ctx)
	if err != nil {
		errs := []error{unavailable("listing every grant", err)}
		for _, g := range local {
			errs = append(errs, m.revoke(ctx, g, audit.GrantRevoked, "shutdown"))
		}
		return errors.Join(errs...)
	}
	now := m.opts.Clock.Now()
	var errs []error
	for _, s := range slots {
		if s.Grant == nil || s.Tier > Write {
			continue
		}
		approval := s.Grant.ApprovalID
		prev, changed, err := m.changeSlot(ctx, s.Principal, s.Tier, func(s *Slot) bool {
			if s.Grant == nil || s.Grant.ApprovalID != approval {
				return false
			}
			s.Grant, s.Sealed = nil, ""
			return true
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !changed || !prev.grantLive(now) {
			continue
		}
		g := findGrant(local, approval)
		if g == nil {
			g = m.tokenOf(ctx, prev)
		}
		if g != nil {
			errs = append(errs, m.revoke(ctx, g, audit.GrantRevoked, "shutdown"))
		}
	}
	return errors.Join(errs...)
}
