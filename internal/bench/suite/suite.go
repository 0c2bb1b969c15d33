package suite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/bench"
	"github.com/gatekeeper-mcp/gatekeeper/internal/devvault"
)

// Options configure a suite run. Gatekeeper and VaultBin are required;
// the rest has defaults (Quick picks smaller ones).
type Options struct {
	Gatekeeper string // the gatekeeper binary
	VaultBin   string // a Vault or OpenBao server binary
	Quick      bool
	// Runs of each measurement; the table shows medians.
	Runs             int
	Duration, Warmup time.Duration
	// Agents set up (each its own identity, grant and Vault token); the
	// highest concurrency is at most this.
	Agents      int
	Concurrency []int
	IdleCounts  []int
	// IdleSSE also measures idle sessions with their standalone SSE
	// stream open, once, at the highest count.
	IdleSSE bool
	// Starts and Approvals are how many start-ups and approval round trips
	// are timed.
	Starts, Approvals int
	// Dir keeps the work files (logs, audit files) there; "" uses a
	// temporary folder, removed at the end.
	Dir string
	// Profile, if set, is a folder for CPU and heap profiles of the
	// Gatekeeper processes; the binary must be built with -tags pprof.
	Profile string
	// GatekeeperEnv is added to the Gatekeeper processes' environment
	// (GOGC=200, GOMAXPROCS=1, …), to compare settings.
	GatekeeperEnv []string
	// Log receives progress lines.
	Log io.Writer
}

func (o *Options) defaults() {
	def := func(v *int, quick, full int) {
		if *v == 0 {
			*v = full
			if o.Quick {
				*v = quick
			}
		}
	}
	defDur := func(v *time.Duration, quick, full time.Duration) {
		if *v == 0 {
			*v = full
			if o.Quick {
				*v = quick
			}
		}
	}
	def(&o.Runs, 1, 3)
	def(&o.Agents, 100, 1000)
	def(&o.Starts, 2, 5)
	def(&o.Approvals, 2, 5)
	defDur(&o.Duration, time.Second, 5*time.Second)
	defDur(&o.Warmup, 500*time.Millisecond, time.Second)
	if o.Concurrency == nil {
		o.Concurrency = []int{1, 10, 100, 1000}
		if o.Quick {
			o.Concurrency = []int{1, 10, 100}
		}
	}
	if o.IdleCounts == nil {
		o.IdleCounts = []int{1000, 10000}
		if o.Quick {
			o.IdleCounts = []int{100, 1000}
		}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

func (o *Options) validate() error {
	var errs []error
	if o.Gatekeeper == "" || o.VaultBin == "" {
		errs = append(errs, errors.New("the gatekeeper and Vault binaries are required"))
	}
	for _, c := range o.Concurrency {
		if c < 1 || c > o.Agents {
			errs = append(errs, fmt.Errorf("concurrency %d is not between 1 and the %d agents", c, o.Agents))
		}
	}
	if o.Approvals >= o.Agents {
		errs = append(errs, errors.New("fewer approvals than agents, please"))
	}
	return errors.Join(errs...)
}

func (o *Options) logf(format string, args ...any) {
	fmt.Fprintf(o.Log, "bench: "+format+"\n", args...)
}

// readArgs are read_secret's arguments: every agent reads its own "db".
var readArgs = json.RawMessage(`{"path":"` + secretPath + `"}`)

// Run runs every measurement and returns the report.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	dir := o.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "gkbench-")
		if err != nil {
			return nil, err
		}
		defer func() { _ = os.RemoveAll(tmp) }()
		dir = tmp
	}
	rep := &Report{Options: o, Started: time.Now(), Machine: describeMachine(o.VaultBin)}
	rep.mark("start")

	o.logf("starting Vault and the Duo fake")
	v, err := devvault.Start(ctx, o.VaultBin)
	if err != nil {
		return nil, err
	}
	defer v.Stop()
	d, stopDuo := startDuo()
	defer stopDuo()
	f, err := newFleet(ctx, o.Gatekeeper, dir, o.Profile, v, d, o.Agents, o.logf)
	if err != nil {
		return nil, err
	}
	f.extraEnv = o.GatekeeperEnv
	rep.Setup = f.setupTook

	rep.mark("start-up")
	if err := rep.measureStartup(ctx, &o, f); err != nil {
		return nil, err
	}

	o.logf("starting gatekeeper serve --http and connecting %d agents", o.Agents)
	gk, err := f.startHTTP(ctx, "http")
	if err != nil {
		return nil, err
	}
	defer gk.stop()
	sessions, err := bench.Sessions(ctx, f.httpTarget(gk), o.Agents, "", nil)
	defer closeSessions(sessions)
	if err != nil {
		return nil, err
	}
	if err := rep.measureApprovals(ctx, &o, sessions); err != nil {
		return nil, err
	}
	o.logf("approving read access for the other %d agents at once", o.Agents-o.Approvals)
	err = parallel(ctx, o.Agents-o.Approvals, 1000, func(i int) error {
		return bench.CallOnce(ctx, sessions[o.Approvals+i], "authenticate", nil)
	})
	if err != nil {
		return nil, fmt.Errorf("authenticating the agents: %w", err)
	}

	stdioTarget, stdioLog, err := f.stdioTarget("stdio")
	if err != nil {
		return nil, err
	}
	defer func() { _ = stdioLog.Close() }()
	stdio, err := bench.Sessions(ctx, stdioTarget, 1, "authenticate", nil)
	defer closeSessions(stdio)
	if err != nil {
		return nil, fmt.Errorf("gatekeeper over stdio: %w", err)
	}

	// The same agent over the sessionless protocol (2026-07-28), which the
	// SDK's clients ask for first.
	sessionless := f.httpTarget(gk)
	sessionless.Protocol = ""
	modern, err := bench.Sessions(ctx, sessionless, 1, "", nil)
	defer closeSessions(modern)
	if err != nil {
		return nil, fmt.Errorf("the sessionless protocol: %w", err)
	}
	rep.mark("latency")
	if err := rep.measureLatency(ctx, &o, f, sessions, stdio[0], modern[0]); err != nil {
		return nil, err
	}
	if err := rep.measureThroughput(ctx, &o, f, gk, sessions); err != nil {
		return nil, err
	}
	// Everything the HTTP process allocated so far (alloc_space).
	if err := f.saveProfile(ctx, "http", "allocs", 0, "allocs-http.pprof"); err != nil {
		o.logf("profile: %v", err)
	}
	closeSessions(stdio)
	rep.mark("memory")
	if err := rep.measureIdle(ctx, &o, f); err != nil {
		return nil, err
	}
	rep.mark("end")
	rep.Elapsed = time.Since(rep.Started)
	return rep, nil
}

