package vault

import (
	"context"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// RenewLease sets a lease's remaining life to increment (Vault caps it at
// the lease's maximum) and returns the TTL Vault granted. Gatekeeper only
// ever shortens a lease with it, to the end of the grant it belongs to.
func (c *Client) RenewLease(ctx context.Context, tok sensitive.String, leaseID string, increment time.Duration) (time.Duration, error) {
	s, err := c.Write(ctx, tok, "sys/leases/renew/"+leaseID, map[string]any{"increment": int64(increment.Seconds())})
	if err != nil {
		return 0, err
	}
	if s == nil {
		return 0, &Error{Kind: ErrInvalidRequest, Op: "renewing a lease", Path: "sys/leases/renew", Detail: "no lease in response"}
	}
	return time.Duration(s.LeaseDuration) * time.Second, nil
}

// RevokeLease ends a lease now: Vault revokes what it stands for (drops
// the database role, revokes the certificate). The lease id goes in the
// path, where a policy can confine a token to the leases of one role.
func (c *Client) RevokeLease(ctx context.Context, tok sensitive.String, leaseID string) error {
	_, err := c.Write(ctx, tok, "sys/leases/revoke/"+leaseID, nil)
	return err
}
