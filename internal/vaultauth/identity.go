package vaultauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// Vault is the token self-service the identity needs.
type Vault interface {
	LookupSelf(ctx context.Context, tok sensitive.String) (*vault.TokenInfo, error)
	RenewSelf(ctx context.Context, tok sensitive.String, increment time.Duration) (time.Duration, error)
	RevokeSelf(ctx context.Context, tok sensitive.String) error
}

// Login obtains a new token from an auth method.
type Login func(ctx context.Context) (*vault.Auth, error)

// Options configure an Identity.
type Options struct {
	Vault Vault
	// Login logs in (AppRole, Kubernetes auth). Nil means the token is
	// given (Token) and can only be renewed.
	Login Login
	Token sensitive.String // the given token, when Login is nil
	// Method names the way in for the log: token, approle, kubernetes.
	Method string
	Logger *slog.Logger
}

// Retry is how long the identity waits after a failed login or renewal
// before it tries again.
const Retry = 10 * time.Second

// minWait keeps a token with (almost) no life left from making a busy loop.
const minWait = 200 * time.Millisecond

// callTimeout bounds each login, lookup, renewal and revocation.
const callTimeout = 30 * time.Second

// Identity is Gatekeeper's own Vault token and its upkeep.
type Identity struct {
	opts Options

	mu  sync.RWMutex
	tok sensitive.String
	// accessor names the current token in the log (never the token).
	accessor string
	// increment is what a renewal asks for: the token's period, else the
	// TTL its login gave.
	increment time.Duration
	// ttl is what the last login or renewal left.
	ttl time.Duration
	// stuck: the token cannot be renewed further (not renewable, or the
	// last renewal was capped by its maximum TTL): log in again in time.
	stuck bool
	// lasting: the token does not expire (a TTL of 0); nothing to do.
	lasting bool
}

