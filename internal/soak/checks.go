package soak

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

// Check names, as the report lists them.
const (
	CheckGrantUse     = "calls-on-live-grants"
	CheckAgentView    = "agents-see-only-theirs"
	CheckFaultWindows = "nothing-while-down"
	CheckRecovery     = "recovery"
	CheckTokensKnown  = "tokens-known"
	CheckTokenTTL     = "tokens-within-grant"
	CheckGauge        = "live-grants-agree"
	CheckRestartEmpty = "restart-holds-nothing"
	CheckShutdown     = "shutdown-revokes"
	CheckLeftovers    = "leftovers-expire"
	CheckSecrets      = "no-secrets-in-logs"
	CheckUsage        = "no-growth"
	CheckAuditVerify  = "audit-verifies"
	CheckNoCrash      = "no-crash"
)

// checkDescriptions say what each check promises.
var checkDescriptions = map[string]string{ //nolint:gosec // G101: descriptions of checks, no credential
	CheckGrantUse:     "every successful call used a grant of its own agent, issued by the same process, live when the call began (audit trail)",
	CheckAgentView:    "reads returned only the agent's own values; nothing outside its folder; readers never wrote; denied agents got nothing",
	CheckFaultWindows: "no call made entirely while Vault was down or sealed, or Gatekeeper was down, succeeded",
	CheckRecovery:     "after every fault, agents read successfully again before the next one",
	CheckTokensKnown:  "every token alive in Vault is a live grant of the running process, or a leftover within its TTL (listed below)",
	CheckTokenTTL:     "no token lives longer than its grant",
	CheckGauge:        "Gatekeeper's live grants (gatekeeper_live_grants) equal the audit trail's",
	CheckRestartEmpty: "a Gatekeeper started again after SIGKILL holds no grant",
	CheckShutdown:     "a graceful stop revoked every grant of the last process",
	CheckLeftovers:    "tokens left behind (killed process, failed revocation) died at their TTL",
	CheckSecrets:      "no planted or written value, token or key in any Gatekeeper log or audit file",
	CheckUsage:        "no goroutine or file-descriptor growth within a process between steady phases, beyond the pool of idle connections to Vault, which stays within the number of agents",
	CheckNoCrash:      "no Gatekeeper process exited by itself, panicked or reported a data race (with -race builds)",
	CheckAuditVerify:  "gatekeeper audit verify accepts the audit file, up to the head logged at shutdown",
}

// Violation is a promise the run found broken.
type Violation struct {
	Check  string
	Detail string
}

// findings accumulates violations, at most a few per check in detail.
type findings struct {
	violations []Violation
	count      map[string]int
	ran        map[string]bool
}

func newFindings() *findings {
	return &findings{count: map[string]int{}, ran: map[string]bool{}}
}

const maxDetailsPerCheck = 10

func (f *findings) fail(check, format string, args ...any) {
	f.ran[check] = true
	f.count[check]++
	if f.count[check] <= maxDetailsPerCheck {
		f.violations = append(f.violations, Violation{Check: check, Detail: fmt.Sprintf(format, args...)})
	}
}

func (f *findings) pass(check string) { f.ran[check] = true }

// grantTools are the tools that act with a grant's token.
var grantTools = map[string]bool{
	"read_secret": true, "list_secrets": true, "secret_metadata": true,
	"write_secret": true, "patch_secret": true, "delete_secret": true, "undelete_secret": true,
	"encrypt": true, "decrypt": true, "rewrap": true, "sign": true, "verify": true, "run_with_secret": true,
	"http_request": true,
}

// writeTools need a write grant.
var writeTools = map[string]bool{"write_secret": true, "patch_secret": true, "delete_secret": true, "undelete_secret": true}

// clockSlack absorbs the gap between a process's clock readings for one
// decision (the record's time is taken after the work it records).
const clockSlack = 250 * time.Millisecond

