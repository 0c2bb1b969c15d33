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
	"slices"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/page"
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

// Pages gives each approval its page, where the human types the code or
// watches Vault's push (package page).
type Pages interface {
	Open(ctx context.Context, req access.Request, ask page.Ask) (*page.Pending, error)
	Elsewhere(ctx context.Context, req access.Request, where string, run func(ctx context.Context) error) error
}

// Options configure an Approver.
type Options struct {
	Vault Vault
	// Bootstrap is Gatekeeper's own token as it is now (a new login
	// replaces it): it may read the read-tier account only.
	Bootstrap func() sensitive.String
	// Pages is where the human answers. Required; a request that carries a
	// passcode (the operator's fallback, the agent passed it) needs none.
	Pages   Pages
	KVMount string
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
	if opts.Vault == nil || opts.Bootstrap == nil || opts.Pages == nil || opts.KVMount == "" || opts.Account == nil {
		return nil, errors.New("vaultmfa: Vault, Bootstrap, Pages, KVMount and Account are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Approver{Tokens: approver.Tokens{Vault: opts.Vault}, opts: opts}, nil
}

// account is a tier's login material as setup stores it.
// Issue logs in to req.Tier's account and lets Vault demand the second
// factor, which the human gives on the request's page: the code typed
// there, or Vault's push approved on their phone. A passcode in req (the
// operator's fallback: the agent passed it on) is used as it is.
func (a *Approver) Issue(ctx context.Context, req access.Request, held sensitive.String) (access.Issued, error) {
	via := held
	if req.Tier == access.Read {
		via = a.opts.Bootstrap()
	}
	acct, err := a.account(ctx, req.Principal, req.Tier, via)
	if err != nil {
		return access.Issued{}, err
	}
	mfa, err := a.login(ctx, acct, req.Tier)
	if err != nil {
		return access.Issued{}, err
	}
	if !req.Passcode.IsZero() {
		return a.validate(ctx, mfa, req.Passcode, req.TTL)
	}
	if _, err := payloadFor(mfa, sensitive.String{}); errors.Is(err, access.ErrPasscodeRequired) {
		return a.withCode(ctx, req, acct, mfa)
	}
	// Every constraint has a push method: Vault pushes and waits for the
	// human's answer on their phone; the page shows it and offers Deny.
	var issued access.Issued
	err = a.opts.Pages.Elsewhere(ctx, req, "Vault has sent a push to your phone: approve or deny it there.", func(ctx context.Context) error {
		var err error
		issued, err = a.validate(ctx, mfa, sensitive.String{}, req.TTL)
		return err
	})
	if err != nil {
		a.giveBack(ctx, issued.Token)
		return access.Issued{}, err
	}
	return issued, nil
}

// withCode takes the code from the request's page. A wrong or reused code
// lets the human try again on the same page, a few times, each with a
// fresh login.
func (a *Approver) withCode(ctx context.Context, req access.Request, acct vault.Account, mfa *vault.MFARequirement) (access.Issued, error) {
	ask := page.Ask{Kind: page.Code}
	if pushesToo(mfa) {
		ask.Where = "After the code, Vault also sends a push to your phone: approve that too."
	}
	p, err := a.opts.Pages.Open(ctx, req, ask)
	if err != nil {
		return access.Issued{}, err
	}
	for {
		code, err := p.Code(ctx)
		if err != nil {
			return access.Issued{}, p.Finish(err)
		}
		issued, err := a.validate(ctx, mfa, code, req.TTL)
		if errors.Is(err, access.ErrWrongPasscode) && p.Retry("Vault did not accept that code (wrong, or already used: wait for the next one).") {
			if mfa, err = a.login(ctx, acct, req.Tier); err != nil {
				return access.Issued{}, p.Finish(err)
			}
			continue
		}
		if err := p.Finish(err); err != nil {
			a.giveBack(ctx, issued.Token)
			return access.Issued{}, err
		}
		return issued, nil
	}
}

// login starts a login to the tier account; Vault answers with the MFA it
// requires.
func (a *Approver) login(ctx context.Context, acct vault.Account, t access.Tier) (*vault.MFARequirement, error) {
	login, err := a.opts.Vault.UserpassLogin(ctx, acct.Mount, acct.Username, acct.Password)
	if err != nil {
		return nil, fmt.Errorf("logging in to the %s account: %w", t, err)
	}
	if login.Auth != nil {
		a.giveBack(ctx, login.Auth.Token)
		// Vault issued a token without asking for a second factor: the
		// account is misconfigured, and the token is given back.
		return nil, fmt.Errorf("%w: the %s-tier account has no login MFA enforced; run gatekeeper setup", access.ErrMisconfigured, t)
	}
	return login.MFA, nil
}

// validate completes the login with the human's factor (passcode, or a
// push when it is empty) and cuts the token to the grant.
func (a *Approver) validate(ctx context.Context, mfa *vault.MFARequirement, passcode sensitive.String, ttl time.Duration) (access.Issued, error) {
	payload, err := payloadFor(mfa, passcode)
	if err != nil {
		return access.Issued{}, err
	}
	auth, err := a.opts.Vault.ValidateMFA(ctx, mfa.RequestID, payload)
	if err != nil {
		return access.Issued{}, mfaError(ctx, err, !passcode.IsZero())
	}
	fitted, err := a.fitTTL(ctx, auth, ttl)
	if err != nil {
		a.giveBack(ctx, auth.Token)
		return access.Issued{}, err
	}
	return access.Issued{Token: auth.Token, Accessor: auth.Accessor, TTL: fitted}, nil
}

func (a *Approver) account(ctx context.Context, p access.Principal, t access.Tier, via sensitive.String) (vault.Account, error) {
	path := a.opts.Account(p, t)
	if path == "" {
		return vault.Account{}, fmt.Errorf("%w: no %s-tier account for %s", access.ErrMisconfigured, t, p)
	}
	s, err := a.opts.Vault.KVRead(ctx, via, a.opts.KVMount, path)
	switch {
	case errors.Is(err, vault.ErrNotFound):
		// Setup never ran for this agent.
		return vault.Account{}, fmt.Errorf("%w: the %s-tier account of %s is missing; run gatekeeper setup --agent", access.ErrMisconfigured, t, p)
	case t == access.Read && errors.Is(err, vault.ErrPermissionDenied):
		return vault.Account{}, fmt.Errorf("%w: reading the read-tier account: %w", access.ErrBrokerCredential, err)
	case err != nil:
		return vault.Account{}, fmt.Errorf("reading the %s-tier account: %w", t, err)
	}
	acct, ok := vault.AccountFrom(s.Data)
	if !ok {
		return vault.Account{}, fmt.Errorf("the %s-tier account at %s/%s is incomplete; run gatekeeper setup", t, a.opts.KVMount, path)
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

// pushesToo reports whether some constraint, even with a code, is met by
// a push (it offers no code method).
func pushesToo(req *vault.MFARequirement) bool {
	for _, methods := range req.Constraints {
		if !slices.ContainsFunc(methods, func(m vault.MFAMethod) bool { return m.UsesPasscode }) {
			return true
		}
	}
	return false
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
	if tok.IsZero() {
		return
	}
	if err := a.opts.Vault.RevokeSelf(context.WithoutCancel(ctx), tok); err != nil {
		a.opts.Logger.WarnContext(ctx, "revoking an unused tier token failed", "err", err)
	}
}
