// Package vaultmfa obtains tier tokens through Vault's own login MFA: each
// tier is a userpass account on which Vault enforces a second factor (TOTP,
// Duo push, …). Gatekeeper performs the login, Vault demands the factor and
// only a human can supply it, so even a compromised Gatekeeper cannot mint a
// token on its own.
//
// The accounts' passwords live in KV, outside the agents' prefix: the
// bootstrap token can read only the read-tier account, a read token only the
// write-tier account. Write access is therefore earned from read access.
package vaultmfa

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

// Vault is what the approver needs from the Vault client.
type Vault interface {
	KVRead(ctx context.Context, tok sensitive.String, mount, path string) (*vault.KVSecret, error)
	UserpassLogin(ctx context.Context, mount, user string, password sensitive.String) (*vault.Login, error)
	ValidateMFA(ctx context.Context, requestID string, payload map[string][]string) (*vault.Auth, error)
	RenewSelf(ctx context.Context, tok sensitive.String, increment time.Duration) (time.Duration, error)
	RevokeSelf(ctx context.Context, tok sensitive.String) error
	LookupSelf(ctx context.Context, tok sensitive.String) (*vault.TokenInfo, error)
}

// Options configure an Approver.
type Options struct {
	Vault     Vault
	Bootstrap sensitive.String // Gatekeeper's own token: may read the read-tier account only
	KVMount   string
	// Account gives the KV path (in KVMount) of a principal's login
	// material for a tier; "" means the principal has none.
	Account func(p access.Principal, t access.Tier) string
	Logger  *slog.Logger
}

// Approver implements access.Issuer.
type Approver struct {
	approver.Tokens
	opts Options
}

