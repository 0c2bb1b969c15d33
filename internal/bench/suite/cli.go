package suite

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/bench"
)

// Usage is the help of the suite command.
const Usage = `Usage:
  gkbench suite --gatekeeper BIN --vault-bin BIN [--quick] [flags]

Measures Gatekeeper against a Vault dev server it starts on this machine:
read_secret latency over stdio and HTTP next to a direct Vault read,
throughput at several numbers of concurrent agents (HTTP, JWT), resident
size with idle sessions, start-up time and the approval round trip. Prints
markdown tables of the medians; progress goes to stderr. scripts/bench
builds the binaries and runs this.

Flags:
`

// Command is `gkbench suite`.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("suite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, Usage); fs.PrintDefaults() }
	o := Options{Log: stderr}
	fs.StringVar(&o.Gatekeeper, "gatekeeper", "", "the gatekeeper binary")
	fs.StringVar(&o.VaultBin, "vault-bin", "", "a Vault or OpenBao server binary (tools/vault/vault-bin prints one)")
	fs.BoolVar(&o.Quick, "quick", false, "a short smoke run: 100 agents, one run of 1s each")
	fs.IntVar(&o.Runs, "runs", 0, "runs of each measurement (default 3, quick 1)")
	fs.DurationVar(&o.Duration, "duration", 0, "length of each measured run (default 5s, quick 1s)")
	fs.DurationVar(&o.Warmup, "warmup", 0, "unmeasured calls before each run (default 1s, quick 0.5s)")
	fs.IntVar(&o.Agents, "agents", 0, "agents to set up (default 1000, quick 100)")
	concurrency := fs.String("concurrency", "", "concurrent agents for throughput (default 1,10,100,1000; quick 1,10,100)")
	idle := fs.String("idle", "", "idle session counts (default 1000,10000; quick 100,1000)")
	fs.BoolVar(&o.IdleSSE, "idle-sse", false, "also measure idle sessions with their SSE stream open (one run, the highest count)")
	fs.StringVar(&o.Profile, "profile", "", "write CPU and heap profiles of Gatekeeper here (the binary must be built with -tags pprof)")
	fs.Var(&envList{&o.GatekeeperEnv}, "gatekeeper-env", "K=V added to the Gatekeeper processes' environment (repeatable), e.g. GOGC=200")
	fs.StringVar(&o.Dir, "dir", "", "keep logs and audit files in this folder (default: a temporary one, removed)")
	timeout := fs.Duration("timeout", 45*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return bench.ErrUsage
	}
	var err error
	if o.Concurrency, err = ints(*concurrency); err != nil {
		fmt.Fprintf(stderr, "--concurrency: %v\n", err)
		return bench.ErrUsage
	}
	if o.IdleCounts, err = ints(*idle); err != nil {
		fmt.Fprintf(stderr, "--idle: %v\n", err)
		return bench.ErrUsage
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rep, err := Run(ctx, o)
	if err != nil {
		return err
	}
	rep.Write(stdout)
	return nil
}

type envList struct{ v *[]string }

func (e *envList) String() string {
	if e.v == nil {
		return ""
	}
	return strings.Join(*e.v, " ")
}

func (e *envList) Set(s string) error {
	if k, _, ok := strings.Cut(s, "="); !ok || k == "" {
		return fmt.Errorf("%q is not K=V", s)
	}
	*e.v = append(*e.v, s)
	return nil
}

// ints parses "1,10,100"; "" is nil (the defaults).
func ints(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for p := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", p)
		}
		out = append(out, n)
	}
	return out, nil
}
