package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// IdleResult is a server's resident size with Sessions idle sessions open.
type IdleResult struct {
	Sessions int
	RSS      int64
	// PerSession is (RSS - the resident size before any session) / Sessions:
	// it includes what the first sessions cost once (buffers, pools).
	PerSession int64
	// Marginal is what each session added since the previous count (the
	// first count: PerSession).
	Marginal int64
}

// IdleSessions opens sessions on t until each count in counts (ascending)
// is reached, and reads pid's resident size at each, settle after the last
// session opened. The sessions stay open until closeAll is called.
func IdleSessions(ctx context.Context, t *Target, pid int, counts []int, settle time.Duration) (out []IdleResult, closeAll func(), err error) {
	if !slices.IsSorted(counts) || len(counts) == 0 || counts[0] < 1 {
		return nil, func() {}, errors.New("session counts must be ascending and positive")
	}
	if t.URL == "" {
		return nil, func() {}, errors.New("idle sessions are measured over HTTP: a stdio session is a process of its own")
	}
	var open []*mcp.ClientSession
	closeAll = func() {
		for _, s := range open {
			_ = s.Close()
		}
		t.CloseIdle()
	}
	if err := sleep(ctx, settle); err != nil {
		return nil, closeAll, err
	}
	before, err := RSS(pid)
	if err != nil {
		return nil, closeAll, err
	}
	for _, n := range counts {
		more, err := sessionsFrom(ctx, t, len(open), n-len(open), "", nil)
		for _, s := range more {
			if s != nil {
				open = append(open, s)
			}
		}
		if err != nil {
			return nil, closeAll, err
		}
		// Connections that no session needs any more (keep-alive ones
		// left by the handshakes) are not part of a session.
		t.CloseIdle()
		if err := sleep(ctx, settle); err != nil {
			return nil, closeAll, err
		}
		rss, err := RSS(pid)
		if err != nil {
			return nil, closeAll, err
		}
		r := IdleResult{Sessions: n, RSS: rss, PerSession: (rss - before) / int64(n)}
		r.Marginal = r.PerSession
		if len(out) > 0 {
			prev := out[len(out)-1]
			r.Marginal = (rss - prev.RSS) / int64(n-prev.Sessions)
		}
		out = append(out, r)
	}
	return out, closeAll, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// IdleUsage is the help of the idle command.
const IdleUsage = `Usage:
  gkbench idle --url URL [--header "Name: value"]... --pid PID [--sessions 1000,10000] [flags]

Opens MCP sessions on a Streamable HTTP server, leaves them idle, and reads
the server process's resident size (VmRSS from /proc/PID/status) at each
count: the bytes each idle session costs. The server must run on this
machine.

Flags:
`

// IdleCommand is `gkbench idle`.
func IdleCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("idle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, IdleUsage); fs.PrintDefaults() }
	var f runFlags
	fs.StringVar(&f.url, "url", "", "the MCP server's Streamable HTTP endpoint")
	fs.Var(&f.headers, "header", `"Name: value" sent with every HTTP request (repeatable)`)
	fs.StringVar(&f.headersFile, "headers-file", "", `a file of "Name: value" lines, one per session (session i uses line i mod n)`)
	fs.StringVar(&f.protocol, "protocol", SessionProtocol, "MCP protocol version to ask for (sessions exist from 2025-11-25 down)")
	fs.BoolVar(&f.sse, "sse", false, "open the standalone SSE stream of each session, as interactive clients do")
	pid := fs.Int("pid", 0, "the server's process id")
	counts := fs.String("sessions", "1000,10000", "session counts to measure at, ascending, comma-separated")
	settle := fs.Duration("settle", 3*time.Second, "wait this long before each reading")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return ErrUsage
	}
	var ns []int
	for c := range strings.SplitSeq(*counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil {
			fmt.Fprintf(stderr, "--sessions: %q is not a number\n", c)
			return ErrUsage
		}
		ns = append(ns, n)
	}
	if *pid <= 0 || f.url == "" {
		fmt.Fprintln(stderr, "--url and --pid are required")
		return ErrUsage
	}
	t, err := f.mcpTarget(stderr)
	if err != nil {
		return err
	}
	res, closeAll, err := IdleSessions(ctx, t, *pid, ns, *settle)
	defer closeAll()
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, IdleHeader)
	for _, r := range res {
		WriteIdleRow(stdout, "", r)
	}
	return nil
}

// IdleHeader is the header of the table WriteIdleRow writes.
const IdleHeader = "| what | idle sessions | resident MB | bytes per session | bytes per added session |\n|---|---:|---:|---:|---:|\n"

// WriteIdleRow writes r as one markdown row.
func WriteIdleRow(w io.Writer, label string, r IdleResult) {
	if label == "" {
		label = "idle sessions"
	}
	fmt.Fprintf(w, "| %s | %d | %.1f | %d | %d |\n", escapeCell(label), r.Sessions, float64(r.RSS)/(1<<20), r.PerSession, r.Marginal)
}
