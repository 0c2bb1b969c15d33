package soak

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

// finish runs the checks once the load is over: Vault's tokens while the
// last process still runs, its graceful stop, the leftovers' expiry, the
// audit chain, the logs, and what the agents saw.
func (r *run) finish() error {
	o := r.o
	loadEnd := time.Now()
	current := r.gk.Epoch()
	r.fleet.Stop()

	o.Logf("stopping gatekeeper (SIGTERM)")
	r.f.pass(CheckShutdown)
	if err := r.gk.Stop(); err != nil {
		r.f.fail(CheckShutdown, "gatekeeper exited with %v after SIGTERM", err)
	}
	logs := r.gk.Logs()
	lastErr, _ := os.ReadFile(logs[len(logs)-2])
	if !strings.Contains(string(lastErr), "all grants revoked") {
		r.f.fail(CheckShutdown, "the last process did not log that it revoked all grants")
	}
	trail, err := r.trail()
	if err != nil {
		return err
	}
	var alive []Token
	for _, g := range trail.Grants {
		if g.Epoch != current || g.EndEvent == audit.RevokeFailed {
			continue
		}
		tok, err := LookupToken(r.ctx, r.vault.Client(), r.vault.Root(), g.Accessor)
		if err != nil {
			return err
		}
		if tok.Alive {
			alive = append(alive, tok)
		}
	}
	checkDead(r.f, CheckShutdown, alive, func(Token) string { return "a grant of the stopped process" })

	if err := r.leftoversExpire(trail); err != nil {
		return err
	}
	r.verifyAudit(lastErr)

	values := r.fleet.Values()
	canaries := map[string]bool{}
	for _, vs := range values {
		for v := range vs {
			canaries[v] = true
		}
	}
	files := append(r.gk.Logs(), r.audit)
	scanned, err := scanFiles(r.f, files, r.needles, canaries)
	if err != nil {
		return err
	}
	r.report.Scanned = Scanned{Files: len(files), Bytes: scanned, Values: len(canaries)}

	if err := scanCrashes(r.f, r.gk.Logs()); err != nil {
		return err
	}
	for _, c := range r.gk.Crashes() {
		r.f.fail(CheckNoCrash, "%s", c)
	}
	checkUsage(r.f, r.report.Usage, r.o.Agents)
	calls := r.rec.Calls()
	checkCalls(r.f, calls, values, r.report.Faults)
	r.report.Recoveries = checkRecovery(r.f, calls, r.report.Faults, loadEnd)
	r.report.GrantCalls = checkGrantUse(r.f, trail)
	denied := map[string]bool{}
	for _, s := range r.specs {
		if s.Kind == Denied {
			denied[s.Name] = true
		}
	}
	checkDeniedOnTrail(r.f, trail, denied)
	r.report.summarize(calls, trail)
	return nil
}

func (r *run) trail() (*Trail, error) {
	events, err := ReadTrail(r.audit)
	if err != nil {
		return nil, err
	}
	return NewTrail(events), nil
}

// leftoversExpire waits until every token a grant did not revoke has
// passed its expiry, then checks that Vault holds no agent token at all:
// the last process revoked its grants when it stopped, and everything else
// must have died at its TTL.
func (r *run) leftoversExpire(trail *Trail) error {
	r.f.pass(CheckLeftovers)
	var last time.Time
	for _, g := range trail.Grants {
		if !g.TokenRevoked() && g.ExpiresAt.After(last) {
			last = g.ExpiresAt
		}
	}
	for _, l := range r.report.Leftovers {
		if l.ExpiresAt.After(last) {
			last = l.ExpiresAt
		}
	}
	// Vault revokes an expired token from a timer; give it a moment.
	wait := time.Until(last) + 3*time.Second
	if limit := r.o.ReadTTL + 15*time.Second; wait > limit {
		r.f.fail(CheckLeftovers, "a leftover token expires %s from now, beyond any grant's TTL", wait.Round(time.Second))
		wait = limit
	}
	if wait > 0 {
		r.o.Logf("waiting %s for leftover tokens to reach their TTL", wait.Round(time.Second))
		if err := r.sleep(wait); err != nil {
			return err
		}
	}
	r.report.LeftoverWait = max(wait, 0)
	tokens, err := Tokens(r.ctx, r.vault.Client(), r.vault.Root())
	if err != nil {
		return err
	}
	var alive []Token
	for _, t := range tokens {
		if t.ForGrant() && t.Alive {
			alive = append(alive, t)
		}
	}
	// And every accessor the trail names, looked up one by one: the list
	// above covers them, this says so for each.
	for acc := range trail.Grants {
		tok, err := LookupToken(r.ctx, r.vault.Client(), r.vault.Root(), acc)
		if err != nil {
			return err
		}
		r.report.AccessorsChecked++
		if tok.Alive && !slices.ContainsFunc(alive, func(t Token) bool { return t.Accessor == acc }) {
			alive = append(alive, tok)
		}
	}
	checkDead(r.f, CheckLeftovers, alive, func(t Token) string {
		if g := trail.Grants[t.Accessor]; g != nil {
			return fmt.Sprintf("%s grant of %s from process %d, expired %s", g.Tier, g.Principal, g.Epoch, stamp(g.ExpiresAt))
		}
		return "a token the trail does not name, expiring " + stamp(t.ExpireTime)
	})
	return nil
}

// verifyAudit runs `gatekeeper audit verify` on the trail, up to the head
// the last process logged when it stopped.
func (r *run) verifyAudit(lastStderr []byte) {
	r.f.pass(CheckAuditVerify)
	args := []string{"audit", "verify"}
	if m := headLine.FindSubmatch(lastStderr); m != nil {
		args = append(args, "--head", string(m[1]))
	} else {
		r.f.fail(CheckAuditVerify, "the last process did not log the chain's head when it stopped")
	}
	cmd := exec.Command(r.o.Gatekeeper, append(args, r.audit)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "GATEKEEPER_AUDIT_KEY=" + r.auditKey}
	out, err := cmd.CombinedOutput()
	r.report.AuditVerify = strings.TrimSpace(string(out))
	if err != nil {
		r.f.fail(CheckAuditVerify, "gatekeeper audit verify: %v", err)
	}
}
