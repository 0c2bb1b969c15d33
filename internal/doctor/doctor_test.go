package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/clock"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

func ok(detail string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return detail, nil }
}

func TestRun(t *testing.T) {
	rep := Run(t.Context(), []Check{
		{Name: "a", Run: ok("fine")},
		{Name: "b", Run: func(context.Context) (string, error) { return "", Fail("do this", "broken: %w", errors.New("cause")) }},
		{Name: "c", Needs: []string{"b"}, Run: ok("never run")},
		{Name: "d", Run: func(context.Context) (string, error) { return "", Skip("not here") }},
		{Name: "e", Needs: []string{"a"}, Run: func(context.Context) (string, error) { return "", errors.New("no fix given") }},
	})
	want := Report{OK: false, Checks: []Result{
		{Name: "a", Status: OK, Detail: "fine"},
		{Name: "b", Status: Failed, Detail: "broken: cause", Fix: "do this"},
		{Name: "c", Status: Skipped, Detail: "needs b"},
		{Name: "d", Status: Skipped, Detail: "not here"},
		{Name: "e", Status: Failed, Detail: "no fix given", Fix: "see the detail; gatekeeper doctor --json shows every check"},
	}}
	if diff := cmp.Diff(want, rep); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
	if f, failing := rep.Failure(); !failing || f.Name != "b" {
		t.Errorf("Failure() = %v, %v, want b", f, failing)
	}

	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(text.String(), "\n")
	if len(lines) < 5 || !strings.HasPrefix(lines[1], "FAIL  b  ") || !strings.HasSuffix(lines[1], "broken: cause -> fix: do this") {
		t.Errorf("text report:\n%s", text.String())
	}
	if !strings.Contains(text.String(), "2 check(s) failed: b, e") {
		t.Errorf("text report has no summary:\n%s", text.String())
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rep, back); diff != "" {
		t.Errorf("JSON round trip mismatch (-want +got):\n%s", diff)
	}
}

// The gate runs its checks again at most once per interval while one
// fails, and never again once they all pass.
func TestGate(t *testing.T) {
	fake := clock.NewFake(time.Unix(1_800_000_000, 0))
	var runs atomic.Int32
	var broken atomic.Bool
	broken.Store(true)
	g := NewGate([]Check{{Name: "vault", Run: func(context.Context) (string, error) {
		runs.Add(1)
		if broken.Load() {
			return "", Fail("start it", "gone")
		}
		return "back", nil
	}}}, GateOptions{Interval: 10 * time.Second, Now: fake.Now})

	for range 3 {
		r, failing := g.Failure(t.Context())
		if !failing || r.Name != "vault" || r.Fix != "start it" {
			t.Fatalf("Failure() = %+v, %v, want the vault check failing", r, failing)
		}
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("ran %d times within the interval, want once", n)
	}
	broken.Store(false)
	fake.Advance(9 * time.Second)
	if _, failing := g.Failure(t.Context()); !failing || runs.Load() != 1 {
		t.Errorf("within the interval: failing %v after %d runs, want the last failure and no new run", failing, runs.Load())
	}
	fake.Advance(time.Second)
	if r, failing := g.Failure(t.Context()); failing {
		t.Errorf("after the interval, Vault back: Failure() = %+v", r)
	}
	broken.Store(true)
	fake.Advance(time.Hour)
	if _, failing := g.Failure(t.Context()); failing || runs.Load() != 2 {
		t.Errorf("once passed: failing %v after %d runs, want open and 2 runs", failing, runs.Load())
	}
}

// A caller that gives up waiting is told the checks are still running.
func TestGateCallerGivesUp(t *testing.T) {
	release := make(chan struct{})
	g := NewGate([]Check{{Name: "slow", Run: func(context.Context) (string, error) { <-release; return "", nil }}}, GateOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r, failing := g.Failure(ctx)
	close(release)
	if !failing || r.Name != "startup" || r.Fix == "" {
		t.Errorf("Failure() = %+v, %v, want the still-running answer", r, failing)
	}
}

// The clock check against a real Vault: this machine's clock as is, and
// set two minutes off either way.
func TestClock(t *testing.T) {
	srv := vaulttest.Start(t)
	vc := vaulttest.Client(t, srv)
	for _, tc := range []struct {
		name   string
		offset time.Duration
		want   Status
		way    []string // the Date header has whole seconds: a second either way
	}{
		{"ok", 0, OK, nil},
		{"fail/vault-behind", 2 * time.Minute, Failed, []string{"1m59s behind", "2m0s behind", "2m1s behind"}},
		{"fail/vault-ahead", -2 * time.Minute, Failed, []string{"1m59s ahead of", "2m0s ahead of", "2m1s ahead of"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := func() time.Time { return time.Now().Add(tc.offset) }
			rep := Run(t.Context(), []Check{{Name: NameVault, Run: ok("")}, Clock(vc, now)})
			r := rep.Checks[1]
			if r.Status != tc.want {
				t.Fatalf("clock = %+v, want %s", r, tc.want)
			}
			if tc.want == Failed && (!slices.ContainsFunc(tc.way, func(w string) bool { return strings.Contains(r.Detail, w) }) || !strings.Contains(r.Fix, "NTP")) {
				t.Errorf("clock = %+v, want the skew and the NTP fix", r)
			}
		})
	}
}