// checkGrantUse: every successful tool.call that acts with a grant names
// the grant's accessor; that grant belongs to the same agent, was issued
// by the same process before the call was recorded, has the tier the tool
// needs, and had not ended when the call began. It returns how many calls
// it checked.
func checkGrantUse(f *findings, t *Trail) int {
	f.pass(CheckGrantUse)
	n := 0
	for _, e := range t.Events {
		if e.Event != audit.ToolCall || e.Outcome != string(audit.OK) || !grantTools[e.Tool] {
			continue
		}
		n++
		g := t.Grants[e.Accessor]
		begin := e.Time.Add(-time.Duration(e.ElapsedMS) * time.Millisecond)
		switch {
		case e.Accessor == "":
			f.fail(CheckGrantUse, "seq %d: %s by %s succeeded without a grant on record", e.Seq, e.Tool, e.Principal)
		case g == nil:
			f.fail(CheckGrantUse, "seq %d: %s by %s used accessor %s, which no grant.issued names", e.Seq, e.Tool, e.Principal, e.Accessor)
		case g.Principal != e.Principal:
			f.fail(CheckGrantUse, "seq %d: %s by %s used a grant of %s", e.Seq, e.Tool, e.Principal, g.Principal)
		case g.Epoch != e.Epoch:
			f.fail(CheckGrantUse, "seq %d: %s by %s in process %d used a grant of process %d", e.Seq, e.Tool, e.Principal, e.Epoch, g.Epoch)
		case e.Seq < g.IssuedSeq:
			f.fail(CheckGrantUse, "seq %d: %s by %s recorded before its grant (seq %d) was issued", e.Seq, e.Tool, e.Principal, g.IssuedSeq)
		case writeTools[e.Tool] && g.Tier != "write":
			f.fail(CheckGrantUse, "seq %d: %s by %s succeeded with a %s grant", e.Seq, e.Tool, e.Principal, g.Tier)
		case !begin.Before(g.End().Add(clockSlack)):
			f.fail(CheckGrantUse, "seq %d: %s by %s began %s after its grant ended (%s)", e.Seq, e.Tool, e.Principal,
				begin.Sub(g.End()).Round(time.Millisecond), endWhy(g))
		}
	}
	return n
}

func endWhy(g *Grant) string {
	if g.EndEvent == "" || !g.Ended.Before(g.ExpiresAt) {
		return "expired"
	}
	return g.EndEvent
}

// checkDeniedOnTrail: an agent whose human denies everything never gets a
// grant.
func checkDeniedOnTrail(f *findings, t *Trail, denied map[string]bool) {
	f.pass(CheckAgentView)
	for _, g := range t.Grants {
		if denied[g.Principal] {
			f.fail(CheckAgentView, "%s, whose every approval was denied, got a %s grant (%s)", g.Principal, g.Tier, g.Accessor)
		}
	}
}

// checkCalls looks at what the agents saw: what reads returned, which
// calls should never have succeeded, and calls made inside fault windows.
// values holds every value each agent planted or tried to write.
func checkCalls(f *findings, calls []Call, values map[string]map[string]bool, faults []Fault) {
	f.pass(CheckAgentView)
	f.pass(CheckFaultWindows)
	for _, c := range calls {
		if !c.OK || !grantTools[c.Tool] {
			continue
		}
		switch {
		case c.Kind == Denied:
			f.fail(CheckAgentView, "%s (denied) succeeded with %s %s at %s", c.Agent, c.Tool, c.Path, stamp(c.Start))
		case c.Kind == Reader && writeTools[c.Tool]:
			f.fail(CheckAgentView, "%s (read-only) succeeded with %s at %s", c.Agent, c.Tool, stamp(c.Start))
		case c.Tool == "read_secret" && strings.Contains(c.Path, ".."):
			f.fail(CheckAgentView, "%s read %q outside its folder at %s", c.Agent, c.Path, stamp(c.Start))
		case c.Tool == "read_secret" && !values[c.Agent][c.Value]:
			owner := "nobody's"
			if rest, ok := strings.CutPrefix(c.Value, CanaryPrefix); ok {
				owner = "a value of " + rest[:max(0, strings.LastIndexByte(rest, '-'))]
			}
			f.fail(CheckAgentView, "%s read a value that is not its own (%s) at %s", c.Agent, owner, stamp(c.Start))
		}
		for _, w := range faults {
			if c.Start.After(w.Start) && c.End.Before(w.End) {
				f.fail(CheckFaultWindows, "%s %s by %s succeeded during %s (%s to %s)", c.Tool, c.Path, c.Agent, w.Kind, stamp(w.Start), stamp(w.End))
			}
		}
	}
}

