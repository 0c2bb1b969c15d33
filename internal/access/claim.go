package access

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// One approval per principal and tier across every replica. Callers on one
// replica join its local flight, as in a single process; the flight then
// either finds a grant another replica published, or waits on the claim
// another replica holds (polling the slot), or claims the slot by
// check-and-set and runs the approval itself. Exactly one replica wins a
// claim; the others wait for its result instead of asking the human.

// ask is what a flight asks for.
type ask struct {
	p               Principal
	t               Tier
	reason, trigger string
	paths           []string
	passcode        sensitive.String
}

// approveShared is approve with a shared store.
func (m *Manager) approveShared(ctx context.Context, p Principal, t Tier, reason, trigger string, paths []string, passcode sensitive.String) (*Grant, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	st := m.state(p)
	if f := st.pending[t]; f != nil {
		m.mu.Unlock()
		if t == Destroy {
			return nil, ErrOncePending
		}
		return f.wait(ctx)
	}
	// The flight outlives the call that started it (others may join it)
	// but not the Manager, nor an operator's revocation.
	cctx, cancelCause := context.WithCancelCause(context.WithoutCancel(ctx))
	f := &flight{
		id: newID("apr_"), expires: m.opts.Clock.Now().Add(m.opts.ApprovalTimeout), done: make(chan struct{}),
		reason: reason, trigger: trigger, paths: paths, cancel: cancelCause,
	}
	st.pending[t] = f
	m.wg.Add(1)
	m.mu.Unlock()

	stop := context.AfterFunc(m.flights, func() { cancelCause(ErrClosed) })
	q := ask{p: p, t: t, reason: reason, trigger: trigger, paths: paths, passcode: passcode}
	go func() {
		defer m.wg.Done()
		defer cancelCause(nil)
		defer stop()
		m.fly(cctx, f, q)
	}()
	return m.waitFor(ctx, f, t)
}

// fly carries a flight to its end: a grant found in the store, the result
// of another replica's approval, or the approval it claims and runs.
func (m *Manager) fly(ctx context.Context, f *flight, q ask) {
	// Waiting on another replica ends once its claim could no longer be
	// answered: a replica that died holds nobody up for longer.
	watchUntil := m.opts.Clock.Now().Add(m.opts.ApprovalTimeout + claimGrace + m.opts.SharedOptions.Poll)
	watching := ""
	waited := false // f.id names another replica's approval now
	conflicts := 0
	for {
		s, err := m.opts.Shared.Load(ctx, q.p, q.t)
		if err != nil {
			m.land(f, q, nil, m.flightErr(ctx, unavailable("reading the pending approval", err)))
			return
		}
		now := m.opts.Clock.Now()

		// A grant that serves the request: the one the approval waited
		// on gave (covering or not, as for a joiner), or any live one.
		if q.t != Destroy && s.grantLive(now) &&
			(s.Grant.ApprovalID == watching || q.t != Write || coversAll(s.Grant.Paths, q.paths)) {
			g, err := m.adopt(ctx, s)
			if err != nil || g != nil {
				m.land(f, q, g, err)
				return
			}
			// Unreadable: as if absent; a new approval replaces it.
		}

		// Another replica runs the approval: wait for it.
		if c := s.Claim; c != nil && !claimDead(c, now) {
			if q.t == Destroy {
				m.land(f, q, nil, ErrOncePending)
				return
			}
			if watching != c.ApprovalID {
				watching, waited = c.ApprovalID, true
				m.mu.Lock()
				f.id, f.expires = c.ApprovalID, c.Expires
				m.mu.Unlock()
			}
			if !now.Before(watchUntil) {
				m.land(f, q, nil, ErrApprovalTimeout)
				return
			}
			if err := m.sleep(ctx, m.opts.SharedOptions.Poll); err != nil {
				m.land(f, q, nil, m.flightErr(ctx, err))
				return
			}
			continue
		}

		// The approval waited on has ended without a grant for us.
		if watching != "" {
			if l := s.Last; l != nil && l.ApprovalID == watching && l.Result != ResultHandedOver {
				m.land(f, q, nil, outcomeErr(q.t, l.Result))
				return
			}
			// Handed over by a replica that stopped, or its replica died
			// before an answer: ask anew.
			watching = ""
		}

		// The slot is free: claim it, if this request may reach the human.
		req, held, err := m.prepare(ctx, f, q, s, now, waited)
		if err != nil {
			m.land(f, q, nil, err)
			return
		}
		s.Claim = &Claim{
			ApprovalID: req.ID, Replica: m.opts.SharedOptions.Replica, Reason: q.reason, Trigger: q.trigger,
			Paths: slices.Clone(q.paths), Expires: req.Expires, Auto: q.t == Read && q.reason == autoReason,
		}
		stored, err := m.opts.Shared.Store(ctx, s)
		if errors.Is(err, ErrSlotConflict) {
			if conflicts++; conflicts < casAttempts {
				continue // another replica wrote first: look again
			}
		}
		if err != nil {
			m.land(f, q, nil, m.flightErr(ctx, unavailable("claiming the approval", err)))
			return
		}
		m.mu.Lock()
		m.state(q.p).version[q.t] = stored.Version
		m.mu.Unlock()
		actx, cancel := context.WithTimeout(ctx, m.opts.ApprovalTimeout)
		m.run(actx, f, req, held)
		cancel()
		return
	}
}

