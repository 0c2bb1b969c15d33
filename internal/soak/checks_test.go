package soak

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

// The checks get synthetic trails and observations here; the soak itself
// (soak_test.go, build tag soak) runs them on real ones.

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// trailOf numbers events in order, as the audit log does.
func trailOf(events ...Event) *Trail {
	epoch := 0
	for i := range events {
		events[i].Seq = uint64(i + 1)
		if events[i].Event == audit.ConfigLoaded {
			epoch++
		}
		events[i].Epoch = epoch
	}
	return NewTrail(events)
}

func loaded(s float64) Event { return Event{Time: at(s), Event: audit.ConfigLoaded, Outcome: "ok"} }

func issued(s float64, who, tier, acc string, ttl float64) Event {
	return Event{Time: at(s), Event: audit.GrantIssued, Outcome: "ok", Principal: who, Tier: tier, Accessor: acc, ApprovalID: "apr_" + acc, ExpiresAt: at(s + ttl)}
}

func ended(s float64, event, who, acc string) Event {
	return Event{Time: at(s), Event: event, Outcome: "ok", Principal: who, Accessor: acc}
}

func toolCall(s float64, tool, who, acc string, durMS int64) Event {
	return Event{Time: at(s), Event: audit.ToolCall, Outcome: "ok", Tool: tool, Principal: who, Accessor: acc, ElapsedMS: durMS}
}

func details(f *findings, check string) []string {
	var out []string
	for _, v := range f.violations {
		if v.Check == check {
			out = append(out, v.Detail)
		}
	}
	return out
}

func TestCheckGrantUse(t *testing.T) {
	tests := []struct {
		name   string
		events []Event
		want   string // in the one violation; "" for none
	}{
		{"ok", []Event{loaded(0), issued(1, "a", "read", "r1", 30), toolCall(2, "read_secret", "a", "r1", 5)}, ""},
		{"ok/began-before-issue", []Event{loaded(0), issued(3, "a", "read", "r1", 30), toolCall(3.1, "read_secret", "a", "r1", 2500)}, ""},
		{"ok/in-flight-at-release", []Event{loaded(0), issued(1, "a", "write", "w1", 15), ended(5, audit.GrantReleased, "a", "w1"),
			toolCall(5.1, "write_secret", "a", "w1", 200)}, ""},
		{"ok/read-with-write-grant", []Event{loaded(0), issued(1, "a", "write", "w1", 15), toolCall(2, "read_secret", "a", "w1", 5)}, ""},
		{"ok/no-grant-tools", []Event{loaded(0), toolCall(2, "token_status", "a", "", 1)}, ""},
		{"fail/no-accessor", []Event{loaded(0), toolCall(2, "read_secret", "a", "", 5)}, "without a grant"},
		{"fail/unknown-accessor", []Event{loaded(0), toolCall(2, "read_secret", "a", "zz", 5)}, "no grant.issued names"},
		{"fail/other-agent", []Event{loaded(0), issued(1, "b", "read", "r1", 30), toolCall(2, "read_secret", "a", "r1", 5)}, "used a grant of b"},
		{"fail/earlier-process", []Event{loaded(0), issued(1, "a", "read", "r1", 30), loaded(5), toolCall(6, "read_secret", "a", "r1", 5)},
			"in process 2 used a grant of process 1"},
		{"fail/before-issue", []Event{loaded(0), toolCall(0.5, "read_secret", "a", "r1", 5), issued(1, "a", "read", "r1", 30)}, "before its grant"},
		{"fail/write-with-read", []Event{loaded(0), issued(1, "a", "read", "r1", 30), toolCall(2, "write_secret", "a", "r1", 5)}, "with a read grant"},
		{"fail/after-release", []Event{loaded(0), issued(1, "a", "read", "r1", 30), ended(2, audit.GrantReleased, "a", "r1"),
			toolCall(4, "read_secret", "a", "r1", 5)}, "after its grant ended (grant.released)"},
		{"fail/after-expiry", []Event{loaded(0), issued(1, "a", "read", "r1", 30), toolCall(40, "read_secret", "a", "r1", 5)}, "(expired)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFindings()
			checkGrantUse(f, trailOf(tc.events...))
			got := details(f, CheckGrantUse)
			if tc.want == "" {
				if len(got) > 0 {
					t.Fatalf("violations: %q", got)
				}
				return
			}
			if len(got) != 1 || !strings.Contains(got[0], tc.want) {
				t.Fatalf("violations %q, want one containing %q", got, tc.want)
			}
		})
	}
}

