package cli

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/passkey"
	"github.com/gatekeeper-mcp/gatekeeper/internal/config"
	"github.com/gatekeeper-mcp/gatekeeper/internal/doctor"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// serveChecks are the checks of everything serve needs with cfg, in the
// order a setup is built: Vault, its clock, Gatekeeper's own token and
// policies, the mounts, each agent's read-tier login and its MFA (with the
// brokered strategy, its token roles), the approver and the audit file. tok is Gatekeeper's own token; approver tells whether
// an approval can be run now (brokered strategy).
func serveChecks(cfg config.Config, vc *vault.Client, tok func(context.Context) (sensitive.String, error), approver check) []doctor.Check {
	layout := cfg.Layout()
	checks := []doctor.Check{
		doctor.Address(vc),
		doctor.Unsealed(vc),
		doctor.Clock(vc, time.Now),
		ownTokenCheck(cfg, vc, tok),
	}
	brokered := cfg.Approval.Strategy == config.StrategyBrokered
	policy := setup.BootstrapPolicy
	if brokered {
		policy = setup.BrokerPolicy
	}
	checks = append(checks,
		doctor.Policies(vc, tok, policy),
		// The brokered strategy's token reads KV only for replicas' state.
		doctor.KV(vc, tok, cfg.KVMount, !brokered || cfg.SharedState()),
		doctor.Transit(vc, tok, layout.Transit()),
	)
	for _, a := range servedAgents(cfg) {
		if brokered {
			roles := make([]string, 0, len(setup.Tiers))
			for _, t := range setup.Tiers {
				roles = append(roles, a.Role(t))
			}
			checks = append(checks, doctor.TokenRoles(vc, tok, string(a), policy, roles))
			continue
		}
		checks = append(checks, doctor.TierLogin(vc, tok, doctor.Account{
			Agent: string(a), KVMount: cfg.KVMount, Path: a.AccountPath(access.Read), Policy: policy,
		})...)
	}
	checks = append(checks, approverCheck(cfg, approver))
	if cfg.AuditFile != "" {
		checks = append(checks, doctor.AuditFile(cfg.AuditFile))
	}
	return checks
}

// servedAgents are the agents a server with cfg serves: every named agent
// over HTTP, else the one stdio agent (GATEKEEPER_AGENT, or the single
// agent of stdio mode).
func servedAgents(cfg config.Config) []setup.Agent {
	if cfg.HTTP.Listen == "" || len(cfg.Agents) == 0 {
		return []setup.Agent{setup.Agent(cfg.Agent)}
	}
	out := make([]setup.Agent, 0, len(cfg.Agents))
	for _, a := range cfg.Agents {
		out = append(out, setup.Agent(a.Name))
	}
	return out
}

// ownTokenCheck: Gatekeeper's own token is valid and stays so.
func ownTokenCheck(cfg config.Config, vc *vault.Client, tok func(context.Context) (sensitive.String, error)) doctor.Check {
	relogin := cfg.VaultAuth.Method == config.VaultAuthAppRole || cfg.VaultAuth.Method == config.VaultAuthKubernetes
	return doctor.Token(vc, tok, relogin, tokenFix(cfg))
}

// tokenFix says how to get a working own token, as the configuration
// obtains it.
func tokenFix(cfg config.Config) string {
	switch cfg.VaultAuth.Method {
	case config.VaultAuthAppRole:
		return fmt.Sprintf("check vault_auth.approle (role_id, the secret id) against the AppRole at auth/%s; its role must carry Gatekeeper's policy", cfg.VaultAuth.AppRole.Mount)
	case config.VaultAuthKubernetes:
		return fmt.Sprintf("check vault_auth.kubernetes (role %q, the service account token file) against auth/%s; the role must carry Gatekeeper's policy",
			cfg.VaultAuth.Kubernetes.Role, cfg.VaultAuth.Kubernetes.Mount)
	}
	return "run gatekeeper setup with an admin VAULT_TOKEN: it prints Gatekeeper's token (a new one when the old one is gone); give serve that token in VAULT_TOKEN (or vault_token_file)"
}

// approverCheck: an approval can be run now. With Vault's login MFA the
// approver is Vault itself, which the login and mfa checks cover.
func approverCheck(cfg config.Config, ready check) doctor.Check {
	return doctor.Check{Name: doctor.NameApprover, Needs: []string{doctor.NameUnsealed}, Run: func(ctx context.Context) (string, error) {
		if cfg.Approval.Strategy != config.StrategyBrokered {
			return "", doctor.Skip("Vault's login MFA approves: see the login and mfa checks")
		}
		what := strings.Join(usedApprovers(cfg), ", ")
		if err := ready(ctx); err != nil {
			return "", doctor.Fail(approverFix(cfg), "the approver (%s) cannot run an approval now: %w", what, err)
		}
		return what + " can run an approval", nil
	}}
}

func approverFix(cfg config.Config) string {
	switch {
	case cfg.UsesApprover(config.ApproverPasskey) && cfg.UsesApprover(config.ApproverDuo):
		return "register a passkey on the approval page (/register, with the enroll token), and check approval.duo (host, integration key, secret key) and that Duo's API host is reachable"
	case cfg.UsesApprover(config.ApproverPasskey):
		return "register a passkey on the approval page (/register, with the enroll token)"
	case cfg.UsesApprover(config.ApproverDuo):
		return "check approval.duo (host, integration key, secret key) and that Duo's API host is reachable from here"
	}
	return "check the approval section of the configuration"
}

// approverReady is what serve's issuer says of the brokered strategy's
// approvers, built without the approval page: gatekeeper doctor serves
// nothing.
func approverReady(cfg config.Config, logger *slog.Logger) check {
	var checks []check
	for _, name := range usedApprovers(cfg) {
		switch name {
		case config.ApproverDuo:
			d, err := newDuo(cfg, func() config.Config { return cfg }, func(p access.Principal) setup.Agent { return setup.Agent(p) }, logger)
			if err != nil {
				return func(context.Context) error { return err }
			}
			checks = append(checks, d.Check)
		case config.ApproverPasskey:
			store, err := passkey.NewFileStore(cfg.Approval.Passkey.CredentialsFile)
			if err != nil {
				return func(context.Context) error { return err }
			}
			checks = append(checks, passkeyReady(store, cfg.ApprovalPage().PublicURL))
		}
	}
	return func(ctx context.Context) error {
		for _, c := range checks {
			if err := c(ctx); err != nil {
				return err
			}
		}
		return nil
	}
}
