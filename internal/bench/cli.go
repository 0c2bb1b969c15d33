package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// ErrUsage means the arguments were wrong; the problem has been printed.
var ErrUsage = errors.New("usage")

// RunUsage is the help of the run command.
const RunUsage = `Usage:
  gkbench run --stdio "CMD ARGS" [--env K=V]... --tool NAME [--args JSON] [flags]
  gkbench run --url URL [--header "Name: value"]... --tool NAME [--args JSON] [flags]
  gkbench run --direct-vault ADDR --token-file FILE --kv MOUNT/PATH [flags]

Calls one MCP tool with fixed arguments from --clients concurrent clients,
after a warm-up, for --duration or --count calls, --runs times, and prints
one markdown table row of the medians: p50/p90/p99 latency and calls per
second. With --direct-vault it reads the KV v2 secret MOUNT/PATH straight
from Vault with the OpenBao API client instead, as the baseline.

Flags:
`

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ", ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// runFlags are the run command's settings.
type runFlags struct {
	stdio, url             string
	env, headers           stringList
	headersFile            string
	tool, args             string
	setupTool, setupArgs   string
	protocol               string
	sse                    bool
	clients, sessions      int
	duration, warmup       time.Duration
	count, runs            int
	label                  string
	noHeader               bool
	directVault, tokenFile string
	kv                     string
}

// RunCommand is `gkbench run`.
func RunCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, RunUsage); fs.PrintDefaults() }
	var f runFlags
	fs.StringVar(&f.stdio, "stdio", "", "the MCP server's command line, served over stdio (one process per session)")
	fs.Var(&f.env, "env", "K=V added to the stdio server's environment (repeatable)")
	fs.StringVar(&f.url, "url", "", "the MCP server's Streamable HTTP endpoint")
	fs.Var(&f.headers, "header", `"Name: value" sent with every HTTP request (repeatable)`)
	fs.StringVar(&f.headersFile, "headers-file", "", `a file of "Name: value" lines, one per session (session i uses line i mod n): one identity per session`)
	fs.StringVar(&f.tool, "tool", "", "the tool to call")
	fs.StringVar(&f.args, "args", "{}", "the tool's arguments, a JSON object")
	fs.StringVar(&f.setupTool, "setup-tool", "", "a tool each session calls once before measuring (e.g. to obtain access)")
	fs.StringVar(&f.setupArgs, "setup-args", "{}", "the setup tool's arguments, a JSON object")
	fs.StringVar(&f.protocol, "protocol", SessionProtocol, `MCP protocol version to ask for ("" for the SDK's newest)`)
	fs.BoolVar(&f.sse, "sse", false, "HTTP: open the standalone SSE stream of each session, as interactive clients do")
	fs.IntVar(&f.clients, "clients", 1, "concurrent clients, each calling in a loop")
	fs.IntVar(&f.sessions, "sessions", 0, "MCP sessions the clients share (default: one per client over HTTP, one over stdio)")
	fs.DurationVar(&f.duration, "duration", 0, "measure for this long (default 10s unless --count)")
	fs.IntVar(&f.count, "count", 0, "measure this many calls in total instead of a duration")
	fs.DurationVar(&f.warmup, "warmup", 2*time.Second, "unmeasured calls first, for this long")
	fs.IntVar(&f.runs, "runs", 3, "measure this many times and report the medians")
	fs.StringVar(&f.label, "label", "", "the row's first cell (default: the tool and transport)")
	fs.BoolVar(&f.noHeader, "no-header", false, "print the row only, without the table header")
	fs.StringVar(&f.directVault, "direct-vault", "", "measure a direct Vault read at this address instead of an MCP server")
	fs.StringVar(&f.tokenFile, "token-file", "", "with --direct-vault: a file of Vault tokens, one per line (client i uses line i mod n)")
	fs.StringVar(&f.kv, "kv", "", "with --direct-vault: the KV v2 secret to read, MOUNT/PATH")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return ErrUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return ErrUsage
	}
	if f.duration == 0 && f.count == 0 {
		f.duration = 10 * time.Second
	}
	load := LoadOptions{Clients: f.clients, Duration: f.duration, Count: f.count, Warmup: f.warmup}
	if err := errors.Join(load.Validate(), positive("runs", f.runs)); err != nil {
		fmt.Fprintln(stderr, err)
		return ErrUsage
	}
	call, label, closeFn, err := f.target(ctx, stderr)
	if err != nil {
		return err
	}
	defer closeFn()
	if f.label != "" {
		label = f.label
	}
	var results []Result
	for i := range f.runs {
		r, err := Load(ctx, load, call)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "run %d/%d: %d calls, %d errors, p50 %s ms, p99 %s ms, %.0f calls/s\n",
			i+1, f.runs, r.Calls, r.Errors, Millis(r.P50), Millis(r.P99), r.PerSecond())
		results = append(results, r)
	}
	s := Summarize(label, results)
	if s.FirstError != nil {
		fmt.Fprintf(stderr, "first error: %v\n", s.FirstError)
	}
	if !f.noHeader {
		fmt.Fprint(stdout, TableHeader)
	}
	return WriteRow(stdout, s)
}

