package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/brokered"
	devapprover "github.com/gatekeeper-mcp/gatekeeper/internal/approver/dev"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/duo"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/page"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/vaultmfa"
	"github.com/gatekeeper-mcp/gatekeeper/internal/config"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// background is a part that runs beside the MCP server (the approval page).
type background func(ctx context.Context) error

// check tells whether a part can do its work now (for /readyz).
type check func(ctx context.Context) error

// issuing is what obtains grant tokens, with what it needs around it.
type issuing struct {
	issuer access.Issuer
	ready  check // can an approval be run now?
}

// newIssuer builds what obtains grant tokens, as the configuration says:
// Vault's login MFA, or an approver of Gatekeeper's own and a token role.
// Every approval is answered on its page (pages); the page also watches
// a Duo push or the dev prompt, and offers Deny. token is Gatekeeper's own
// token (bootstrap or broker) as it is now. Which approver and which Duo
// user answer for an agent follow live, the configuration a reload may
// change.
func newIssuer(cfg config.Config, live func() config.Config, vc *vault.Client, token func() sensitive.String, pages *page.Server, sys IO, agentOf func(access.Principal) setup.Agent, logger *slog.Logger) (issuing, error) {
	if cfg.Approval.Strategy != config.StrategyBrokered {
		iss, err := vaultmfa.New(vaultmfa.Options{
			Vault:     vc,
			Bootstrap: token,
			Pages:     pages,
			KVMount:   cfg.KVMount,
			Account:   func(p access.Principal, t access.Tier) string { return agentOf(p).AccountPath(t) },
			Logger:    logger,
		})
		// Ready when the bootstrap token reaches an agent's read-tier login.
		first := setup.Agent(cfg.Agent)
		if len(cfg.Agents) > 0 && cfg.HTTP.Listen != "" {
			first = setup.Agent(cfg.Agents[0].Name)
		}
		ready := func(ctx context.Context) error {
			if _, err := vc.KVRead(ctx, token(), cfg.KVMount, first.AccountPath(access.Read)); err != nil {
				return fmt.Errorf("the bootstrap token cannot reach the read-tier login of %q: %w", first, err)
			}
			return nil
		}
		return issuing{issuer: iss, ready: ready}, err
	}

	approvers := map[string]approver.Approver{}
	var out issuing
	var checks []check
	for _, name := range usedApprovers(cfg) {
		var (
			ap    approver.Approver
			ready check
			err   error
		)
		switch name {
		case config.ApproverDuo:
			var d *duo.Approver
			d, err = newDuo(cfg, live, agentOf, logger)
			ap = page.Watched{Pages: pages, Approver: d, Where: "A Duo push showing this request is on its way to your phone: approve or deny it there."}
			ready = func(ctx context.Context) error { return d.Check(ctx) }
		case config.ApproverPasskey:
			ap, ready, err = newPasskey(cfg, pages, logger)
		case config.ApproverDev:
			// gatekeeper dev has the terminal on Stdout, and its logs elsewhere.
			ap = page.Watched{Pages: pages, Approver: devapprover.New(sys.Stdin, sys.Stdout), Where: "Answer at the terminal where gatekeeper dev runs (y or n)."}
		}
		if err != nil {
			return issuing{}, fmt.Errorf("the %s approver: %w", name, err)
		}
		approvers[name] = ap
		if ready != nil {
			checks = append(checks, ready)
		}
	}
	out.ready = func(ctx context.Context) error {
		var errs []error
		for _, c := range checks {
			errs = append(errs, c(ctx))
		}
		return errors.Join(errs...)
	}
	iss, err := brokered.New(brokered.Options{
		Vault:  vc,
		Broker: token,
		Approver: func(p access.Principal) approver.Approver {
			return approvers[live().ApproverFor(string(agentOf(p)))]
		},
		Role: func(p access.Principal, t access.Tier) (string, string) {
			a := agentOf(p)
			return a.Role(t), a.PolicyName(t)
		},
		Logger: logger,
	})
	out.issuer = iss
	return out, err
}

// usedApprovers lists the approvers the deployment and its agents name.
func usedApprovers(cfg config.Config) []string {
	var out []string
	seen := map[string]bool{}
	for _, name := range append([]string{cfg.Approval.Approver}, agentApprovers(cfg)...) {
		if name != "" && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

func agentApprovers(cfg config.Config) []string {
	var out []string
	for _, a := range cfg.Agents {
		out = append(out, a.Approver)
	}
	return out
}

func newDuo(cfg config.Config, live func() config.Config, agentOf func(access.Principal) setup.Agent, logger *slog.Logger) (*duo.Approver, error) {
	d := cfg.Approval.Duo
	roots, err := certPool(d.CAFile)
	if err != nil {
		return nil, err
	}
	return duo.New(duo.Options{
		Host:           d.Host,
		IntegrationKey: d.IntegrationKey,
		SecretKey:      cfg.DuoSecretKey,
		Username:       func(p access.Principal) string { return live().DuoUsername(string(agentOf(p))) },
		RootCAs:        roots,
		Logger:         logger,
	})
}
