package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/clientauth"
	"github.com/gatekeeper-mcp/gatekeeper/internal/config"
	"github.com/gatekeeper-mcp/gatekeeper/internal/reveal"
)

// settings is what a reload may change, built whole from one configuration
// and never modified after: the configuration itself, the reveal rules and,
// over HTTP, the client authentication methods. A reload swaps it for a
// new one; whoever holds the old one (a request being authenticated, a
// call being checked) finishes with it.
type settings struct {
	cfg    config.Config
	reveal *reveal.Matcher
	auth   clientauth.Method // over HTTP; nil over stdio
	// stop ends what the settings run in the background (the JWKS
	// refresh) once they are replaced.
	stop context.CancelFunc
}

// newSettings builds the settings of cfg, a validated configuration.
func newSettings(ctx context.Context, cfg config.Config, stdio bool, logger *slog.Logger) (*settings, error) {
	matcher, err := reveal.New(cfg.RevealPolicy()) // validated with the configuration
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(ctx)
	s := &settings{cfg: cfg, reveal: matcher, stop: stop}
	if !stdio {
		if s.auth, err = authMethods(ctx, cfg, logger); err != nil {
			stop()
			return nil, err
		}
	}
	return s, nil
}

// settings are the live settings. Read them once per use and keep them:
// two reads may straddle a reload.
func (c *core) settings() *settings { return c.live.Load() }

// reloadConfig reads the configuration again, with load (the same steps
// as at start), and makes it the live one, or refuses it whole: a new
// configuration that is invalid, that changes a setting only a restart can
// change, or whose authentication methods cannot be built, changes
// nothing. Both outcomes are audited. An agent that the new configuration
// no longer declares loses its grants and pending approvals, in Vault,
// exactly as if an operator revoked it, and its MCP sessions end.
func (c *core) reloadConfig(ctx context.Context, load func() (config.Config, error)) error {
	c.reloading.Lock()
	defer c.reloading.Unlock()
	cur := c.settings()
	next, err := c.prepare(cur, load)
	if err != nil {
		ev := audit.Event{Event: audit.ConfigReloadRefused, Outcome: audit.Refused, Detail: err.Error()}
		if aerr := c.audit.Record(ctx, ev); aerr != nil {
			c.logger.Error("recording a refused reload", "err", aerr)
		}
		c.logger.Warn("configuration reload refused; the running configuration stays", "err", err)
		return fmt.Errorf("the new configuration was refused, the running one stays: %w", err)
	}
	added, removed := agentChanges(cur.cfg, next.cfg)
	ev := configEvent(audit.ConfigReloaded, next.cfg)
	if len(added) > 0 {
		ev.Detail += "; agents added: " + strings.Join(added, ", ")
	}
	if len(removed) > 0 {
		ev.Detail += "; agents removed: " + strings.Join(removed, ", ")
	}
	if err := c.audit.Record(ctx, ev); err != nil {
		next.stop()
		c.logger.Error("configuration reload not recorded; the running configuration stays", "err", err)
		return fmt.Errorf("recording the reload in the audit log (the running configuration stays): %w", err)
	}
	c.live.Store(next)
	cur.stop()
	c.limits.SetRates(c.rateOf(toolRate))
	c.approvals.SetRates(c.rateOf(approvalRate))
	var errs []error
	for _, a := range removed {
		if c.forget != nil {
			c.forget(a)
		}
		if _, err := c.access.RevokeAgent(ctx, access.Principal(a)); err != nil && !errors.Is(err, access.ErrNothingToRevoke) {
			c.logger.Error("revoking the grants of a removed agent", "agent", a, "err", err)
			errs = append(errs, fmt.Errorf("revoking the grants of the removed agent %s: %w", a, err))
		}
	}
	c.logger.Info("configuration reloaded", "digest", ev.Digest, "agents_added", added, "agents_removed", removed)
	return errors.Join(errs...)
}

// prepare loads and checks the next configuration and builds its
// settings, changing nothing. They run in the background for the server's
// life (c.base), not the reload's.
func (c *core) prepare(cur *settings, load func() (config.Config, error)) (*settings, error) {
	cfg, err := load()
	if err != nil {
		return nil, err
	}
	// Gatekeeper's own Vault credential was read (or logged in) at start
	// and is kept: a token, or an AppRole secret id (one that was rotated
	// in its file since is for the next start, not a reason to refuse).
	cfg.VaultToken = cur.cfg.VaultToken
	cfg.VaultAuth.AppRole.SecretID = cur.cfg.VaultAuth.AppRole.SecretID
	if names := config.NeedsRestart(cur.cfg, cfg); len(names) > 0 {
		return nil, fmt.Errorf("these settings change only with a restart: %s", strings.Join(names, ", "))
	}
	return newSettings(c.base, cfg, c.stdio, c.logger)
}

// agentChanges names the agents next adds and removes.
func agentChanges(running, next config.Config) (added, removed []string) {
	names := func(c config.Config) []string {
		var out []string
		for _, a := range c.Agents {
			out = append(out, a.Name)
		}
		return out
	}
	was, now := names(running), names(next)
	for _, a := range now {
		if !slices.Contains(was, a) {
			added = append(added, a)
		}
	}
	for _, a := range was {
		if !slices.Contains(now, a) {
			removed = append(removed, a)
		}
	}
	return added, removed
}

// watchReload reloads the configuration on every hangup until ctx ends.
func (c *core) watchReload(ctx context.Context, hangup <-chan os.Signal, load func() (config.Config, error)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hangup:
			_ = c.reloadConfig(ctx, load) // logged and audited there
		}
	}
}