func positive(name string, v int) error {
	if v < 1 {
		return fmt.Errorf("%s must be at least 1", name)
	}
	return nil
}

// target builds the measured call from the flags: a direct Vault read, or
// a tool call on connected sessions.
func (f *runFlags) target(ctx context.Context, stderr io.Writer) (Call, string, func(), error) {
	if f.directVault != "" {
		if f.stdio != "" || f.url != "" {
			fmt.Fprintln(stderr, "--direct-vault measures Vault itself: give no --stdio or --url")
			return nil, "", nil, ErrUsage
		}
		tokens, err := readLines(f.tokenFile)
		if err != nil {
			return nil, "", nil, fmt.Errorf("--token-file: %w", err)
		}
		mount, path, err := ParseKV(f.kv)
		if err != nil {
			return nil, "", nil, fmt.Errorf("--kv: %w", err)
		}
		call, err := DirectVault{Addr: f.directVault, Tokens: tokens, Mount: mount, Paths: []string{path}}.Call(f.clients)
		if err != nil {
			return nil, "", nil, err
		}
		return call, "Vault direct", func() {}, nil
	}
	t, err := f.mcpTarget(stderr)
	if err != nil {
		return nil, "", nil, err
	}
	if f.tool == "" {
		fmt.Fprintln(stderr, "--tool is required")
		return nil, "", nil, ErrUsage
	}
	args, setupArgs, err := jsonObjects(f.args, f.setupArgs)
	if err != nil {
		return nil, "", nil, err
	}
	n := f.sessions
	if n == 0 {
		n = 1
		if t.URL != "" {
			n = f.clients
		}
	}
	sessions, err := Sessions(ctx, t, n, f.setupTool, setupArgs)
	closeAll := func() {
		for _, s := range sessions {
			if s != nil {
				_ = s.Close()
			}
		}
	}
	if err != nil {
		closeAll()
		return nil, "", nil, err
	}
	return ToolCall(sessions, f.tool, args), f.tool + " over " + t.String(), closeAll, nil
}

func (f *runFlags) mcpTarget(stderr io.Writer) (*Target, error) {
	t := &Target{Env: f.env, URL: f.url, Protocol: f.protocol, StandaloneSSE: f.sse, Stderr: stderr}
	if f.stdio != "" {
		words, err := SplitCommand(f.stdio)
		if err != nil {
			return nil, fmt.Errorf("--stdio: %w", err)
		}
		t.Command = words
	}
	h, err := parseHeaders(f.headers)
	if err != nil {
		return nil, err
	}
	t.Headers = h
	if f.headersFile != "" {
		lines, err := readLines(f.headersFile)
		if err != nil {
			return nil, fmt.Errorf("--headers-file: %w", err)
		}
		for _, l := range lines {
			h, err := parseHeaders([]string{l})
			if err != nil {
				return nil, fmt.Errorf("--headers-file: %w", err)
			}
			t.SessionHeaders = append(t.SessionHeaders, h)
		}
	}
	if err := t.Validate(); err != nil {
		fmt.Fprintln(stderr, err)
		return nil, ErrUsage
	}
	return t, nil
}

func jsonObjects(in ...string) (json.RawMessage, json.RawMessage, error) {
	out := make([]json.RawMessage, len(in))
	for i, s := range in {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			return nil, nil, fmt.Errorf("tool arguments must be a JSON object: %w", err)
		}
		out[i] = json.RawMessage(s)
	}
	return out[0], out[1], nil
}

func parseHeaders(lines []string) (http.Header, error) {
	h := http.Header{}
	for _, l := range lines {
		name, value, ok := strings.Cut(l, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, errors.New(`a header must be "Name: value"`)
		}
		h.Add(name, value)
	}
	return h, nil
}

// readLines reads the non-empty lines of a file.
func readLines(path string) ([]string, error) {
	if path == "" {
		return nil, errors.New("no file given")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("the file is empty")
	}
	return out, nil
}
