package soak

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

// Report is what a run did and found.
type Report struct {
	Options           Options
	Started, Ended    time.Time
	Machine           string
	VaultVersion      string
	GatekeeperVersion string
	Plan              plan

	Faults     []Fault
	Recoveries []Recovery
	Usage      []UsageSample

	// Calls by tool: ok, refused (a tool error), broken (no answer).
	Calls map[string]*Tally
	// From the audit trail.
	Approvals  map[string]int // by outcome
	Issued     map[string]int // grants by tier
	GrantEnds  map[string]int // grant ends by event
	GrantCalls int            // successful calls checked against their grant

	// Leftovers are the tokens ever found alive outside a live grant of
	// the running process, as first seen.
	Leftovers    []Leftover
	LeftoverWait time.Duration
	// AccessorsChecked is how many accessors of the trail were looked up
	// in Vault at the end.
	AccessorsChecked int

	Scanned     Scanned
	AuditVerify string

	Violations []Violation
	Counts     map[string]int  // violations per check
	Ran        map[string]bool // checks that ran
}

// Tally counts one tool's calls.
type Tally struct{ OK, Refused, Broken int }

// Scanned is how much the secret search read.
type Scanned struct {
	Files  int
	Bytes  int64
	Values int // secret values searched for
}

// Passed says no check found a violation.
func (r *Report) Passed() bool { return len(r.Violations) == 0 }

func (r *Report) summarize(calls []Call, t *Trail) {
	r.Calls = map[string]*Tally{}
	for _, c := range calls {
		tl := r.Calls[c.Tool]
		if tl == nil {
			tl = &Tally{}
			r.Calls[c.Tool] = tl
		}
		switch {
		case c.OK:
			tl.OK++
		case c.Proto:
			tl.Broken++
		default:
			tl.Refused++
		}
	}
	r.Approvals, r.Issued, r.GrantEnds = map[string]int{}, map[string]int{}, map[string]int{}
	for _, e := range t.Events {
		switch e.Event {
		case audit.ApprovalDecided:
			r.Approvals[e.Outcome]++
		case audit.GrantIssued:
			r.Issued[e.Tier]++
		case audit.GrantExpired, audit.GrantReleased, audit.GrantRevoked, audit.GrantLost, audit.RevokeFailed:
			r.GrantEnds[strings.TrimPrefix(e.Event, "grant.")]++
		}
	}
}

