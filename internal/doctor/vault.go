package doctor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// Vault is what the checks ask of Vault.
type Vault interface {
	Address() string
	Health(ctx context.Context) (*vault.Health, error)
	LookupSelf(ctx context.Context, tok sensitive.String) (*vault.TokenInfo, error)
	MountOf(ctx context.Context, tok sensitive.String, path string) (*vault.Mount, error)
}

// Check names: what doctor prints and the JSON's "name".
const (
	NameVault    = "vault"
	NameUnsealed = "unsealed"
	NameClock    = "clock"
	NameToken    = "token"
	NamePolicies = "policies"
	NameKV       = "kv"
	NameTransit  = "transit"
	NameLogin    = "login"
	NameMFA      = "mfa"
	NameApprover = "approver"
	NameAudit    = "audit"
)

// Address: something answers at the address, over TLS that verifies when
// the address is https.
func Address(v Vault) Check {
	return Check{Name: NameVault, Run: func(ctx context.Context) (string, error) {
		addr := v.Address()
		h, err := v.Health(ctx)
		if err != nil {
			return "", addressProblem(addr, err)
		}
		how := "plain HTTP"
		if u, err := url.Parse(addr); err == nil && u.Scheme == "https" {
			how = "TLS"
		}
		return fmt.Sprintf("%s answers (%s, version %s)", addr, how, h.Version), nil
	}}
}

func addressProblem(addr string, err error) error {
	var (
		cert *tls.CertificateVerificationError
		call *url.Error // the HTTP client's, which says some failures in words only
	)
	switch {
	case errors.As(err, &cert):
		return Fail("set VAULT_CACERT to the CA certificate that signed Vault's (or VAULT_CAPATH to a folder of them); the name in VAULT_ADDR must be one the certificate names",
			"the TLS connection to %s failed: Vault's certificate is not trusted here (%v)", addr, cert.Err)
	case errors.As(err, &call) && strings.Contains(call.Err.Error(), "server gave HTTP response to HTTPS client"):
		return Fail("Vault speaks plain HTTP there: use http:// in VAULT_ADDR, or give Vault a certificate",
			"%s does not speak TLS: %w", addr, err)
	case errors.Is(err, context.DeadlineExceeded):
		return Fail("check VAULT_ADDR's host and port, and that no firewall drops the connection",
			"%s did not answer in time", addr)
	case errors.Is(err, vault.ErrUnreachable):
		return Fail("start Vault/OpenBao, or set VAULT_ADDR to where it listens (scheme, host and port, e.g. https://vault.example:8200)",
			"nothing answers at %s: %w", addr, err)
	}
	return Fail("make sure VAULT_ADDR names a Vault or OpenBao server, not another service",
		"%s did not answer as Vault does: %w", addr, err)
}

// Unsealed: Vault is initialized and unsealed, so it can serve anything.
func Unsealed(v Vault) Check {
	return Check{Name: NameUnsealed, Needs: []string{NameVault}, Run: func(ctx context.Context) (string, error) {
		h, err := v.Health(ctx)
		switch {
		case err != nil:
			return "", addressProblem(v.Address(), err)
		case !h.Initialized:
			return "", Fail("initialize it: vault operator init (bao operator init), then unseal it",
				"Vault at %s is not initialized", v.Address())
		case h.Sealed:
			return "", Fail("unseal it with its unseal keys: vault operator unseal (bao operator unseal), once per key share",
				"Vault at %s is sealed", v.Address())
		}
		return "unsealed", nil
	}}
}

// maxSkew is how far this machine's clock may be from Vault's. Vault's
// TTLs are relative, but Gatekeeper shows and audits expiry times by its
// own clock, and a TOTP code is checked against Vault's: past this, what
// the human and the audit trail see no longer matches Vault.
const maxSkew = 30 * time.Second

// ServerClock is what the clock check asks of Vault.
type ServerClock interface {
	ServerTime(ctx context.Context, now func() time.Time) (server, local time.Time, err error)
}

// Clock: this machine's clock agrees with Vault's (its Date header).
func Clock(v ServerClock, now func() time.Time) Check {
	return Check{Name: NameClock, Needs: []string{NameVault}, Run: func(ctx context.Context) (string, error) {
		server, local, err := v.ServerTime(ctx, now)
		if err != nil {
			return "", err
		}
		// The Date header has whole seconds: up to a second is rounding.
		skew := server.Sub(local.Truncate(time.Second))
		if skew.Abs() > maxSkew {
			way := "ahead of"
			if skew < 0 {
				way = "behind"
			}
			return "", Fail("synchronise the clocks of this machine and Vault's (NTP: timedatectl set-ntp true, or chronyd)",
				"Vault's clock is %s %s this machine's (more than %s)", skew.Abs().Round(time.Second), way, maxSkew)
		}
		return fmt.Sprintf("within %s of Vault's", skew.Abs().Round(time.Second)+time.Second), nil
	}}
}

