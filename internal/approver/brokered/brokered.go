// Package brokered obtains tier tokens the second way: Gatekeeper runs the
// approval itself (Duo push, passkey page, dev prompt), showing the human the
// whole request, and only after a yes mints a token for exactly that agent,
// tier and TTL through a Vault token role.
//
// Gatekeeper's own Vault identity (the broker token) may do nothing but
// create tokens through the gatekeeper-* roles, each of which allows only
// one agent's tier policy: it cannot read or write a secret itself.
//
// Minted tokens are children of the broker token, not orphans: revoking
// Gatekeeper's identity (an operator's kill switch after a compromise)
// revokes every grant it ever minted at once. The price is that the broker
// token must outlive its grants, which its 768h period (renewed while
// Gatekeeper runs) ensures; Vault caps a child's TTL at its parent's anyway.
//
// What each strategy protects against if Gatekeeper itself is compromised:
// with Vault login MFA, an attacker holding Gatekeeper's token still needs
// the human's second factor for every login; with brokered tokens, the
// attacker can mint tokens for any agent through the roles without a
// human, but only until the broker token is revoked, and never with more
// than the tier policies allow. Brokered tokens buy approvals that show
// intent and work without MFA configured in Vault; login MFA keeps Vault
// as the only party that can say yes.
package brokered

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// Vault is what the broker needs from the Vault client.
type Vault interface {
	approver.SelfService
	Write(ctx context.Context, tok sensitive.String, path string, data map[string]any) (*vault.Secret, error)
}

// Options configure an Issuer. Every field but Logger is required.
type Options struct {
	Vault Vault
	// Broker is Gatekeeper's own token as it is now (a new login replaces
	// it): it may only create tokens through the roles.
	Broker func() sensitive.String
	// Approver asks the human; it may differ per agent.
	Approver func(p access.Principal) approver.Approver
	// Role names the token role (and the policy it allows) of an agent's tier.
	Role   func(p access.Principal, t access.Tier) (role, policy string)
	Logger *slog.Logger
}

// Issuer implements access.Issuer.
type Issuer struct {
	approver.Tokens
	opts Options
}

// New returns an Issuer.
func New(opts Options) (*Issuer, error) {
	if opts.Vault == nil || opts.Broker == nil || opts.Approver == nil || opts.Role == nil {
		return nil, errors.New("brokered: Vault, Broker, Approver and Role are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Issuer{Tokens: approver.Tokens{Vault: opts.Vault}, opts: opts}, nil
}

// Issue asks the human and, only on a yes, mints the grant's token.
func (b *Issuer) Issue(ctx context.Context, req access.Request, held sensitive.String) (access.Issued, error) {
	if req.Tier == access.Write && held.IsZero() {
		return access.Issued{}, access.ErrNotAuthenticated
	}
	ap := b.opts.Approver(req.Principal)
	if ap == nil {
		return access.Issued{}, fmt.Errorf("%w: no approver for %s", access.ErrMisconfigured, req.Principal)
	}
	if err := ap.Approve(ctx, req); err != nil {
		return access.Issued{}, err
	}
	return b.mint(ctx, req)
}

func (b *Issuer) mint(ctx context.Context, req access.Request) (access.Issued, error) {
	role, policy := b.opts.Role(req.Principal, req.Tier)
	ttl := fmt.Sprintf("%ds", int64(req.TTL/time.Second))
	s, err := b.opts.Vault.Write(ctx, b.opts.Broker(), "auth/token/create/"+role, map[string]any{
		"policies":          []string{policy},
		"no_default_policy": true,
		"renewable":         false,
		"ttl":               ttl,
		"explicit_max_ttl":  ttl,
		"display_name":      role,
		// Vault's own audit log shows which approval a token came from.
		"meta": map[string]string{"agent": string(req.Principal), "approval_id": req.ID},
	})
	switch {
	case errors.Is(err, vault.ErrPermissionDenied):
		return access.Issued{}, fmt.Errorf("%w: minting through role %s: %w", access.ErrBrokerCredential, role, err)
	case errors.Is(err, vault.ErrInvalidRequest):
		return access.Issued{}, fmt.Errorf("%w: role %s: %w; run gatekeeper setup --strategy brokered", access.ErrMisconfigured, role, err)
	case err != nil:
		return access.Issued{}, fmt.Errorf("minting the %s token: %w", req.Tier, err)
	case s == nil || s.Auth == nil || s.Auth.ClientToken == "":
		return access.Issued{}, fmt.Errorf("minting the %s token: no token in the response", req.Tier)
	}
	return access.Issued{
		Token:    sensitive.New(s.Auth.ClientToken),
		Accessor: s.Auth.Accessor,
		TTL:      time.Duration(s.Auth.LeaseDuration) * time.Second,
	}, nil
}