// Start returns the identity, logged in if it logs in. A login refused at
// start is an error: Gatekeeper does not start without its identity.
func Start(ctx context.Context, opts Options) (*Identity, error) {
	if opts.Vault == nil || (opts.Login == nil && opts.Token.IsZero()) {
		return nil, errors.New("vaultauth: Vault and a Login or a Token are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	id := &Identity{opts: opts, tok: opts.Token}
	if opts.Login == nil {
		return id, nil
	}
	if err := id.login(ctx, "logged in to Vault"); err != nil {
		return nil, fmt.Errorf("logging in to Vault (%s): %w", opts.Method, err)
	}
	return id, nil
}

// Token is the current token. Read it at each use: a new login replaces it.
func (id *Identity) Token() sensitive.String {
	id.mu.RLock()
	defer id.mu.RUnlock()
	return id.tok
}

// Run keeps the token alive until ctx ends.
func (id *Identity) Run(ctx context.Context) {
	t := time.NewTimer(id.first(ctx))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		t.Reset(id.step(ctx))
	}
}

// first is the wait before the first step: a given token is looked at
// now, a fresh login at half its life.
func (id *Identity) first(ctx context.Context) time.Duration {
	if id.opts.Login == nil {
		return id.keepGiven(ctx)
	}
	id.mu.RLock()
	defer id.mu.RUnlock()
	return id.wait()
}

// step renews the token or, when it cannot be renewed, logs in again, and
// returns how long to wait before the next step.
func (id *Identity) step(ctx context.Context) time.Duration {
	if id.opts.Login == nil {
		return id.keepGiven(ctx)
	}
	id.mu.RLock()
	stuck, tok, inc, lasting := id.stuck, id.tok, id.increment, id.lasting
	id.mu.RUnlock()
	if lasting {
		return time.Hour
	}
	if !stuck {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		ttl, err := id.opts.Vault.RenewSelf(cctx, tok, inc)
		cancel()
		switch {
		case err == nil:
			id.mu.Lock()
			defer id.mu.Unlock()
			id.ttl, id.stuck = ttl, ttl < inc
			return id.wait()
		case errors.Is(err, vault.ErrUnavailable) || errors.Is(err, vault.ErrSealed) || ctx.Err() != nil:
			// Vault unreachable or sealed: the token may still be good.
			if ctx.Err() == nil {
				id.opts.Logger.Warn("renewing Gatekeeper's own Vault token; trying again", "method", id.opts.Method, "err", err)
			}
			return Retry
		}
		// Refused: the token is gone (revoked, expired) or cannot be
		// renewed after all.
	}
	if err := id.login(ctx, "logged in to Vault again"); err != nil {
		if ctx.Err() == nil {
			id.opts.Logger.Warn("logging in to Vault again failed; no access can be granted until it succeeds",
				"method", id.opts.Method, "err", err)
		}
		return Retry
	}
	id.mu.RLock()
	defer id.mu.RUnlock()
	return id.wait()
}

// wait is the time until the next step: half the remaining life of a
// token that renews, two thirds of it for one that must be replaced, so
// that the new login happens while the old token still works. id.mu is
// held.
func (id *Identity) wait() time.Duration {
	if id.lasting {
		return time.Hour
	}
	d := id.ttl / 2
	if id.stuck {
		d = id.ttl * 2 / 3
	}
	return max(d, minWait)
}

// login obtains a new token and makes it current. The old one is left to
// expire rather than revoked: calls in flight still hold it, and with the
// brokered strategy the grants minted under it end with it.
func (id *Identity) login(ctx context.Context, msg string) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	auth, err := id.opts.Login(ctx)
	if err != nil {
		return err
	}
	info, err := id.opts.Vault.LookupSelf(ctx, auth.Token)
	if err != nil {
		_ = id.opts.Vault.RevokeSelf(ctx, auth.Token)
		return fmt.Errorf("looking up the new token: %w", err)
	}
	inc := info.Period
	if inc <= 0 {
		inc = auth.TTL
	}
	id.mu.Lock()
	id.tok, id.accessor, id.increment, id.ttl = auth.Token, auth.Accessor, inc, info.TTL
	id.lasting = info.TTL <= 0
	id.stuck = !id.lasting && (!info.Renewable || inc <= 0)
	id.mu.Unlock()
	id.opts.Logger.Info(msg, "method", id.opts.Method, "accessor", auth.Accessor,
		"policies", info.Policies, "ttl", info.TTL, "period", info.Period, "renewable", info.Renewable)
	return nil
}

// keepGiven renews a given token as setup makes it (periodic), and
// returns when to look again. A token that does not work is reported but
// does not stop the server: the agent is told, call by call, what is
// wrong, and nothing is granted until it is fixed.
func (id *Identity) keepGiven(ctx context.Context) time.Duration {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	info, err := id.opts.Vault.LookupSelf(ctx, id.opts.Token)
	if err != nil {
		if ctx.Err() == nil {
			id.opts.Logger.Warn("Gatekeeper's own token (VAULT_TOKEN) does not work now; no access can be granted until it does", "err", err)
		}
		return time.Hour
	}
	if !info.Renewable || info.Period <= 0 {
		return time.Hour
	}
	if _, err := id.opts.Vault.RenewSelf(ctx, id.opts.Token, info.Period); err != nil {
		id.opts.Logger.Warn("renewing Gatekeeper's own token (VAULT_TOKEN)", "err", err)
	}
	return min(info.Period/2, 12*time.Hour)
}

// Close revokes a token the identity logged in for. A given token belongs
// to whoever gave it and is left alone.
func (id *Identity) Close(ctx context.Context) error {
	if id.opts.Login == nil {
		return nil
	}
	id.mu.RLock()
	tok, accessor := id.tok, id.accessor
	id.mu.RUnlock()
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if err := id.opts.Vault.RevokeSelf(ctx, tok); err != nil {
		return fmt.Errorf("revoking Gatekeeper's own Vault token (accessor %s): %w", accessor, err)
	}
	id.opts.Logger.Info("revoked Gatekeeper's own Vault token", "method", id.opts.Method, "accessor", accessor)
	return nil
}