// Recovery is how long the fleet took to read again after a fault.
type Recovery struct {
	Fault Fault
	// FirstRead is the end of the first successful read that began after
	// the fault was repaired; zero if there was none before Until.
	FirstRead time.Time
	Until     time.Time
}

// checkRecovery: after each fault, some agent reads successfully before
// the next fault (or the end). A Gatekeeper that stayed closed for good
// would pass every other check.
func checkRecovery(f *findings, calls []Call, faults []Fault, end time.Time) []Recovery {
	f.pass(CheckRecovery)
	var out []Recovery
	for i, w := range faults {
		r := Recovery{Fault: w, Until: end}
		if i+1 < len(faults) {
			r.Until = faults[i+1].Start
		}
		for _, c := range calls {
			if c.OK && c.Tool == "read_secret" && !c.Start.Before(w.Recovered) && c.End.Before(r.Until) &&
				(r.FirstRead.IsZero() || c.End.Before(r.FirstRead)) {
				r.FirstRead = c.End
			}
		}
		if r.FirstRead.IsZero() {
			f.fail(CheckRecovery, "no agent read successfully between the end of %s at %s and %s", w.Kind, stamp(w.Recovered), stamp(r.Until))
		}
		out = append(out, r)
	}
	return out
}

// Leftover is a token alive in Vault that no live grant of the running
// process holds, but that may live until its TTL: a killed process left
// it, its revocation failed, or it was minted and never delivered.
type Leftover struct {
	Accessor  string
	Principal string
	Tier      string
	Why       string
	ExpiresAt time.Time
}

// tokenTTLSlack is how much later than its grant a token may expire: Vault
// counts the TTL from its own clock reading, Gatekeeper from a later one.
const tokenTTLSlack = 2 * time.Second

// classifyTokens checks every token alive in Vault (while the process of
// epoch current runs) against the trail. ttl is the longest grant a tier
// may have.
func classifyTokens(f *findings, t *Trail, tokens []Token, current int, now time.Time, ttl map[string]time.Duration) []Leftover {
	f.pass(CheckTokensKnown)
	f.pass(CheckTokenTTL)
	var left []Leftover
	for _, tok := range tokens {
		if !tok.Alive || !tok.ForGrant() {
			continue
		}
		if g := t.Grants[tok.Accessor]; g != nil {
			if !tok.ExpireTime.IsZero() && tok.ExpireTime.After(g.ExpiresAt.Add(tokenTTLSlack)) {
				f.fail(CheckTokenTTL, "token %s of %s expires at %s, after its grant (%s)", tok.Accessor, g.Principal, stamp(tok.ExpireTime), stamp(g.ExpiresAt))
			}
			switch {
			case g.Epoch == current && g.LiveAt(now):
				// a live grant of the running process
			case g.Epoch != current && g.EndEvent == "" && now.Before(g.ExpiresAt.Add(tokenTTLSlack)):
				left = append(left, Leftover{tok.Accessor, g.Principal, g.Tier, fmt.Sprintf("left by process %d (killed)", g.Epoch), g.ExpiresAt})
			case g.EndEvent == audit.RevokeFailed && now.Before(g.ExpiresAt.Add(tokenTTLSlack)):
				left = append(left, Leftover{tok.Accessor, g.Principal, g.Tier, "revocation failed (Vault was down or sealed)", g.ExpiresAt})
			case g.TokenRevoked():
				f.fail(CheckTokensKnown, "token %s of %s is alive although its grant ended with %s at %s", tok.Accessor, g.Principal, g.EndEvent, stamp(g.Ended))
			default:
				f.fail(CheckTokensKnown, "token %s of %s is alive past its grant's expiry (%s)", tok.Accessor, g.Principal, stamp(g.ExpiresAt))
			}
			continue
		}
		// Not on record as a grant: it must come from an approval on
		// record whose process died or failed before the grant was
		// recorded, and must not outlive that tier's grant.
		a := t.Approvals[tok.ApprovalID]
		switch {
		case a == nil:
			f.fail(CheckTokensKnown, "token %s (policies %s) is alive and Gatekeeper's audit trail knows neither it nor its approval", tok.Accessor, strings.Join(tok.Policies, ","))
			continue
		case !tok.ExpireTime.IsZero() && tok.ExpireTime.Sub(tok.Created) > ttl[a.Tier]+tokenTTLSlack:
			f.fail(CheckTokenTTL, "token %s of %s, never delivered, lives %s, longer than a %s grant", tok.Accessor, a.Principal, tok.ExpireTime.Sub(tok.Created), a.Tier)
		}
		why := "minted, never delivered: the process was killed during the approval"
		if a.Outcome != "" {
			why = "minted, never delivered: the approval ended " + a.Outcome
		}
		left = append(left, Leftover{tok.Accessor, a.Principal, a.Tier, why, tok.ExpireTime})
	}
	slices.SortFunc(left, func(a, b Leftover) int { return a.ExpiresAt.Compare(b.ExpiresAt) })
	return left
}

