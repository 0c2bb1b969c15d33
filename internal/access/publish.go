package access

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

// publish ends the claim of req in the store, by check-and-set against the claim:
// the grant goes in (read and write; a one-shot destroy grant stays with
// its caller), or how the approval ended, with the cool-down after a
// denial and, for a read that asked by itself, the mark that reads have
// spent their approval. Replicas waiting on the claim read the result
// there.
//
// A claim taken away meanwhile (an operator revoked it, or it died and
// another replica claimed anew) gives nothing, and neither does a grant
// the store could not take: its token is revoked. publish returns the
// grant the callers get, the live grant the new one replaced in the store,
// for run to revoke, and the error the callers get.
func (m *Manager) publish(ctx context.Context, req Request, g *Grant, err error) (*Grant, *Grant, error) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opts.RevokeTimeout)
	defer cancel()
	result := resultOf(err)
	if err != nil && m.flights.Err() != nil && !cutShortResult(result) {
		// This replica stops: the request is not answered, and a replica
		// whose caller still waits asks anew.
		result, err = ResultHandedOver, fmt.Errorf("%w: %w", ErrClosed, err)
	}
	now := m.opts.Clock.Now()
	prev, changed, serr := m.changeSlot(pctx, req.Principal, req.Tier, func(s *Slot) bool {
		if s.Claim == nil || s.Claim.ApprovalID != req.ID {
			return false
		}
		auto := s.Claim.Auto
		s.Claim = nil
		s.Last = &Outcome{ApprovalID: req.ID, Result: result}
		if g != nil && req.Tier != Destroy {
			s.Grant, s.Sealed, s.Revoked = cloneGrant(g), "", false
			if req.Tier == Read {
				s.AutoSpent = false
			}
		}
		if errors.Is(err, ErrDenied) && !errors.Is(err, ErrWrongPasscode) && m.opts.DenialCooldown > 0 {
			s.CoolUntil = now.Add(m.opts.DenialCooldown)
		}
		if err != nil && auto && result != ResultPasscodeRequired && result != ResultHandedOver {
			s.AutoSpent = true
		}
		return true
	})
	switch {
	case serr != nil:
		m.opts.Logger.WarnContext(ctx, "the shared store did not take the end of an approval",
			"principal", req.Principal, "tier", req.Tier, "approval_id", req.ID, "err", serr)
		if g == nil {
			return nil, nil, err
		}
		// A grant the other replicas cannot see (and so cannot end) is
		// not given.
		_ = m.revoke(pctx, g, audit.GrantRevoked, "the shared store did not take it")
		return nil, nil, serr
	case !changed:
		if last := prev.Last; last != nil && last.ApprovalID == req.ID && cutShortResult(last.Result) {
			err = outcomeErr(req.Tier, last.Result)
			if g != nil {
				_ = m.revoke(pctx, g, audit.GrantRevoked, whyCutShort(err))
			}
			return nil, nil, err
		}
		if g != nil {
			_ = m.revoke(pctx, g, audit.GrantRevoked, "its claim expired before the answer")
		}
		if err == nil {
			err = fmt.Errorf("%w: the claim expired before the answer", ErrApprovalTimeout)
		}
		return nil, nil, err
	}
	var replaced *Grant
	if g != nil && req.Tier != Destroy && prev.grantLive(now) && prev.Grant.ApprovalID != g.ApprovalID {
		replaced = m.tokenOf(pctx, prev)
	}
	return g, replaced, err
}