func TestClassifyTokens(t *testing.T) {
	ttl := map[string]time.Duration{"read": 30 * time.Second, "write": 15 * time.Second}
	trail := trailOf(
		loaded(0),
		issued(1, "a", "read", "killed", 30), // process 1 dies with it
		issued(1, "b", "read", "failed", 30),
		Event{Time: at(2), Event: audit.RevokeFailed, Outcome: "failed", Principal: "b", Accessor: "failed"},
		Event{Time: at(3), Event: audit.ApprovalRequested, Outcome: "ok", Principal: "c", Tier: "read", ApprovalID: "apr_lost"},
		loaded(5),
		issued(6, "a", "read", "live", 30),
		issued(6, "b", "read", "released", 30),
		ended(7, audit.GrantReleased, "b", "released"),
	)
	tok := func(acc, approval string, created, expires float64) Token {
		return Token{Accessor: acc, Alive: true, Policies: []string{"gatekeeper-x-read"}, ApprovalID: approval, Created: at(created), ExpireTime: at(expires)}
	}
	tests := []struct {
		name  string
		token Token
		now   float64
		why   string // the leftover's reason; "" for none
		fail  string // the violation; "" for none
	}{
		{"ok/live", tok("live", "apr_live", 6, 36), 10, "", ""},
		{"ok/killed-within-ttl", tok("killed", "apr_killed", 1, 31), 10, "left by process 1 (killed)", ""},
		{"ok/revoke-failed-within-ttl", tok("failed", "apr_failed", 1, 31), 10, "revocation failed", ""},
		{"ok/never-delivered", tok("x", "apr_lost", 3, 33), 10, "minted, never delivered: the process was killed", ""},
		{"ok/infrastructure", Token{Accessor: "root", Alive: true, Policies: []string{"root"}}, 10, "", ""},
		{"fail/killed-past-ttl", tok("killed", "apr_killed", 1, 31), 40, "", "past its grant's expiry"},
		{"fail/released-but-alive", tok("released", "apr_released", 6, 36), 10, "", "ended with grant.released"},
		{"fail/unknown", tok("x", "apr_nobody", 3, 33), 10, "", "knows neither it nor its approval"},
		{"fail/outlives-grant", tok("live", "apr_live", 6, 60), 10, "", "after its grant"},
		{"fail/never-delivered-too-long", tok("x", "apr_lost", 3, 63), 10, "minted, never delivered: the process was killed", "longer than a read grant"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFindings()
			left := classifyTokens(f, trail, []Token{tc.token}, 2, at(tc.now), ttl)
			var why string
			if len(left) == 1 {
				why = left[0].Why
			}
			if !strings.HasPrefix(why, tc.why) || (tc.why == "") != (len(left) == 0) {
				t.Errorf("leftovers %+v, want one saying %q", left, tc.why)
			}
			var fails []string
			for _, v := range f.violations {
				fails = append(fails, v.Detail)
			}
			if tc.fail == "" && len(fails) > 0 || tc.fail != "" && (len(fails) != 1 || !strings.Contains(fails[0], tc.fail)) {
				t.Errorf("violations %q, want %q", fails, tc.fail)
			}
		})
	}
}