// New returns an Approver.
func New(opts Options) (*Approver, error) {
	if opts.Vault == nil || opts.KVMount == "" || opts.Account == nil {
		return nil, errors.New("vaultmfa: Vault, KVMount and Account are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Approver{Tokens: approver.Tokens{Vault: opts.Vault}, opts: opts}, nil
}

// account is a tier's login material as setup stores it.
type account struct {
	mount, username string
	password        sensitive.String
}

// Issue logs in to req.Tier's account and lets Vault demand the second factor.
func (a *Approver) Issue(ctx context.Context, req access.Request, held sensitive.String) (access.Issued, error) {
	via := held
	if req.Tier == access.Read {
		via = a.opts.Bootstrap
	}
	acct, err := a.account(ctx, req.Principal, req.Tier, via)
	if err != nil {
		return access.Issued{}, err
	}
	login, err := a.opts.Vault.UserpassLogin(ctx, acct.mount, acct.username, acct.password)
	if err != nil {
		return access.Issued{}, fmt.Errorf("logging in to the %s account: %w", req.Tier, err)
	}
	if login.Auth != nil {
		a.giveBack(ctx, login.Auth.Token)
		// Vault issued a token without asking for a second factor: the
		// account is misconfigured, and the token is given back.
		return access.Issued{}, fmt.Errorf("%w: the %s-tier account has no login MFA enforced; run gatekeeper setup", access.ErrMisconfigured, req.Tier)
	}
	payload, err := payloadFor(login.MFA, req.Passcode)
	if err != nil {
		return access.Issued{}, err
	}
	auth, err := a.opts.Vault.ValidateMFA(ctx, login.MFA.RequestID, payload)
	if err != nil {
		return access.Issued{}, mfaError(ctx, err, !req.Passcode.IsZero())
	}
	ttl, err := a.fitTTL(ctx, auth, req.TTL)
	if err != nil {
		a.giveBack(ctx, auth.Token)
		return access.Issued{}, err
	}
	return access.Issued{Token: auth.Token, Accessor: auth.Accessor, TTL: ttl}, nil
}

func (a *Approver) account(ctx context.Context, p access.Principal, t access.Tier, via sensitive.String) (account, error) {
	path := a.opts.Account(p, t)
	if path == "" {
		return account{}, fmt.Errorf("%w: no %s-tier account for %s", access.ErrMisconfigured, t, p)
	}
	s, err := a.opts.Vault.KVRead(ctx, via, a.opts.KVMount, path)
	switch {
	case errors.Is(err, vault.ErrNotFound):
		// Setup never ran for this agent.
		return account{}, fmt.Errorf("%w: the %s-tier account of %s is missing; run gatekeeper setup --agent", access.ErrMisconfigured, t, p)
	case t == access.Read && errors.Is(err, vault.ErrPermissionDenied):
		return account{}, fmt.Errorf("%w: reading the read-tier account: %w", access.ErrBrokerCredential, err)
	case err != nil:
		return account{}, fmt.Errorf("reading the %s-tier account: %w", t, err)
	}
	acct := account{password: sensitive.New(str(s.Data["password"]))}
	acct.mount, acct.username = str(s.Data["mount"]), str(s.Data["username"])
	if acct.mount == "" || acct.username == "" || acct.password.IsZero() {
		return account{}, fmt.Errorf("the %s-tier account at %s/%s is incomplete; run gatekeeper setup", t, a.opts.KVMount, path)
	}
	return acct, nil
}

// payloadFor picks, for each constraint, a method the human can satisfy now:
// the passcode method when a passcode was given, else a push method (which
// takes an empty list), else the passcode is needed.
func payloadFor(req *vault.MFARequirement, passcode sensitive.String) (map[string][]string, error) {
	payload := map[string][]string{}
	for _, methods := range req.Constraints {
		var push, code string
		for _, m := range methods {
			if m.UsesPasscode && code == "" {
				code = m.ID
			} else if !m.UsesPasscode && push == "" {
				push = m.ID
			}
		}
		switch {
		case code != "" && !passcode.IsZero():
			payload[code] = []string{passcode.Reveal()}
		case push != "":
			payload[push] = []string{}
		case code != "":
			return nil, access.ErrPasscodeRequired
		default:
			return nil, errors.New("vault asked for an MFA constraint with no method")
		}
	}
	return payload, nil
}

// mfaError classifies a failed sys/mfa/validate. Vault refuses a wrong or
// reused passcode and a denied push alike; both are a denial, but only a
// push denied by the human starts a cool-down.
func mfaError(ctx context.Context, err error, withPasscode bool) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w: %w", access.ErrApprovalTimeout, err)
	case withPasscode && (errors.Is(err, vault.ErrPermissionDenied) || errors.Is(err, vault.ErrInvalidRequest)):
		return fmt.Errorf("%w: %w: %w", access.ErrDenied, access.ErrWrongPasscode, err)
	case errors.Is(err, vault.ErrPermissionDenied), errors.Is(err, vault.ErrInvalidRequest):
		return fmt.Errorf("%w: %w", access.ErrDenied, err)
	}
	return fmt.Errorf("completing the MFA login: %w", err)
}

// fitTTL makes sure the token dies no later than its grant. A tier account's
// token TTL is set by setup; when Gatekeeper is configured for a shorter
// grant, the token is renewed down to it.
func (a *Approver) fitTTL(ctx context.Context, auth *vault.Auth, want time.Duration) (time.Duration, error) {
	if auth.TTL > 0 && auth.TTL <= want {
		return auth.TTL, nil
	}
	ttl, err := a.opts.Vault.RenewSelf(ctx, auth.Token, want)
	if err != nil {
		return 0, fmt.Errorf("shortening the token to the grant's %s: %w", want, err)
	}
	if ttl <= 0 || ttl > want {
		return 0, fmt.Errorf("%w: vault kept a TTL of %s for a %s grant", access.ErrTokenTooLong, ttl, want)
	}
	return ttl, nil
}

// giveBack revokes a token that will not become a grant.
func (a *Approver) giveBack(ctx context.Context, tok sensitive.String) {
	if err := a.opts.Vault.RevokeSelf(context.WithoutCancel(ctx), tok); err != nil {
		a.opts.Logger.WarnContext(ctx, "revoking an unused tier token failed", "err", err)
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