// profileDuring starts a CPU profile of process name for d (after the
// warm-up, which measureCPU runs first: the profile starts at once and
// so covers the end of the warm-up and most of the measured part); the
// returned function waits for it.
func (f *fleet) profileDuring(ctx context.Context, name string, d time.Duration, file string) func() error {
	done := make(chan error, 1)
	go func() { done <- f.saveProfile(ctx, name, "profile", max(1, int(d.Seconds())), file) }()
	return func() error { return <-done }
}

func closeSessions(s []*mcp.ClientSession) {
	for _, cs := range s {
		if cs != nil {
			_ = cs.Close()
		}
	}
}

// measureStartup times fresh processes from exec to /readyz 200.
func (r *Report) measureStartup(ctx context.Context, o *Options, f *fleet) error {
	o.logf("timing %d start-ups", o.Starts)
	for i := range o.Starts {
		p, err := f.startHTTP(ctx, fmt.Sprintf("start-%d", i))
		if err != nil {
			return err
		}
		r.Startup = append(r.Startup, p.ready)
		p.stop()
	}
	return nil
}

// measureApprovals times authenticate for agents that hold no grant, one
// after the other: push, the fake's answer at the first poll, minting the
// token, the audit records, the MCP round trip.
func (r *Report) measureApprovals(ctx context.Context, o *Options, sessions []*mcp.ClientSession) error {
	o.logf("timing %d approval round trips", o.Approvals)
	for i := range o.Approvals {
		t0 := time.Now()
		if err := bench.CallOnce(ctx, sessions[i], "authenticate", nil); err != nil {
			return fmt.Errorf("approval round trip: %w", err)
		}
		r.Approvals = append(r.Approvals, time.Since(t0))
	}
	return nil
}