func TestCheckCalls(t *testing.T) {
	values := map[string]map[string]bool{"a000": {"soak-canary-a000-aa": true}}
	down := Fault{Kind: FaultVaultSeal, Start: at(10), End: at(14), Recovered: at(14.5)}
	read := func(who string, kind Kind, path, value string, start, end float64) Call {
		return Call{Agent: who, Kind: kind, Tool: "read_secret", Path: path, OK: true, Value: value, Start: at(start), End: at(end)}
	}
	tests := []struct {
		name string
		call Call
		want string
	}{
		{"ok", read("a000", Writer, "db", "soak-canary-a000-aa", 1, 2), ""},
		{"ok/straddles-the-fault", read("a000", Writer, "db", "soak-canary-a000-aa", 9.9, 10.2), ""},
		{"ok/refused", Call{Agent: "a009", Kind: Denied, Tool: "read_secret", Start: at(1), End: at(2)}, ""},
		{"fail/other-agents-value", read("a000", Writer, "db", "soak-canary-a001-bb", 1, 2), "not its own (a value of a001)"},
		{"fail/outside-folder", read("a000", Writer, "../a001/db", "soak-canary-a001-bb", 1, 2), "outside its folder"},
		{"fail/denied", read("a009", Denied, "db", "soak-canary-a009-cc", 1, 2), "(denied) succeeded"},
		{"fail/reader-wrote", Call{Agent: "a008", Kind: Reader, Tool: "write_secret", OK: true, Start: at(1), End: at(2)}, "(read-only) succeeded"},
		{"fail/while-sealed", read("a000", Writer, "db", "soak-canary-a000-aa", 11, 12), "during vault-seal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFindings()
			checkCalls(f, []Call{tc.call}, values, []Fault{down})
			var got []string
			for _, v := range f.violations {
				got = append(got, v.Detail)
			}
			if tc.want == "" && len(got) > 0 || tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)) {
				t.Errorf("violations %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCheckRecovery(t *testing.T) {
	faults := []Fault{
		{Kind: FaultGatekeeperKill, Start: at(10), End: at(12), Recovered: at(12)},
		{Kind: FaultVaultRestart, Start: at(30), End: at(34), Recovered: at(35)},
	}
	calls := []Call{
		{Tool: "read_secret", OK: true, Start: at(11), End: at(13)}, // began before the repair: does not count
		{Tool: "read_secret", OK: true, Start: at(14), End: at(16.5)},
		{Tool: "read_secret", OK: true, Start: at(14), End: at(15.5)},
		{Tool: "read_secret", OK: false, Start: at(36), End: at(37)},
	}
	f := newFindings()
	got := checkRecovery(f, calls, faults, at(60))
	if want := at(15.5); !got[0].FirstRead.Equal(want) {
		t.Errorf("first read after the kill = %v, want %v", got[0].FirstRead, want)
	}
	if v := details(f, CheckRecovery); len(v) != 1 || !strings.Contains(v[0], "end of vault-restart") {
		t.Errorf("violations %q, want one for the restart nobody recovered from", v)
	}
}

func TestCheckUsage(t *testing.T) {
	sample := func(label string, s float64, epoch, goroutines, fds int) UsageSample {
		return UsageSample{Label: label, Steady: true, Usage: Usage{At: at(s), Epoch: epoch, Goroutines: goroutines, FDs: fds}}
	}
	pooled := func(label string, s float64, epoch, goroutines, fds, conns int) UsageSample {
		u := sample(label, s, epoch, goroutines, fds)
		u.VaultConns = conns
		return u
	}
	tests := []struct {
		name    string
		samples []UsageSample
		want    []string
	}{
		{"ok", []UsageSample{sample("start", 0, 1, 400, 180), sample("end", 9, 1, 420, 185)}, nil},
		{"ok/per-process", []UsageSample{sample("start", 0, 1, 400, 180), sample("after kill", 5, 2, 900, 400), sample("end", 9, 2, 905, 402)}, nil},
		{"ok/not-steady", []UsageSample{{Label: "just after kill", Usage: Usage{At: at(5), Epoch: 2, Goroutines: 20, FDs: 12}},
			sample("after kill", 6, 2, 900, 400), sample("end", 9, 2, 905, 402)}, nil},
		{"fail/goroutines", []UsageSample{sample("start", 0, 1, 400, 180), sample("end", 9, 1, 500, 180)},
			[]string{"process 1: goroutines grew from 400 (start) to 500 (end), not counting the connections to Vault"}},
		{"fail/fds", []UsageSample{sample("start", 0, 1, 100, 50), sample("mid", 5, 1, 100, 60), sample("end", 9, 1, 100, 70)},
			[]string{"process 1: file descriptors grew from 50 (start) to 70 (end), not counting the connections to Vault"}},
		// The soak's own numbers: the pool of idle connections to Vault warmed
		// up after the first sample.
		{"ok/pool-warms-up", []UsageSample{pooled("warm-up", 0, 1, 409, 202, 4), pooled("end", 9, 1, 533, 267, 62)}, nil},
		{"ok/pool-emptied-by-restart", []UsageSample{pooled("start", 0, 1, 525, 263, 60), pooled("after vault-restart", 9, 1, 417, 208, 5)}, nil},
		{"fail/growth-beside-the-pool", []UsageSample{pooled("start", 0, 1, 409, 202, 4), pooled("end", 9, 1, 600, 300, 62)},
			[]string{
				"process 1: goroutines grew from 401 (start) to 476 (end), not counting the connections to Vault",
				"process 1: file descriptors grew from 198 (start) to 238 (end), not counting the connections to Vault",
			}},
		{"fail/pool-beyond-agents", []UsageSample{pooled("start", 0, 1, 400, 180, 10), pooled("end", 9, 1, 700, 330, 160)},
			[]string{"process 1: 160 connections to Vault (end), more than the 100 agents calling at once"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFindings()
			checkUsage(f, tc.samples, 100)
			if diff := cmp.Diff(tc.want, details(f, CheckUsage)); diff != "" {
				t.Errorf("violations mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScanFiles(t *testing.T) {
	canary := NewCanary("a000")
	random := canary[strings.LastIndexByte(canary, '-')+1:]
	tests := []struct {
		name string
		text string
		want string
	}{
		{"ok", `{"event":"tool.call","principal":"a000","mac":"` + strings.Repeat("ab", 32) + `"}` + "\n", ""},
		{"fail/value", "line one\nread " + canary + "\n", "line 2 holds a secret value"},
		{"fail/random-part", `{"detail":"` + random + `"}`, "the random part of a secret value"},
		{"fail/needle", "key=gk_topsecretkey", "holds the API key of a000"},
		{"fail/vault-token", `token: "hvs.CAESIJ0123456789abcdefghijklmnop"`, "shaped like a token (hvs.…)"},
		{"fail/openbao-token", "auth s.0123456789abcdefghijklmn ok", "shaped like a token (s.01…)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gatekeeper-1.stderr")
			if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			f := newFindings()
			if _, err := scanFiles(f, []string{path}, []Needle{{"the API key of a000", "gk_topsecretkey"}}, map[string]bool{canary: true}); err != nil {
				t.Fatal(err)
			}
			got := details(f, CheckSecrets)
			if tc.want == "" && len(got) > 0 || tc.want != "" && (len(got) == 0 || !strings.Contains(got[0], tc.want)) {
				t.Errorf("violations %q, want first %q", got, tc.want)
			}
			for _, d := range got {
				if strings.Contains(d, canary) || strings.Contains(d, "gk_topsecretkey") {
					t.Errorf("the report repeats the secret: %q", d)
				}
			}
		})
	}
}

func TestReadTrailNumbersProcesses(t *testing.T) {
	var b strings.Builder
	for _, e := range []Event{loaded(0), issued(1, "a", "read", "r1", 30), loaded(5), issued(6, "a", "read", "r2", 30)} {
		line, _ := json.Marshal(e)
		b.Write(line)
		b.WriteByte('\n')
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	events, err := ReadTrail(path)
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTrail(events)
	got := map[string]int{}
	for acc, g := range tr.Grants {
		got[acc] = g.Epoch
	}
	if diff := cmp.Diff(map[string]int{"r1": 1, "r2": 2}, got); diff != "" {
		t.Errorf("epochs mismatch (-want +got):\n%s", diff)
	}
	if live := tr.Live(2, at(10)); len(live) != 1 || live[0].Accessor != "r2" {
		t.Errorf("live grants of process 2 at 10s = %v", live)
	}
}

func TestPlanHasEveryFault(t *testing.T) {
	for _, d := range []time.Duration{45 * time.Second, 75 * time.Second, 3 * time.Minute, 10 * time.Minute} {
		p := makePlan(d)
		seen := map[string]bool{}
		for _, k := range p.faults {
			seen[k] = true
		}
		if len(seen) != 3 {
			t.Errorf("%s: faults %v, want every kind", d, p.faults)
		}
		if total := p.warmup + time.Duration(len(p.faults))*p.slot + p.tail; total > d || d-total > time.Second {
			t.Errorf("%s: the plan takes %s", d, total)
		}
		if p.slot < 10*time.Second {
			t.Errorf("%s: slots of %s leave no time to recover", d, p.slot)
		}
	}
}

func TestFleetHasEveryKind(t *testing.T) {
	for _, n := range []int{3, 10, 100} {
		kinds := map[Kind]int{}
		for _, s := range fleetSpecs(n) {
			kinds[s.Kind]++
		}
		if kinds[Writer] == 0 || kinds[Reader] == 0 || kinds[Denied] == 0 {
			t.Errorf("%d agents: %v", n, kinds)
		}
	}
}

func TestMarkdownVerdict(t *testing.T) {
	r := &Report{Options: Options{Agents: 10, Duration: time.Minute}, Ran: map[string]bool{CheckGrantUse: true}, Counts: map[string]int{}}
	if md := r.Markdown(); !strings.HasPrefix(md, "# Gatekeeper soak: PASS") || !strings.Contains(md, "| calls-on-live-grants | pass |") {
		t.Errorf("passing report:\n%s", md)
	}
	r.Violations = []Violation{{CheckGrantUse, "seq 9: read_secret by a000 used a grant of a001"}}
	r.Counts[CheckGrantUse] = 1
	if md := r.Markdown(); !strings.HasPrefix(md, "# Gatekeeper soak: FAIL (1 violations)") || !strings.Contains(md, "used a grant of a001") {
		t.Errorf("failing report:\n%s", md)
	}
}
