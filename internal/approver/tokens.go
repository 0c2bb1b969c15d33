package approver

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// SelfService is the part of the Vault client a grant's own token needs.
type SelfService interface {
	RevokeSelf(ctx context.Context, tok sensitive.String) error
	LookupSelf(ctx context.Context, tok sensitive.String) (*vault.TokenInfo, error)
}

// Tokens ends and checks grant tokens with the tokens themselves: every
// tier policy allows revoke-self and lookup-self, so no credential of
// Gatekeeper's own is needed to end access. Both issuers embed it.
type Tokens struct{ Vault SelfService }

// Revoke revokes tok in Vault.
func (t Tokens) Revoke(ctx context.Context, tok sensitive.String) error {
	return t.Vault.RevokeSelf(ctx, tok)
}

// Check reports access.ErrTokenInvalid for a token Vault no longer honours.
func (t Tokens) Check(ctx context.Context, tok sensitive.String) error {
	_, err := t.Vault.LookupSelf(ctx, tok)
	if errors.Is(err, vault.ErrPermissionDenied) {
		return fmt.Errorf("%w: %w", access.ErrTokenInvalid, err)
	}
	return err
}