// measureLatency: one client calling in a loop, direct and through
// Gatekeeper over stdio and HTTP, the runs interleaved so that a noisy
// moment hits all three alike.
func (r *Report) measureLatency(ctx context.Context, o *Options, f *fleet, sessions []*mcp.ClientSession, stdio, sessionless *mcp.ClientSession) error {
	direct, err := f.directCall(1)
	if err != nil {
		return err
	}
	load := bench.LoadOptions{Clients: 1, Duration: o.Duration, Warmup: o.Warmup}
	var d, s, h, m []bench.Result
	for run := range o.Runs {
		o.logf("latency, run %d/%d", run+1, o.Runs)
		for _, m := range []struct {
			out     *[]bench.Result
			call    bench.Call
			process string // to profile
		}{
			{&d, direct, ""},
			{&s, bench.ToolCall([]*mcp.ClientSession{stdio}, "read_secret", readArgs), "stdio"},
			{&h, bench.ToolCall(sessions[:1], "read_secret", readArgs), "http"},
			{&m, bench.ToolCall([]*mcp.ClientSession{sessionless}, "read_secret", readArgs), ""},
		} {
			stopProfile := func() error { return nil }
			if run == 0 && m.process != "" {
				stopProfile = f.profileDuring(ctx, m.process, o.Duration+o.Warmup, "cpu-latency-"+m.process+".pprof")
			}
			res, err := bench.Load(ctx, load, m.call)
			if perr := stopProfile(); perr != nil {
				o.logf("profile: %v", perr)
			}
			if err != nil {
				return err
			}
			*m.out = append(*m.out, res)
		}
	}
	r.Latency = latencyResults{
		Direct:          bench.Summarize("Vault direct", d),
		Stdio:           bench.Summarize("Gatekeeper, stdio", s),
		HTTP:            bench.Summarize("Gatekeeper, HTTP + JWT", h),
		HTTPSessionless: bench.Summarize("Gatekeeper, HTTP + JWT, sessionless protocol (2026-07-28)", m),
	}
	return nil
}

// directCall reads agent i's secret with agent i's baseline token, for
// clients 0..n-1.
func (f *fleet) directCall(n int) (bench.Call, error) {
	var paths []string
	for _, a := range f.agents[:n] {
		paths = append(paths, "agent/"+a+"/"+secretPath)
	}
	return bench.DirectVault{Addr: f.vault.Addr, Tokens: f.direct[:n], Mount: "secret", Paths: paths}.Call(n)
}

// measureThroughput: n agents calling at once over HTTP, each on its own
// session with its own JWT, grant and Vault token, against n direct
// clients with their own tokens; with the CPU each process used per call.
func (r *Report) measureThroughput(ctx context.Context, o *Options, f *fleet, gk *process, sessions []*mcp.ClientSession) error {
	for _, n := range o.Concurrency {
		r.mark(fmt.Sprintf("%d agents", n))
		direct, err := f.directCall(n)
		if err != nil {
			return err
		}
		load := bench.LoadOptions{Clients: n, Duration: o.Duration, Warmup: o.Warmup}
		row := throughputRow{Agents: n}
		var g, d []bench.Result
		var gkCPU, vaultViaGK, vaultDirect, clientGK, clientDirect []float64
		for run := range o.Runs {
			o.logf("throughput at %d agents, run %d/%d (load %s)", n, run+1, o.Runs, loadAvg())
			stopProfile := func() error { return nil }
			if run == 0 {
				stopProfile = f.profileDuring(ctx, "http", o.Duration, fmt.Sprintf("cpu-http-%d.pprof", n))
			}
			res, cpu, err := measureCPU(ctx, load, bench.ToolCall(sessions[:n], "read_secret", readArgs), gk.pid(), f.vault.PID())
			if perr := stopProfile(); perr != nil {
				o.logf("profile: %v", perr)
			}
			if err != nil {
				return err
			}
			g = append(g, res)
			gkCPU, vaultViaGK, clientGK = append(gkCPU, cpu[0]), append(vaultViaGK, cpu[1]), append(clientGK, cpu[2])
			res, cpu, err = measureCPU(ctx, load, direct, gk.pid(), f.vault.PID())
			if err != nil {
				return err
			}
			d = append(d, res)
			vaultDirect, clientDirect = append(vaultDirect, cpu[1]), append(clientDirect, cpu[2])
		}
		row.Gatekeeper = bench.Summarize("Gatekeeper", g)
		row.Direct = bench.Summarize("Vault direct", d)
		row.GatekeeperCPU = bench.Median(gkCPU)
		row.VaultCPUViaGK = bench.Median(vaultViaGK)
		row.VaultCPUDirect = bench.Median(vaultDirect)
		row.ClientCPUViaGK = bench.Median(clientGK)
		row.ClientCPUDirect = bench.Median(clientDirect)
		r.Throughput = append(r.Throughput, row)
	}
	return nil
}

