package suite

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/bench"
)

// The targets, issue 18's (relative to Vault in the same run, so that they
// travel between machines).
const (
	targetStdioRatio  = 1.40  // p50 Gatekeeper over stdio / direct, at most
	targetHTTPRatio   = 1.60  // p50 Gatekeeper over HTTP / direct, at most
	targetThroughput  = 0.75  // Gatekeeper / direct calls per second at 100 agents, at least
	targetCPURatio    = 0.50  // Gatekeeper's CPU per call / Vault's through it, at 100 agents, at most
	targetThroughputN = 100   // at this many agents
	targetIdleBytes   = 10000 // bytes per idle session, at most
)

// Report is everything a suite run measured.
type Report struct {
	Options Options
	Machine Machine
	Started time.Time
	Elapsed time.Duration
	// Setup is how long gatekeeper setup took for all the agents.
	Setup      time.Duration
	Startup    []time.Duration
	Approvals  []time.Duration
	Latency    latencyResults
	Throughput []throughputRow
	Idle       []bench.IdleResult
	IdleSSE    []bench.IdleResult
	// IdleRuntime is the Go runtime at the highest idle count, per run.
	IdleRuntime    []goRuntime
	IdleSSERuntime *goRuntime
	// loads are the load averages when each part began, in order.
	loads []partLoad
}

type latencyResults struct {
	Direct, Stdio, HTTP bench.Summary
	// HTTPSessionless is HTTP with the newer sessionless protocol; HTTP
	// is the session-based one (2025-11-25) most clients speak.
	HTTPSessionless bench.Summary
}

type throughputRow struct {
	Agents             int
	Gatekeeper, Direct bench.Summary
	// CPU microseconds per call, medians over the runs.
	GatekeeperCPU, VaultCPUViaGK, VaultCPUDirect float64
	ClientCPUViaGK, ClientCPUDirect              float64
}

// Machine describes where the numbers were taken.
type Machine struct {
	CPU     string
	Cores   int
	RAM     string
	Kernel  string
	Go      string
	Vault   string
	LoadAvg string
}

