package access

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

// An operator may deny one pending approval (the status page's Deny
// button) without touching what the agent already holds: the approval
// ends as a human's denial does (no grant, the denial cool-down starts, a
// read that asked by itself has spent its approval), whatever the human
// answers afterwards.

var (
	// ErrOperatorDenied marks an approval an operator denied. The error
	// its callers get also wraps ErrDenied.
	ErrOperatorDenied = errors.New("an operator denied the approval")
	// ErrNoSuchApproval: the approval to deny is not pending any more (it
	// was answered, timed out or cut short). Nothing changed.
	ErrNoSuchApproval = errors.New("no such pending approval")
)

// operatorDenial is the cause an approval denied by an operator ends with;
// it names the operator's session (the correlation id of the request that
// denied it) for the audit record of the decision.
type operatorDenial struct{ by string }

func (e *operatorDenial) Error() string { return ErrOperatorDenied.Error() }

func (e *operatorDenial) Unwrap() []error { return []error{ErrOperatorDenied, ErrDenied} }

// why is the audit detail of the decision.
func (e *operatorDenial) why() string {
	if e.by == "" {
		return operatorDeniedWhy
	}
	return operatorDeniedWhy + " (" + e.by + ")"
}

// operatorDeniedWhy is the audit detail of an approval an operator denied.
const operatorDeniedWhy = "denied by an operator"

// DenyApproval ends p's pending approval approvalID now, as denied, on an
// operator's word; with a shared store, wherever it runs. Grants p holds
// stay. ErrNoSuchApproval when no such approval is pending, and then
// nothing changed. The decision is audited as approval.decided, outcome
// denied, "denied by an operator (REF)" with REF the correlation id of ctx:
// by the approval's own end when it runs here, else here at once.
func (m *Manager) DenyApproval(ctx context.Context, p Principal, approvalID string) (PendingView, error) {
	cause := &operatorDenial{by: audit.CorrelationID(ctx)}
	var view PendingView
	found, elsewhere := false, false
	if m.opts.Shared != nil {
		v, replica, err := m.denyShared(ctx, p, approvalID)
		switch {
		case err == nil:
			view, found, elsewhere = v, true, replica != m.opts.SharedOptions.Replica
		case !errors.Is(err, ErrNoSuchApproval):
			return view, err
		}
	}
	m.mu.Lock()
	if st, ok := m.principals[p]; ok {
		for t := Read; t <= Destroy; t++ {
			// Cancelled under the lock: run, which publishes a grant
			// under the same lock, either sees the cause and gives
			// nothing, or has published already, and the approval was
			// answered before the operator's word.
			if f := st.pending[t]; f != nil && !f.cancelled && f.id == approvalID {
				f.cancel(cause)
				f.cancelled = true
				if !found {
					view, found = m.pendingOf(p, t, f), true
				}
			}
		}
	}
	m.mu.Unlock()
	if !found {
		return view, ErrNoSuchApproval
	}
	if elsewhere {
		// The replica asking the human records what it was answered and
		// gives nothing; the operator's decision is on record here, where
		// it was made.
		_ = m.opts.Audit.Record(ctx, audit.Event{
			Event: audit.ApprovalDecided, Outcome: audit.Denied, Principal: string(p),
			Tier: view.Tier.String(), ApprovalID: approvalID, Detail: cause.why(),
		})
	}
	m.opts.Logger.InfoContext(ctx, "approval denied by an operator", "principal", p, "tier", view.Tier, "approval_id", approvalID)
	return view, nil
}

// denyShared ends the claim approvalID of p in the store as denied by an
// operator, with the denial's cool-down, and returns it and the replica
// that runs it. That replica gives nothing when it ends; replicas waiting
// on it read the denial there.
func (m *Manager) denyShared(ctx context.Context, p Principal, approvalID string) (PendingView, string, error) {
	for t := Read; t <= Destroy; t++ {
		now := m.opts.Clock.Now()
		prev, changed, err := m.changeSlot(ctx, p, t, func(s *Slot) bool {
			if s.Claim == nil || s.Claim.ApprovalID != approvalID || claimDead(s.Claim, now) {
				return false
			}
			if s.Claim.Auto {
				s.AutoSpent = true // as when a human denies a read's own approval
			}
			s.Last, s.Claim = &Outcome{ApprovalID: approvalID, Result: ResultOperatorDenied}, nil
			if m.opts.DenialCooldown > 0 {
				s.CoolUntil = now.Add(m.opts.DenialCooldown)
			}
			return true
		})
		if err != nil {
			return PendingView{}, "", fmt.Errorf("denying %s's approval %s: %w", p, approvalID, err)
		}
		if changed {
			return m.claimView(p, t, prev.Claim), prev.Claim.Replica, nil
		}
	}
	return PendingView{}, "", ErrNoSuchApproval
}