// measureCPU runs load and returns the CPU microseconds per successful
// call of the Gatekeeper process, the Vault process and this process.
func measureCPU(ctx context.Context, load bench.LoadOptions, call bench.Call, gkPID, vaultPID int) (bench.Result, [3]float64, error) {
	pids := [3]int{gkPID, vaultPID, os.Getpid()}
	var before, after [3]time.Duration
	read := func(into *[3]time.Duration) error {
		for i, pid := range pids {
			t, err := bench.CPUTime(pid)
			if err != nil {
				return err
			}
			into[i] = t
		}
		return nil
	}
	// The warm-up is not part of the CPU figures either.
	if load.Warmup > 0 {
		if _, err := bench.Load(ctx, bench.LoadOptions{Clients: load.Clients, Duration: load.Warmup}, call); err != nil {
			return bench.Result{}, [3]float64{}, err
		}
		load.Warmup = 0
	}
	if err := read(&before); err != nil {
		return bench.Result{}, [3]float64{}, err
	}
	res, err := bench.Load(ctx, load, call)
	if err != nil {
		return bench.Result{}, [3]float64{}, err
	}
	if err := read(&after); err != nil {
		return bench.Result{}, [3]float64{}, err
	}
	var per [3]float64
	for i := range per {
		if res.Calls > 0 {
			per[i] = float64((after[i] - before[i]).Microseconds()) / float64(res.Calls)
		}
	}
	return res, per, nil
}

// measureIdle: a fresh process per run (so the heap the load left behind
// is not counted), sessions opened with the agents' JWTs and left idle.
func (r *Report) measureIdle(ctx context.Context, o *Options, f *fleet) error {
	byCount := map[int][]bench.IdleResult{}
	for run := range o.Runs {
		o.logf("idle sessions %v, run %d/%d", o.IdleCounts, run+1, o.Runs)
		res, rt, err := f.idleRun(ctx, fmt.Sprintf("idle-%d", run), o.IdleCounts, false)
		if err != nil {
			return err
		}
		r.IdleRuntime = append(r.IdleRuntime, *rt)
		for _, x := range res {
			byCount[x.Sessions] = append(byCount[x.Sessions], x)
		}
	}
	for _, n := range o.IdleCounts {
		r.Idle = append(r.Idle, medianIdle(byCount[n]))
	}
	if o.IdleSSE {
		top := o.IdleCounts[len(o.IdleCounts)-1]
		o.logf("idle sessions with their SSE stream open, %d", top)
		res, rt, err := f.idleRun(ctx, "idle-sse", []int{top}, true)
		if err != nil {
			return err
		}
		r.IdleSSE, r.IdleSSERuntime = res, rt
	}
	return nil
}

// idleRun measures idle sessions on a fresh process, and the Go runtime's
// view of it at the highest count.
func (f *fleet) idleRun(ctx context.Context, name string, counts []int, sse bool) ([]bench.IdleResult, *goRuntime, error) {
	p, err := f.startHTTP(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	defer p.stop()
	t := f.httpTarget(p)
	t.StandaloneSSE = sse
	res, closeAll, err := bench.IdleSessions(ctx, t, p.pid(), counts, 3*time.Second)
	defer closeAll()
	if err != nil {
		return nil, nil, err
	}
	rt, err := runtimeStats(ctx, p.url)
	if err != nil {
		return nil, nil, err
	}
	for _, kind := range []string{"heap", "goroutine"} {
		if err := f.saveProfile(ctx, name, kind, 0, kind+"-"+name+".pprof"); err != nil {
			return nil, nil, err
		}
	}
	return res, &rt, nil
}

func medianIdle(runs []bench.IdleResult) bench.IdleResult {
	var rss, per, marginal []int64
	for _, r := range runs {
		rss, per, marginal = append(rss, r.RSS), append(per, r.PerSession), append(marginal, r.Marginal)
	}
	out := bench.IdleResult{RSS: bench.Median(rss), PerSession: bench.Median(per), Marginal: bench.Median(marginal)}
	if len(runs) > 0 {
		out.Sessions = runs[0].Sessions
	}
	return out
}