// Markdown renders the report.
func (r *Report) Markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	verdict := "PASS"
	if !r.Passed() {
		verdict = fmt.Sprintf("FAIL (%d violations)", total(r.Counts))
	}
	p("# Gatekeeper soak: %s\n\n", verdict)
	kinds := map[Kind]int{}
	for _, s := range fleetSpecs(r.Options.Agents) {
		kinds[s.Kind]++
	}
	p("- %s of load from %s, then checks (%s in all); %s\n", r.Options.Duration, r.Started.Format("2006-01-02 15:04:05 MST"),
		r.Ended.Sub(r.Started).Round(time.Second), r.Machine)
	p("- %d agents over HTTP, each with its own API key, folder and grants: %d writers, %d read-only, %d whose human denies everything; half on the session protocol, half sessionless; one call per agent about every %s\n",
		r.Options.Agents, kinds[Writer], kinds[Reader], kinds[Denied], r.Options.Interval)
	p("- brokered approvals through the Duo Auth API (local fake); read grants %s, write grants %s\n", r.Options.ReadTTL, r.Options.WriteTTL)
	p("- Vault %s with file storage on loopback; %s\n\n", r.VaultVersion, orUnknown(r.GatekeeperVersion))

	p("## Checks\n\n| check | result | what it means |\n|---|---|---|\n")
	for _, c := range checkOrder {
		res := "pass"
		switch {
		case !r.Ran[c]:
			res = "not run"
		case r.Counts[c] > 0:
			res = fmt.Sprintf("**FAIL** (%d)", r.Counts[c])
		}
		p("| %s | %s | %s |\n", c, res, checkDescriptions[c])
	}
	if len(r.Violations) > 0 {
		p("\n### Violations\n\n")
		for _, v := range r.Violations {
			p("- %s: %s\n", v.Check, v.Detail)
		}
	}

	p("\n## Faults\n\n| # | fault | in place | first successful read after repair |\n|---|---|---|---|\n")
	for i, rc := range r.Recoveries {
		w := rc.Fault
		first := "none"
		if !rc.FirstRead.IsZero() {
			first = "+" + rc.FirstRead.Sub(w.Recovered).Round(10*time.Millisecond).String()
		}
		p("| %d | %s | %s to %s (%s), repaired %s | %s |\n", i+1, w.Kind, stamp(w.Start), stamp(w.End),
			w.End.Sub(w.Start).Round(10*time.Millisecond), stamp(w.Recovered), first)
	}

	p("\n## Calls\n\n| tool | ok | refused | no answer |\n|---|---|---|---|\n")
	for _, tool := range slices.Sorted(maps.Keys(r.Calls)) {
		t := r.Calls[tool]
		p("| %s | %d | %d | %d |\n", tool, t.OK, t.Refused, t.Broken)
	}
	p("\n\"refused\" is a tool error the agent read (no access yet, Vault down or sealed, denied, outside its folder); \"no answer\" is a broken connection or lost session (Gatekeeper killed).\n")
	p("\nFrom the audit trail: approvals %s; grants issued %s; grants ended %s; %d successful calls checked against their grant.\n",
		counts(r.Approvals), counts(r.Issued), counts(r.GrantEnds), r.GrantCalls)

	p("\n## Gatekeeper and Vault at rest (fleet paused)\n\n")
	p("| when | process | goroutines | fds | connections to Vault | live grants (metric / audit trail) | agent tokens in Vault | leftovers | lingering |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range r.Usage {
		dead := ""
		if s.LiveButDead > 0 {
			dead = fmt.Sprintf(" (%d no longer honoured by Vault)", s.LiveButDead)
		}
		usage := fmt.Sprintf("%d | %d | %d", s.Goroutines, s.FDs, s.VaultConns)
		if !s.Steady {
			usage = fmt.Sprintf("(%d) | (%d) | (%d)", s.Goroutines, s.FDs, s.VaultConns)
		}
		p("| %s | %d | %s | %d / %d%s | %d | %d | %d |\n", s.Label, s.Epoch, usage, s.LiveGrants, s.TrailLive, dead, s.TokensAlive, s.Leftovers, s.Lingering)
	}
	p("\nIn parentheses: counts taken as a new process starts, before the fleet is back; the growth check compares the other ones, less the connections to Vault (one descriptor and two goroutines each): Gatekeeper keeps idle connections for reuse, as many as requests were once in flight, and loses them when Vault restarts.\n")
	p("\nLingering tokens are ones Vault still lists but refuses for every request: their revocation is under way (it was cut short by a seal or a restart) or they expired and Vault's expiration manager has not removed them yet.\n")
	p("\nLeftovers are tokens alive in Vault that no live grant of the running process holds; each may live only until its TTL:\n\n")
	if len(r.Leftovers) == 0 {
		p("none.\n")
	} else {
		type group struct {
			why, tier   string
			n           int
			first, last time.Time
		}
		var groups []*group
		for _, l := range r.Leftovers {
			i := slices.IndexFunc(groups, func(g *group) bool { return g.why == l.Why && g.tier == l.Tier })
			if i < 0 {
				groups = append(groups, &group{why: l.Why, tier: l.Tier, first: l.ExpiresAt, last: l.ExpiresAt})
				i = len(groups) - 1
			}
			g := groups[i]
			g.n++
			g.first, g.last = minTime(g.first, l.ExpiresAt), maxTime(g.last, l.ExpiresAt)
		}
		p("| why it is alive | tier | tokens | expire |\n|---|---|---|---|\n")
		for _, g := range groups {
			p("| %s | %s | %d | %s to %s |\n", g.why, g.tier, g.n, stamp(g.first), stamp(g.last))
		}
		p("\n<details><summary>Every leftover token</summary>\n\n| accessor | agent | tier | why it is alive | expires |\n|---|---|---|---|---|\n")
		for _, l := range r.Leftovers {
			p("| %s | %s | %s | %s | %s |\n", l.Accessor, l.Principal, l.Tier, l.Why, stamp(l.ExpiresAt))
		}
		p("\n</details>\n")
	}
	p("\nAfter the graceful stop the run waited %s for the last leftover's TTL, then looked up every token in Vault and each of the %d accessors the audit trail names: none was alive unless listed under violations.\n",
		r.LeftoverWait.Round(time.Second), r.AccessorsChecked)

	p("\n## Logs and audit\n\nSearched %d files (%s) for %d secret values, every API key, the root, broker and audit keys and token-shaped strings.\n",
		r.Scanned.Files, bytesText(r.Scanned.Bytes), r.Scanned.Values)
	if r.AuditVerify != "" {
		p("\n`gatekeeper audit verify`:\n\n```\n%s\n```\n", r.AuditVerify)
	}
	return b.String()
}

var checkOrder = []string{
	CheckGrantUse, CheckAgentView, CheckFaultWindows, CheckRecovery, CheckRestartEmpty, CheckTokensKnown,
	CheckTokenTTL, CheckGauge, CheckShutdown, CheckLeftovers, CheckSecrets, CheckUsage, CheckNoCrash, CheckAuditVerify,
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func orUnknown(s string) string {
	if s == "" {
		return "gatekeeper (version unknown)"
	}
	return s
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
