package access

import (
	"context"
	"errors"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// Once runs fn with a token approved for this one operation alone: a
// permanent deletion of exactly paths, on top of p's live write grant. The
// human approves every time (no joining, no reuse), and the token is
// revoked as soon as fn returns, whatever happened.
func (m *Manager) Once(ctx context.Context, p Principal, reason, trigger string, paths []string, passcode sensitive.String, fn func(tok sensitive.String) error) error {
	if reason == "" {
		return ErrReasonRequired
	}
	if err := checkShown("reason", reason); err != nil {
		return err
	}
	if err := m.passcodeAllowed(passcode); err != nil {
		return err
	}
	if err := m.refresh(ctx, p, Write, false); err != nil {
		return err
	}
	g, err := m.approve(ctx, p, Destroy, reason, trigger, paths, passcode)
	if err != nil {
		return err
	}
	runErr := fn(g.Token)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opts.RevokeTimeout)
	defer cancel()
	revokeErr := m.revoke(rctx, g, audit.GrantRevoked, "one-shot "+Destroy.String()+" done")
	return errors.Join(runErr, revokeErr)
}