func describeMachine(vaultBin string) Machine {
	m := Machine{CPU: "unknown", Cores: runtime.NumCPU(), RAM: "unknown", Go: runtime.Version(), Vault: "unknown"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		_ = f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(v); len(f) == 2 {
					if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
						m.RAM = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
					}
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if out, err := exec.Command(vaultBin, "version").Output(); err == nil {
		// "Vault v1.19.0, built …": the name and version only.
		m.Vault, _, _ = strings.Cut(strings.TrimSpace(string(out)), ",")
	}
	return m
}

// loadAvg is the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func ms(d time.Duration) string { return bench.Millis(d) }

// Write prints the report as markdown.
func (r *Report) Write(w io.Writer) {
	o := r.Options
	mode := "full"
	if o.Quick {
		mode = "quick"
	}
	m := r.Machine
	fmt.Fprintf(w, "### Results (%s run, %s, medians of %d runs of %s after a %s warm-up)\n\n",
		mode, r.Started.UTC().Format("2006-01-02"), o.Runs, o.Duration, o.Warmup)
	fmt.Fprintf(w, "Machine: %s, %d cores, %s RAM, %s; %s; %s. Load average (1, 5, 15 min) at the start %s, at the end %s. Took %s.\n\n",
		m.CPU, m.Cores, m.RAM, m.Kernel, m.Go, m.Vault, r.load(0), r.load(len(r.loads)-1), r.Elapsed.Round(time.Second))
	if len(r.loads) > 2 {
		var parts []string
		for _, l := range r.loads[1 : len(r.loads)-1] {
			parts = append(parts, l.part+" "+l.load)
		}
		fmt.Fprintf(w, "Load average (1 min) as each part began: %s.\n\n", strings.Join(parts, "; "))
	}

	l := r.Latency
	fmt.Fprint(w, "**read_secret latency, one client calling in a loop**\n\n")
	fmt.Fprint(w, "| path | p50 ms | p90 ms | p99 ms | calls/s | p50 / direct | target |\n|---|---:|---:|---:|---:|---:|---|\n")
	fmt.Fprintf(w, "| Vault direct (OpenBao API client, KV v2 read) | %s | %s | %s | %.0f | 1.00 | |\n",
		ms(l.Direct.P50), ms(l.Direct.P90), ms(l.Direct.P99), l.Direct.PerSecond)
	for _, x := range []struct {
		s      bench.Summary
		target float64
	}{{l.Stdio, targetStdioRatio}, {l.HTTP, targetHTTPRatio}} {
		rt := ratio(float64(x.s.P50), float64(l.Direct.P50))
		fmt.Fprintf(w, "| %s | %s | %s | %s | %.0f | **%.2f** | ≤ %.2f %s |\n",
			x.s.Label, ms(x.s.P50), ms(x.s.P90), ms(x.s.P99), x.s.PerSecond, rt, x.target, verdict(rt <= x.target))
	}
	if m := l.HTTPSessionless; m.Runs > 0 {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %.0f | %.2f | |\n",
			m.Label, ms(m.P50), ms(m.P90), ms(m.P99), m.PerSecond, ratio(float64(m.P50), float64(l.Direct.P50)))
	}
	fmt.Fprintln(w)

	fmt.Fprint(w, "**Throughput: N agents calling at once over HTTP (JWT), one session, grant and Vault token each; direct: N clients with their own tokens**\n\n")
	fmt.Fprint(w, "| agents | Gatekeeper calls/s | direct calls/s | Gatekeeper / direct | Gatekeeper p50 / p99 ms | direct p50 / p99 ms | CPU µs per call: Gatekeeper, Vault (through it), client | CPU µs per call direct: Vault, client | target |\n")
	fmt.Fprint(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, t := range r.Throughput {
		rt := ratio(t.Gatekeeper.PerSecond, t.Direct.PerSecond)
		target := ""
		if t.Agents == targetThroughputN {
			cpu := ratio(t.GatekeeperCPU, t.VaultCPUViaGK)
			target = fmt.Sprintf("≥ %.2f %s; CPU %.2f × Vault's, ≤ %.2f %s", targetThroughput, verdict(rt >= targetThroughput),
				cpu, targetCPURatio, verdict(cpu <= targetCPURatio))
		}
		fmt.Fprintf(w, "| %d | %.0f | %.0f | **%.2f** | %s / %s | %s / %s | %.0f, %.0f, %.0f | %.0f, %.0f | %s |\n",
			t.Agents, t.Gatekeeper.PerSecond, t.Direct.PerSecond, rt, ms(t.Gatekeeper.P50), ms(t.Gatekeeper.P99),
			ms(t.Direct.P50), ms(t.Direct.P99), t.GatekeeperCPU, t.VaultCPUViaGK, t.ClientCPUViaGK, t.VaultCPUDirect, t.ClientCPUDirect, target)
	}
	fmt.Fprintln(w)
	for _, t := range r.Throughput {
		for _, s := range []bench.Summary{t.Gatekeeper, t.Direct} {
			if s.Errors > 0 {
				fmt.Fprintf(w, "%d errors at %d agents (%s), the first: %v\n\n", s.Errors, t.Agents, s.Label, s.FirstError)
			}
		}
	}

	fmt.Fprint(w, "**Memory: idle authenticated MCP sessions (protocol 2025-11-25, JWT), resident size of a fresh process**\n\n")
	fmt.Fprint(w, "| idle sessions | resident MB | bytes per session (resident size added / sessions) | bytes per session added since the row above | target |\n|---:|---:|---:|---:|---|\n")
	for _, x := range r.Idle {
		fmt.Fprintf(w, "| %d | %.1f | %d | %d | ≤ %d %s |\n", x.Sessions, mb(x.RSS), x.PerSession, x.Marginal, targetIdleBytes, verdict(x.PerSession <= targetIdleBytes))
	}
	for _, x := range r.IdleSSE {
		fmt.Fprintf(w, "| %d, each with its SSE stream open (one connection each) | %.1f | %d | | |\n", x.Sessions, mb(x.RSS), x.PerSession)
	}
	fmt.Fprintln(w)
	if len(r.IdleRuntime) > 0 && len(r.Idle) > 0 {
		top := r.Idle[len(r.Idle)-1].Sessions
		var gor, heap, stack []int64
		for _, g := range r.IdleRuntime {
			gor, heap, stack = append(gor, g.Goroutines), append(heap, g.HeapInuse), append(stack, g.StackInuse)
		}
		fmt.Fprintf(w, "At %d idle sessions the Go runtime reports %d goroutines, %.1f MB of heap in use and %.1f MB of goroutine stacks (medians).",
			top, bench.Median(gor), mb(bench.Median(heap)), mb(bench.Median(stack)))
		if g := r.IdleSSERuntime; g != nil {
			fmt.Fprintf(w, " With the SSE streams open: %d goroutines, %.1f MB heap, %.1f MB stacks.", g.Goroutines, mb(g.HeapInuse), mb(g.StackInuse))
		}
		fmt.Fprint(w, "\n\n")
	}

	fmt.Fprint(w, "**Start-up and approval**\n\n| what | median | all runs |\n|---|---:|---|\n")
	fmt.Fprintf(w, "| start-up: exec of `gatekeeper serve --http` to the first 200 from /readyz | %s ms | %s |\n", ms(medianDur(r.Startup)), list(r.Startup))
	if len(r.Approvals) > 0 {
		fmt.Fprintf(w, "| approval round trip: `authenticate` with no grant, the Duo fake approving at once (its status call long-polls, as Duo's does) | %s ms | %s |\n", ms(medianDur(r.Approvals)), list(r.Approvals))
	}
	fmt.Fprintf(w, "| `gatekeeper setup --brokered` for %d agents (%d runs at once, each for its own agents) | %s | |\n",
		o.Agents, setupWorkers, r.Setup.Round(time.Second))
	fmt.Fprintln(w)
}

type partLoad struct{ part, load string }

// mark notes the load average as part begins.
func (r *Report) mark(part string) {
	l := loadAvg()
	if part != "start" && part != "end" {
		l, _, _ = strings.Cut(l, " ")
	}
	r.loads = append(r.loads, partLoad{part, l})
}

func (r *Report) load(i int) string {
	if i < 0 || i >= len(r.loads) {
		return "unknown"
	}
	return r.loads[i].load
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

func medianDur(d []time.Duration) time.Duration { return bench.Median(d) }

func list(d []time.Duration) string {
	var parts []string
	for _, x := range d {
		parts = append(parts, ms(x))
	}
	return strings.Join(parts, ", ")
}
