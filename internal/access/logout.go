package access

import (
	"context"
	"errors"
	"fmt"
)

// Logout ends the agent's access and its pending approvals: an approval
// the human answers after the agent logged out must not hand it a grant,
// nor keep a push or a page waiting for an answer that no longer matters.

// ErrLoggedOut marks an approval the agent's own logout cut short. The
// error its callers get also wraps the error that says how to get access
// back (ErrNotAuthenticated or ErrWriteRequired).
var ErrLoggedOut = errors.New("the agent logged out while the approval was pending")

// logoutWhy is the audit detail of an approval a logout cut short.
const logoutWhy = "cancelled by logout"

func loggedOutErr(t Tier) error {
	if t == Read {
		return fmt.Errorf("%w: %w", ErrLoggedOut, ErrNotAuthenticated)
	}
	return fmt.Errorf("%w: %w", ErrLoggedOut, ErrWriteRequired)
}

// cutShort reports whether err says an approval was cut short (revoked or
// denied by an operator, or by logout): whatever the human answers then
// gives nothing.
func cutShort(err error) bool {
	return errors.Is(err, ErrRevoked) || errors.Is(err, ErrLoggedOut) || errors.Is(err, ErrOperatorDenied)
}

// whyCutShort is the audit detail for an approval cut short.
func whyCutShort(err error) string {
	if errors.Is(err, ErrLoggedOut) {
		return logoutWhy
	}
	if d, ok := errors.AsType[*operatorDenial](err); ok {
		return d.why()
	}
	return operatorWhy
}

// cancelPending cuts short every approval p waits for, on this replica and,
// with a shared store, on every replica (their claims are withdrawn, so
// the replica running one gives nothing when it ends).
func (m *Manager) cancelPending(ctx context.Context, p Principal) error {
	var errs []error
	if m.opts.Shared != nil {
		for t := Read; t <= Destroy; t++ {
			_, _, err := m.changeSlot(ctx, p, t, func(s *Slot) bool {
				if s.Claim == nil {
					return false
				}
				s.Last, s.Claim = &Outcome{ApprovalID: s.Claim.ApprovalID, Result: ResultLoggedOut}, nil
				return true
			})
			errs = append(errs, err)
		}
	}
	m.mu.Lock()
	if st, ok := m.principals[p]; ok {
		for t := Read; t <= Destroy; t++ {
			// Cancelled under the lock: run, which publishes a grant
			// under the same lock, either sees the cause and gives
			// nothing, or has published already, and Logout then ends
			// the grant.
			if f := st.pending[t]; f != nil && !f.cancelled {
				f.cancel(loggedOutErr(t))
				f.cancelled = true
			}
		}
	}
	m.mu.Unlock()
	return errors.Join(errs...)
}
