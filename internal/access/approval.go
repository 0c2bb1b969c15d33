package access

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// flight is one approval in progress. Every caller that needs the same
// principal and tier while it runs waits for it instead of asking the human
// again.
type flight struct {
	id      string
	expires time.Time
	done    chan struct{}
	grant   *Grant
	err     error

	// What an operator's list of pending approvals shows (never the passcode).
	reason, trigger string
	paths           []string
	// cancel ends the approval with a cause (operator revocation); run
	// gives nothing to an approval cancelled this way, however it ended.
	// cancelled is set, under Manager.mu, once it was called.
	cancel    context.CancelCauseFunc
	cancelled bool
	// orphaned is set, under Manager.mu, when the one caller of a one-shot
	// approval stopped waiting (waitFor).
	orphaned bool
}

func (f *flight) wait(ctx context.Context) (*Grant, error) {
	select {
	case <-f.done:
		return f.grant, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// approve returns a new grant for p at tier t once a human approves, joining
// an approval already running for p and t.
func (m *Manager) approve(ctx context.Context, p Principal, t Tier, reason, trigger string, paths []string, passcode sensitive.String) (*Grant, error) {
	// The human must see what is really asked: refused before anything
	// else, so such a request starts nothing and counts against nothing.
	if err := checkRequest(reason, trigger, paths); err != nil {
		return nil, err
	}
	if m.opts.Shared != nil {
		return m.approveShared(ctx, p, t, reason, trigger, paths, passcode)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	st := m.state(p)
	if f := st.pending[t]; f != nil {
		m.mu.Unlock()
		if t == Destroy {
			// Each destroy is approved on its own: never share an answer.
			return nil, ErrOncePending
		}
		return f.wait(ctx)
	}
	// An approval may have finished between the caller's look and now.
	now := m.opts.Clock.Now()
	for tier := Write; t != Destroy && tier >= t; tier-- {
		if g := st.grants[tier]; g.liveAt(now) && (t != Write || coversAll(g.Paths, paths)) {
			m.mu.Unlock()
			return g, nil
		}
	}
	// Each tier is earned from the one below: its token is what the
	// Issuer starts from (the Vault policies enforce the same order).
	var held sensitive.String
	switch t {
	case Write:
		g := st.grants[Read]
		if !g.liveAt(now) {
			m.mu.Unlock()
			return nil, ErrNotAuthenticated
		}
		held = g.Token
	case Destroy:
		g := st.grants[Write]
		switch {
		case !g.liveAt(now):
			m.mu.Unlock()
			return nil, ErrWriteRequired
		case !coversAll(g.Paths, paths):
			m.mu.Unlock()
			return nil, ErrPathNotGranted
		}
		held = g.Token
	}
	if wait := st.coolUntil[t].Sub(m.opts.Clock.Now()); wait > 0 {
		m.mu.Unlock()
		_ = m.opts.Audit.Record(ctx, audit.Event{
			Event: audit.RateLimited, Outcome: audit.Refused, Principal: string(p), Tier: t.String(),
			Tool: trigger, Detail: "cool-down after a denial: retry after " + wait.Round(time.Second).String(),
		})
		return nil, &RateLimitedError{What: "approval requests", RetryAfter: wait, Cooldown: true}
	}
	if m.opts.ApprovalLimit != nil {
		if wait, ok := m.opts.ApprovalLimit(p); !ok {
			m.mu.Unlock()
			_ = m.opts.Audit.Record(ctx, audit.Event{
				Event: audit.RateLimited, Outcome: audit.Refused, Principal: string(p), Tier: t.String(),
				Tool: trigger, Detail: "approval requests: retry after " + wait.Round(time.Second).String(),
			})
			return nil, &RateLimitedError{What: "approval requests", RetryAfter: wait}
		}
	}
	pol := m.policy(p)
	req := Request{
		ID:        newID("apr_"),
		Principal: p,
		Tier:      t,
		Scope:     pol.Scope,
		Paths:     paths,
		Reason:    reason,
		Trigger:   trigger,
		TTL:       pol.ttl(t),
		Expires:   m.opts.Clock.Now().Add(m.opts.ApprovalTimeout),
		Passcode:  passcode,
	}
	req.Digest = req.digest()
	// The approval outlives the call that started it (others may be waiting
	// on it) but not the Manager, nor an operator's revocation, and never
	// the approval timeout.
	cctx, cancelCause := context.WithCancelCause(context.WithoutCancel(ctx))
	f := &flight{id: req.ID, expires: req.Expires, done: make(chan struct{}), reason: reason, trigger: trigger, paths: paths, cancel: cancelCause}
	st.pending[t] = f
	m.wg.Add(1)
	m.mu.Unlock()

	actx, cancel := context.WithTimeout(cctx, m.opts.ApprovalTimeout)
	stop := context.AfterFunc(m.flights, cancel)
	go func() {
		defer m.wg.Done()
		defer cancelCause(nil)
		defer cancel()
		defer stop()
		m.run(actx, f, req, held)
	}()
	return m.waitFor(ctx, f, t)
}

// waitFor waits for the flight this caller started. A one-shot (destroy)
// grant belongs to its one caller: if that caller stops waiting, the token
// the approval may still bring is revoked unused, by whichever of the two
// sees the other's mark (flight.orphaned) first.
func (m *Manager) waitFor(ctx context.Context, f *flight, t Tier) (*Grant, error) {
	g, err := f.wait(ctx)
	if t != Destroy || err == nil || ctx.Err() == nil {
		return g, err
	}
	m.mu.Lock()
	f.orphaned = true
	late := f.grant // it came just as the caller left
	m.mu.Unlock()
	m.revokeUnclaimed(late)
	return nil, err
}

// unclaimed is a one-shot grant whose caller left. m.mu must be held.
func (f *flight) unclaimed(t Tier) *Grant {
	if t == Destroy && f.orphaned {
		return f.grant
	}
	return nil
}

// revokeUnclaimed revokes a one-shot grant nobody will use; nil does nothing.
func (m *Manager) revokeUnclaimed(g *Grant) {
	if g == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.RevokeTimeout)
	defer cancel()
	_ = m.revoke(ctx, g, audit.GrantRevoked, "one-shot "+Destroy.String()+" not used: its caller left")
}

// run carries one approval to its end and publishes the result. Like
// Vault's audit devices, Gatekeeper acts only on what it could record: the
// request is on record before the human is asked, and the decision and the
// grant before anyone may use it.
func (m *Manager) run(ctx context.Context, f *flight, req Request, held sensitive.String) {
	start := m.opts.Clock.Now()
	var issued Issued
	err := m.opts.Audit.Record(ctx, audit.Event{
		Event: audit.ApprovalRequested, Outcome: audit.OK, Principal: string(req.Principal),
		Tier: req.Tier.String(), ApprovalID: req.ID, Reason: req.Reason, Tool: req.Trigger,
		Path: strings.Join(req.Paths, ","), ExpiresAt: req.Expires,
	})
	if err == nil {
		issued, err = m.opts.Issuer.Issue(ctx, req, held)
	}
	if err == nil && (issued.TTL <= 0 || issued.TTL > req.TTL) {
		// The token would outlive the grant (or its life is unknown): a
		// killed Gatekeeper would leave it usable. Give it back.
		m.revokeToken(ctx, issued.Token)
		err = fmt.Errorf("%w: token TTL %s, grant %s", ErrTokenTooLong, issued.TTL, req.TTL)
	}
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, ErrApprovalTimeout) {
		err = fmt.Errorf("%w: %w", ErrApprovalTimeout, err)
	}
	if cause := context.Cause(ctx); err != nil && cutShort(cause) {
		err = cause
	}
	var g *Grant
	if err == nil {
		now := m.opts.Clock.Now()
		g = &Grant{
			Principal:  req.Principal,
			Tier:       req.Tier,
			Scope:      req.Scope,
			Paths:      req.Paths,
			Token:      issued.Token,
			Accessor:   issued.Accessor,
			ApprovalID: req.ID,
			IssuedAt:   now,
			ExpiresAt:  now.Add(issued.TTL),
		}
	}
	decided := audit.Event{
		Event: audit.ApprovalDecided, Outcome: outcomeOf(err), Principal: string(req.Principal),
		Tier: req.Tier.String(), ApprovalID: req.ID, Detail: detailOf(err),
		ElapsedMS: m.opts.Clock.Now().Sub(start).Milliseconds(),
	}
	if g != nil {
		decided.Accessor = g.Accessor
	}
	if aerr := errors.Join(m.opts.Audit.Record(ctx, decided), m.recordIssued(ctx, g)); aerr != nil && g != nil {
		// A grant that is not on record is not given.
		m.revokeToken(ctx, g.Token)
		g, err = nil, aerr
	}
	// Shared: the grant (or how the approval ended) goes to the other
	// replicas first; a grant the store does not hold is not given.
	var replacedShared *Grant
	if m.opts.Shared != nil {
		g, replacedShared, err = m.publish(ctx, req, g, err)
	}

	m.mu.Lock()
	st := m.state(req.Principal)
	st.pending[req.Tier] = nil
	var replaced, unused *Grant
	unusedWhy := "shutdown"
	switch {
	case g != nil && m.closed:
		unused, g, err = g, nil, ErrClosed
	case cutShort(context.Cause(ctx)):
		// An operator revoked this access, or the agent logged out, while
		// the human was deciding.
		unused, g, err = g, nil, context.Cause(ctx)
		unusedWhy = whyCutShort(err)
	case g != nil && req.Tier != Destroy:
		// A one-shot grant is handed to its one caller, never kept.
		g.stopTimer = m.opts.Clock.AfterFunc(issued.TTL, func() { m.expire(g) })
		replaced = st.take(req.Tier)
		st.grants[req.Tier] = g
		st.autoSpent = false
		st.revoked[req.Tier] = false
		if m.opts.Shared != nil {
			st.checked[req.Tier] = m.opts.Clock.Now()
		}
	}
	if m.opts.Shared != nil {
		// Whoever removes a grant from the store revokes it: the one
		// replaced here was (replacedShared), an unused one published
		// at shutdown is the other replicas' or the last one's.
		replaced, unused = nil, nil
	}
	if errors.Is(err, ErrDenied) && !errors.Is(err, ErrWrongPasscode) && m.opts.DenialCooldown > 0 {
		st.coolUntil[req.Tier] = m.opts.Clock.Now().Add(m.opts.DenialCooldown)
	}
	if err != nil && req.Tier == Read && req.Reason == autoReason && !errors.Is(err, ErrPasscodeRequired) && !errors.Is(err, ErrClosed) {
		// A read's approval that did not succeed spends the renewal, even
		// when the read that started it stopped waiting (its client was
		// handed the page's link): reads then wait for authenticate.
		st.autoSpent = true
	}
	f.grant, f.err = g, err
	unclaimed := f.unclaimed(req.Tier)
	m.mu.Unlock()
	close(f.done)
	m.revokeUnclaimed(unclaimed)

	for _, old := range []struct {
		g   *Grant
		why string
	}{{unused, unusedWhy}, {replaced, "replaced by a new grant"}, {replacedShared, "replaced by a new grant"}} {
		if old.g != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opts.RevokeTimeout)
			_ = m.revoke(rctx, old.g, audit.GrantRevoked, old.why)
			cancel()
		}
	}
}

// recordIssued records a new grant; nil records nothing.
func (m *Manager) recordIssued(ctx context.Context, g *Grant) error {
	if g == nil {
		return nil
	}
	return m.record(ctx, g, audit.GrantIssued, audit.OK, "")
}

// revokeToken revokes a token that never became a grant.
func (m *Manager) revokeToken(ctx context.Context, tok sensitive.String) {
	if tok.IsZero() {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opts.RevokeTimeout)
	defer cancel()
	if err := m.opts.Issuer.Revoke(rctx, tok); err != nil {
		m.opts.Logger.Warn("revoking an unused token failed", "err", err)
	}
}

func outcomeOf(err error) audit.Outcome {
	switch {
	case err == nil:
		return audit.OK
	case errors.Is(err, ErrDenied):
		return audit.Denied
	case errors.Is(err, ErrApprovalTimeout):
		return audit.TimedOut
	default:
		return audit.Failed
	}
}

func detailOf(err error) string {
	if err == nil {
		return ""
	}
	if cutShort(err) {
		return whyCutShort(err)
	}
	return safeDetail(err)
}