// checkDead: every accessor given must be dead in Vault (after a graceful
// stop, or once leftovers are past their TTL). alive holds the ones still
// alive.
func checkDead(f *findings, check string, alive []Token, why func(Token) string) {
	f.pass(check)
	for _, tok := range alive {
		f.fail(check, "token %s is still alive: %s", tok.Accessor, why(tok))
	}
}

// UsageSample is one measurement of a Gatekeeper process at rest.
type UsageSample struct {
	Label  string
	Steady bool // counts in the growth check
	Usage
	TrailLive   int // live grants of the running process, per the audit trail
	TokensAlive int // agent tokens alive in Vault
	Leftovers   int // of those, tokens no live grant holds (listed in the report)
	LiveButDead int // live grants whose token Vault no longer honours (the agent fails closed)
	Lingering   int // agent tokens Vault still lists but refuses: revocation under way, or expired
}

// Growth limits within one process between its first and last sample at
// rest: the fleet's connections and sessions come and go a little; a leak
// per call or per fault does not stay this small.
const (
	goroutineSlack = 30
	fdSlack        = 15
	// Go's HTTP client holds a read and a write goroutine per connection.
	goroutinesPerConn = 2
)

// checkUsage compares, per process, the last steady sample with the first,
// not counting the connections to Vault: the client keeps idle connections
// for reuse, as many as requests were once in flight, so the pool grows
// after a quiet start and empties at a Vault restart. What the pool may
// hold is bounded instead: no more connections than agents calling at once
// (a connection leaked per call would pass that within seconds).
func checkUsage(f *findings, samples []UsageSample, agents int) {
	f.pass(CheckUsage)
	first := map[int]UsageSample{}
	last := map[int]UsageSample{}
	for _, s := range samples {
		if !s.Steady {
			continue
		}
		if s.VaultConns > agents {
			f.fail(CheckUsage, "process %d: %d connections to Vault (%s), more than the %d agents calling at once", s.Epoch, s.VaultConns, s.Label, agents)
		}
		if _, ok := first[s.Epoch]; !ok {
			first[s.Epoch] = s
		}
		last[s.Epoch] = s
	}
	for epoch, a := range first {
		b := last[epoch]
		if b.At.Equal(a.At) {
			continue
		}
		ga, gb := a.Goroutines-goroutinesPerConn*a.VaultConns, b.Goroutines-goroutinesPerConn*b.VaultConns
		if gb-ga > max(goroutineSlack, ga/10) {
			f.fail(CheckUsage, "process %d: goroutines grew from %d (%s) to %d (%s), not counting the connections to Vault", epoch, ga, a.Label, gb, b.Label)
		}
		fa, fb := a.FDs-a.VaultConns, b.FDs-b.VaultConns
		if fb-fa > max(fdSlack, fa/10) {
			f.fail(CheckUsage, "process %d: file descriptors grew from %d (%s) to %d (%s), not counting the connections to Vault", epoch, fa, a.Label, fb, b.Label)
		}
	}
}

func stamp(t time.Time) string { return t.Format("15:04:05.000") }