// Token: Gatekeeper's own token is valid, and will stay so: renewable, or
// without an end, or obtained by a login that Gatekeeper repeats (relogin).
// fix says how to get a new one, as the configuration obtains it.
func Token(v Vault, tok func(context.Context) (sensitive.String, error), relogin bool, fix string) Check {
	return Check{Name: NameToken, Needs: []string{NameUnsealed}, Run: func(ctx context.Context) (string, error) {
		t, err := tok(ctx)
		if err != nil {
			return "", Fail(fix, "no token: %w", err)
		}
		info, err := v.LookupSelf(ctx, t)
		switch {
		case invalidToken(err):
			return "", Fail(fix, "Vault does not know Gatekeeper's token: it expired, was revoked, or is not a token of this Vault")
		case errors.Is(err, vault.ErrPermissionDenied):
			// Vault knows it, but its policies do not let it look
			// itself up: the policies check says more.
			return "Vault knows the token, but it may not look itself up", nil
		case err != nil:
			return "", err
		case info.TTL > 0 && !info.Renewable && !relogin:
			return "", Fail(fix, "the token expires in %s and cannot be renewed", info.TTL)
		}
		ttl := "never expires"
		if info.TTL > 0 {
			ttl = "expires in " + info.TTL.String() + ", renewable"
		}
		if info.Period > 0 {
			ttl += fmt.Sprintf(" (periodic, %s)", info.Period)
		}
		return fmt.Sprintf("accessor %s, %s", info.Accessor, ttl), nil
	}}
}

// invalidToken tells a token Vault does not know (expired, revoked) from a
// valid one that may not do what it asked: Vault refuses both with 403 and
// adds "invalid token" for the first.
func invalidToken(err error) bool {
	e, ok := errors.AsType[*vault.Error](err)
	return ok && errors.Is(err, vault.ErrPermissionDenied) && strings.Contains(e.Detail, "invalid token")
}

// Policies: the token carries policy, and the policy is in Vault (the
// token may use its self-service part). What the policy allows beyond
// that, the login checks find out by using it.
func Policies(v Vault, tok func(context.Context) (sensitive.String, error), policy string) Check {
	return Check{Name: NamePolicies, Needs: []string{NameToken}, Run: func(ctx context.Context) (string, error) {
		t, err := tok(ctx)
		if err != nil {
			return "", err
		}
		info, err := v.LookupSelf(ctx, t)
		switch {
		case errors.Is(err, vault.ErrPermissionDenied):
			return "", Fail(rewrite(policy), "the token may not look itself up: the policy %s is missing from Vault or was changed", policy)
		case err != nil:
			return "", err
		}
		if !slices.Contains(info.Policies, policy) && !slices.Contains(info.Policies, "root") {
			return "", Fail(fmt.Sprintf("give serve a token with the policy %s: gatekeeper setup prints one", policy),
				"the token does not carry the policy %s (it has %s)", policy, strings.Join(info.Policies, ", "))
		}
		return "policies " + strings.Join(info.Policies, ", "), nil
	}}
}

// rewrite is the fix for a policy that is missing or does not allow what
// serve needs.
func rewrite(policy string) string {
	return fmt.Sprintf("run gatekeeper setup to write the policy %s again (gatekeeper policy prints it for review)", policy)
}

// KV: a KV version 2 mount at mount. Vault shows a token only a mount it
// may use: when Gatekeeper's own token does not use KV (own false: the
// brokered strategy), a mount it may not see is skipped.
func KV(v Vault, tok func(context.Context) (sensitive.String, error), mount string, own bool) Check {
	return Check{Name: NameKV, Needs: []string{NamePolicies}, Run: func(ctx context.Context) (string, error) {
		fix := fmt.Sprintf("run gatekeeper setup (it mounts KV version 2 at %s/), or: vault secrets enable -path=%[1]s kv-v2", mount)
		m, err := mountOf(ctx, v, tok, mount)
		switch {
		case errors.Is(err, vault.ErrPermissionDenied) && !own:
			return "", Skip(fmt.Sprintf("Gatekeeper's own token may not see %s/; grants use it", mount))
		case errors.Is(err, vault.ErrPermissionDenied), errors.Is(err, vault.ErrInvalidRequest), errors.Is(err, vault.ErrNotFound):
			return "", Fail(fix, "no KV mount at %s/ that Gatekeeper's token can use", mount)
		case err != nil:
			return "", err
		case m.Type != "kv" || m.Version != "2":
			return "", Fail(fix, "%s/ is a %s mount (version %q), not KV version 2", mount, m.Type, m.Version)
		}
		return mount + "/ is KV version 2", nil
	}}
}

// Transit: a transit mount at mount, as far as Gatekeeper's own token may
// see: only grants use transit, so a token that may not see it skips.
func Transit(v Vault, tok func(context.Context) (sensitive.String, error), mount string) Check {
	return Check{Name: NameTransit, Needs: []string{NamePolicies}, Run: func(ctx context.Context) (string, error) {
		m, err := mountOf(ctx, v, tok, mount)
		switch {
		case errors.Is(err, vault.ErrPermissionDenied):
			return "", Skip(fmt.Sprintf("Gatekeeper's own token may not see %s/; grants use it (encrypt, decrypt)", mount))
		case errors.Is(err, vault.ErrInvalidRequest), errors.Is(err, vault.ErrNotFound):
			return "", Fail(fmt.Sprintf("run gatekeeper setup, or: vault secrets enable -path=%s transit", mount), "no mount at %s/", mount)
		case err != nil:
			return "", err
		case m.Type != "transit":
			return "", Fail(fmt.Sprintf("set transit_mount to the transit engine's path, or: vault secrets enable -path=%s transit at a free path", mount),
				"%s/ is a %s mount, not transit", mount, m.Type)
		}
		return mount + "/ is transit", nil
	}}
}

func mountOf(ctx context.Context, v Vault, tok func(context.Context) (sensitive.String, error), mount string) (*vault.Mount, error) {
	t, err := tok(ctx)
	if err != nil {
		return nil, err
	}
	return v.MountOf(ctx, t, mount)
}
