package suite

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/bench"
)

func TestReportVerdicts(t *testing.T) {
	ms := time.Millisecond
	r := &Report{
		Options: Options{Runs: 3, Duration: 5 * time.Second, Warmup: time.Second, Agents: 100},
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Latency: latencyResults{
			Direct: bench.Summary{Label: "Vault direct", P50: 10 * ms, Runs: 3},
			Stdio:  bench.Summary{Label: "stdio", P50: 11 * ms, Runs: 3}, // 1.10: met
			HTTP:   bench.Summary{Label: "http", P50: 17 * ms, Runs: 3},  // 1.70: missed
		},
		Throughput: []throughputRow{
			{Agents: 10, Gatekeeper: bench.Summary{PerSecond: 10}, Direct: bench.Summary{PerSecond: 100}},
			{Agents: 100, Gatekeeper: bench.Summary{PerSecond: 850}, Direct: bench.Summary{PerSecond: 1000}, GatekeeperCPU: 300, VaultCPUViaGK: 400},
		},
		Idle:      []bench.IdleResult{{Sessions: 1000, RSS: 50 << 20, PerSession: 25000, Marginal: 25000}, {Sessions: 10000, RSS: 200 << 20, PerSession: 9000, Marginal: 8000}},
		Startup:   []time.Duration{20 * ms, 10 * ms, 30 * ms},
		Approvals: []time.Duration{12 * ms},
	}
	r.mark("start")
	r.mark("end")
	var b strings.Builder
	r.Write(&b)
	out := b.String()
	for _, want := range []string{
		"| stdio | 11.00 |", "**1.10** | ≤ 1.40 met |",
		"| http | 17.00 |", "**1.70** | ≤ 1.60 **missed** |",
		"| 10 | 10 | 100 | **0.10** |",
		"| 100 | 850 | 1000 | **0.85** |", "≥ 0.75 met; CPU 0.75 × Vault's, ≤ 0.50 **missed** |",
		"| 1000 | 50.0 | 25000 | 25000 | ≤ 10000 **missed** |",
		"| 10000 | 200.0 | 9000 | 8000 | ≤ 10000 met |",
		"| 20.00 ms | 20.00, 10.00, 30.00 |",
		"| 12.00 ms | 12.00 |", // the approval round trip
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	// Only the 100-agent row carries the throughput target.
	if strings.Count(out, "≥ 0.75") != 1 {
		t.Errorf("throughput target shown %d times", strings.Count(out, "≥ 0.75"))
	}
}

func TestInts(t *testing.T) {
	got, err := ints("1, 10,100")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{1, 10, 100}, got); diff != "" {
		t.Errorf("ints mismatch (-want +got):\n%s", diff)
	}
	if v, err := ints(""); v != nil || err != nil {
		t.Errorf(`ints("") = %v, %v`, v, err)
	}
	if _, err := ints("1,x"); err == nil {
		t.Error(`ints("1,x") succeeded`)
	}
}

func TestOptionsDefaultsAndValidate(t *testing.T) {
	quick := Options{Quick: true, Gatekeeper: "g", VaultBin: "v"}
	quick.defaults()
	if quick.Agents != 100 || quick.Runs != 1 || len(quick.Concurrency) != 3 || quick.validate() != nil {
		t.Errorf("quick defaults = %+v, %v", quick, quick.validate())
	}
	full := Options{Gatekeeper: "g", VaultBin: "v"}
	full.defaults()
	if full.Agents != 1000 || full.Runs != 3 || full.Concurrency[3] != 1000 || full.validate() != nil {
		t.Errorf("full defaults = %+v, %v", full, full.validate())
	}
	bad := Options{Agents: 10, Concurrency: []int{100}, Approvals: 10}
	bad.defaults()
	err := bad.validate()
	for _, want := range []string{"binaries", "concurrency 100", "fewer approvals"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validate() = %v, want it to mention %q", err, want)
		}
	}
}
