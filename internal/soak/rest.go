package soak

import (
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// atRest measures the running Gatekeeper and checks every token Vault holds
// against the audit trail, with the fleet paused so that nothing moves but
// expiry timers. label names the moment in the report; steady says the
// fleet has been at work long enough for the process's goroutines and
// descriptors to count in the growth check.
func (r *run) atRest(label string, steady bool) error {
	r.fleet.Pause()
	defer r.fleet.Resume()
	time.Sleep(500 * time.Millisecond) // finished requests' goroutines end, their records are written
	current := r.gk.Epoch()
	s := UsageSample{Label: label, Steady: steady}
	u, usageErr := r.gk.Usage(r.ctx)
	if usageErr != nil {
		r.o.Logf("%s: reading gatekeeper's usage: %v", label, usageErr)
	}
	s.Usage = u
	s.Epoch = current
	if n, err := r.vaultConns(); err == nil {
		s.VaultConns = n
	} else {
		r.o.Logf("%s: counting gatekeeper's connections to Vault: %v", label, err)
	}
	// The trail is read first and judged as of that moment: a token Vault
	// then shows alive was alive at its lookup, so its grant (no shorter
	// than the token) was live when the trail was read, whereas a grant
	// that expired during the lookups would look over if judged later.
	now := time.Now()
	trail, err := r.trail()
	if err != nil {
		return err
	}
	tokens, err := Tokens(r.ctx, r.vault.Client(), r.vault.Root())
	if err != nil {
		return err
	}
	if s.At.IsZero() {
		s.At = now
	}
	left := classifyTokens(r.f, trail, tokens, current, now, r.ttl())
	for _, l := range left {
		if !r.leftovers[l.Accessor] {
			r.leftovers[l.Accessor] = true
			r.report.Leftovers = append(r.report.Leftovers, l)
		}
	}
	s.Leftovers = len(left)
	alive := map[string]bool{}
	for _, t := range tokens {
		switch {
		case t.ForGrant() && t.Alive:
			s.TokensAlive++
			alive[t.Accessor] = true
		case t.ForGrant():
			s.Lingering++
		}
	}
	live := trail.Live(current, now)
	s.TrailLive = len(live)
	for _, g := range live {
		if !alive[g.Accessor] {
			s.LiveButDead++
		}
	}
	if usageErr == nil {
		r.checkGauge(current, u)
	}
	r.report.Usage = append(r.report.Usage, s)
	r.o.Logf("%s: process %d, %d goroutines, %d fds, %d live grants (trail %d), %d agent tokens in Vault, %d leftovers",
		label, current, u.Goroutines, u.FDs, u.LiveGrants, s.TrailLive, s.TokensAlive, s.Leftovers)
	return nil
}

// checkGauge compares Gatekeeper's own count of live grants with the
// trail's. The two are read one after the other and a grant may expire in
// between, so a difference must persist to count.
func (r *run) checkGauge(current int, u Usage) {
	r.f.pass(CheckGauge)
	for attempt := 1; ; attempt++ {
		trail, err := r.trail()
		if err != nil {
			return
		}
		// Evaluated when the metric was read: grants that expired since
		// then were live for both.
		n := len(trail.Live(current, u.At))
		if u.LiveGrants == n {
			return
		}
		if attempt == 3 {
			r.f.fail(CheckGauge, "process %d: gatekeeper_live_grants says %d, the audit trail %d", current, u.LiveGrants, n)
			return
		}
		time.Sleep(time.Second)
		if u, err = r.gk.Usage(r.ctx); err != nil {
			return
		}
	}
}

func (r *run) ttl() map[string]time.Duration {
	return map[string]time.Duration{"read": r.o.ReadTTL, "write": r.o.WriteTTL, "destroy": r.o.WriteTTL}
}

// vaultConns counts the running Gatekeeper's connections to Vault.
func (r *run) vaultConns() (int, error) {
	u, err := url.Parse(r.vault.Addr())
	if err != nil {
		return 0, err
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return 0, fmt.Errorf("vault address %s: %w", r.vault.Addr(), err)
	}
	return connsTo(r.gk.PID(), port)
}
