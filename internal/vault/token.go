package vault

import (
	"context"
	"errors"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// TokenInfo is what lookup-self says about a token. It holds no secret.
type TokenInfo struct {
	Accessor  string
	Policies  []string
	TTL       time.Duration
	Renewable bool
	Period    time.Duration
}

// LookupSelf describes tok. A revoked or expired token is ErrPermissionDenied.
func (c *Client) LookupSelf(ctx context.Context, tok sensitive.String) (*TokenInfo, error) {
	s, err := c.Read(ctx, tok, "auth/token/lookup-self")
	if err != nil {
		return nil, err
	}
	info := &TokenInfo{}
	info.Accessor, _ = s.Data["accessor"].(string)
	info.TTL = seconds(s.Data["ttl"])
	info.Period = seconds(s.Data["period"])
	info.Renewable, _ = s.Data["renewable"].(bool)
	if ps, ok := s.Data["policies"].([]any); ok {
		for _, p := range ps {
			if str, ok := p.(string); ok {
				info.Policies = append(info.Policies, str)
			}
		}
	}
	return info, nil
}

// RenewSelf sets tok's remaining life to increment (Vault caps it at the
// token's maximum) and returns the TTL Vault granted.
func (c *Client) RenewSelf(ctx context.Context, tok sensitive.String, increment time.Duration) (time.Duration, error) {
	s, err := c.Write(ctx, tok, "auth/token/renew-self", map[string]any{"increment": int64(increment.Seconds())})
	if err != nil {
		return 0, err
	}
	if s == nil || s.Auth == nil {
		return 0, &Error{Kind: ErrInvalidRequest, Op: "renewing", Path: "auth/token/renew-self", Detail: "no auth in response"}
	}
	return time.Duration(s.Auth.LeaseDuration) * time.Second, nil
}

// RevokeSelf revokes tok. A token that is already gone counts as revoked.
func (c *Client) RevokeSelf(ctx context.Context, tok sensitive.String) error {
	_, err := c.Write(ctx, tok, "auth/token/revoke-self", nil)
	if errors.Is(err, ErrPermissionDenied) {
		// Vault refuses an invalid token with 403; find out whether it is
		// gone (success) or Vault refuses for another reason (failure).
		if _, lerr := c.LookupSelf(ctx, tok); errors.Is(lerr, ErrPermissionDenied) {
			return nil
		}
	}
	return err
}

func seconds(v any) time.Duration { return time.Duration(Int64(v)) * time.Second }