// prepare checks that a new approval may reach the human (the tier below
// is live, no cool-down, reads have not spent theirs, the rate limit) and
// returns its request and the token of the tier below.
func (m *Manager) prepare(ctx context.Context, f *flight, q ask, s Slot, now time.Time, waited bool) (Request, sensitive.String, error) {
	var held sensitive.String
	m.mu.Lock()
	st := m.state(q.p)
	switch q.t {
	case Write:
		g := st.grants[Read]
		if !g.liveAt(now) || !m.verified(st, Read) {
			m.mu.Unlock()
			return Request{}, held, ErrNotAuthenticated
		}
		held = g.Token
	case Destroy:
		g := st.grants[Write]
		switch {
		case !g.liveAt(now) || !m.verified(st, Write):
			m.mu.Unlock()
			return Request{}, held, ErrWriteRequired
		case !coversAll(g.Paths, q.paths):
			m.mu.Unlock()
			return Request{}, held, ErrPathNotGranted
		}
		held = g.Token
	}
	m.mu.Unlock()
	if wait := s.CoolUntil.Sub(now); wait > 0 {
		_ = m.opts.Audit.Record(ctx, audit.Event{
			Event: audit.RateLimited, Outcome: audit.Refused, Principal: string(q.p), Tier: q.t.String(),
			Tool: q.trigger, Detail: "cool-down after a denial: retry after " + wait.Round(time.Second).String(),
		})
		return Request{}, held, &RateLimitedError{What: "approval requests", RetryAfter: wait, Cooldown: true}
	}
	if q.t == Read && q.reason == autoReason && s.AutoSpent {
		if s.Revoked {
			return Request{}, held, revokedErr(Read)
		}
		return Request{}, held, ErrNotAuthenticated
	}
	if m.opts.ApprovalLimit != nil {
		if wait, ok := m.opts.ApprovalLimit(q.p); !ok {
			_ = m.opts.Audit.Record(ctx, audit.Event{
				Event: audit.RateLimited, Outcome: audit.Refused, Principal: string(q.p), Tier: q.t.String(),
				Tool: q.trigger, Detail: "approval requests: retry after " + wait.Round(time.Second).String(),
			})
			return Request{}, held, &RateLimitedError{What: "approval requests", RetryAfter: wait}
		}
	}
	pol := m.policy(q.p)
	m.mu.Lock()
	if waited {
		// It waited on another replica's approval: this one is new.
		f.id = newID("apr_")
	}
	f.expires = now.Add(m.opts.ApprovalTimeout)
	req := Request{
		ID: f.id, Principal: q.p, Tier: q.t, Scope: pol.Scope, Paths: q.paths,
		Reason: q.reason, Trigger: q.trigger, TTL: pol.ttl(q.t), Expires: f.expires, Passcode: q.passcode,
	}
	m.mu.Unlock()
	req.Digest = req.digest()
	return req, held, nil
}

// adopt takes the grant slot s holds into this replica's cache: an
// approval given through another replica serves here without a new one.
// (nil, nil) when the record cannot be trusted or is out of date.
func (m *Manager) adopt(ctx context.Context, s Slot) (*Grant, error) {
	g, err := m.unseal(ctx, s)
	if err != nil || g == nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state(s.Principal)
	if s.Version < st.version[s.Tier] {
		// The slot moved on since it was read: what this replica wrote
		// later is in its cache already, or the caller reads it again.
		if cur := st.grants[s.Tier]; cur.liveAt(m.opts.Clock.Now()) {
			return cur, nil
		}
		return nil, nil
	}
	g = m.install(st, g)
	m.note(st, s, m.opts.Clock.Now())
	m.opts.Logger.DebugContext(ctx, "using a grant approved through another replica",
		"principal", s.Principal, "tier", s.Tier, "approval_id", g.ApprovalID, "accessor", g.Accessor)
	return g, nil
}

// land ends a flight that did not run an approval itself.
func (m *Manager) land(f *flight, q ask, g *Grant, err error) {
	m.mu.Lock()
	st := m.state(q.p)
	st.pending[q.t] = nil
	if m.closed && err == nil {
		g, err = nil, ErrClosed
	}
	if errors.Is(err, ErrDenied) && !errors.Is(err, ErrWrongPasscode) && m.opts.DenialCooldown > 0 {
		// The store has the cool-down too; this keeps the replica's own
		// view in step until its next revalidation.
		st.coolUntil[q.t] = m.opts.Clock.Now().Add(m.opts.DenialCooldown)
	}
	f.grant, f.err = g, err
	unclaimed := f.unclaimed(q.t)
	m.mu.Unlock()
	close(f.done)
	m.revokeUnclaimed(unclaimed)
}

// flightErr says why a flight's context ended: an operator's revocation,
// shutdown, or err.
func (m *Manager) flightErr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cutShort(cause) {
		return cause
	}
	if m.flights.Err() != nil {
		return ErrClosed
	}
	return err
}

// sleep waits d on the Manager's clock, or until ctx ends.
func (m *Manager) sleep(ctx context.Context, d time.Duration) error {
	ch := make(chan struct{})
	stop := m.opts.Clock.AfterFunc(d, func() { close(ch) })
	defer stop()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
