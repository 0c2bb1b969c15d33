package soak

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/child"
)

// Gatekeeper runs `gatekeeper serve --http` on a fixed loopback port, so a
// restarted process is where the agents left the last one.
type Gatekeeper struct {
	bin    string
	dir    string
	config string
	env    []string
	addr   string // 127.0.0.1:PORT

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	exit   error
	starts int
	// ending is set while the run itself ends the process; an exit
	// without it is a crash.
	ending     bool
	unexpected []string
	logs       []string
}

// NewGatekeeper prepares a Gatekeeper that serves with the config file and
// environment given; Start runs it.
func NewGatekeeper(bin, dir, config string, env []string) (*Gatekeeper, error) {
	port, err := child.FreePort()
	if err != nil {
		return nil, err
	}
	return &Gatekeeper{bin: bin, dir: dir, config: config, env: env, addr: fmt.Sprintf("127.0.0.1:%d", port)}, nil
}

// URL is the base URL agents connect to (MCP is at URL()+"/mcp").
func (g *Gatekeeper) URL() string { return "http://" + g.addr }

// Epoch is the number of processes started so far: 1 for the first.
func (g *Gatekeeper) Epoch() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.starts
}

// Logs lists every file a process wrote its stdout and stderr to.
func (g *Gatekeeper) Logs() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.logs...)
}

// PID is the running process's id.
func (g *Gatekeeper) PID() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cmd == nil || g.cmd.Process == nil {
		return 0
	}
	return g.cmd.Process.Pid
}

// Start runs a new process and waits until it listens.
func (g *Gatekeeper) Start(ctx context.Context) error {
	g.mu.Lock()
	n := g.starts + 1
	g.mu.Unlock()
	errPath := filepath.Join(g.dir, fmt.Sprintf("gatekeeper-%d.stderr", n))
	outPath := filepath.Join(g.dir, fmt.Sprintf("gatekeeper-%d.stdout", n))
	errFile, err := os.Create(errPath)
	if err != nil {
		return fmt.Errorf("creating the gatekeeper log: %w", err)
	}
	outFile, err := os.Create(outPath)
	if err != nil {
		_ = errFile.Close()
		return fmt.Errorf("creating the gatekeeper log: %w", err)
	}
	cmd := exec.Command(g.bin, "serve", "--http", g.addr, "--config", g.config)
	cmd.Env = g.env
	cmd.Dir = g.dir
	cmd.Stderr = errFile
	cmd.SysProcAttr = sysProcAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		_ = errFile.Close()
		_ = outFile.Close()
		return fmt.Errorf("starting gatekeeper: %w", err)
	}
	if err := cmd.Start(); err != nil {
		_ = errFile.Close()
		_ = outFile.Close()
		return fmt.Errorf("starting gatekeeper: %w", err)
	}
	listening := make(chan struct{})
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			_, _ = io.WriteString(outFile, line+"\n")
			if strings.HasPrefix(line, "gatekeeper: listening on ") {
				once.Do(func() { close(listening) })
			}
		}
	}()
	exited := make(chan struct{})
	g.mu.Lock()
	g.cmd, g.exited, g.exit, g.ending = cmd, exited, nil, false
	g.starts = n
	g.logs = append(g.logs, errPath, outPath)
	g.mu.Unlock()
	go func() {
		<-copied // Wait must not close the pipe before everything was read
		err := cmd.Wait()
		_ = errFile.Close()
		_ = outFile.Close()
		g.mu.Lock()
		g.exit = err
		if !g.ending {
			g.unexpected = append(g.unexpected, fmt.Sprintf("process %d exited by itself: %v", n, err))
		}
		g.mu.Unlock()
		close(exited)
	}()
	select {
	case <-listening:
		return nil
	case <-exited:
		return fmt.Errorf("gatekeeper exited while starting; see %s", errPath)
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(60 * time.Second):
		return fmt.Errorf("gatekeeper did not listen within a minute; see %s", errPath)
	}
}

// Kill ends the process with SIGKILL and waits for it: no revocation, no
// closing of the audit log.
func (g *Gatekeeper) Kill() {
	g.mu.Lock()
	cmd, exited := g.cmd, g.exited
	g.ending = true
	g.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Stop asks the process to stop (SIGTERM), which revokes every grant, and
// waits up to a minute. It returns the process's exit error.
func (g *Gatekeeper) Stop() error {
	g.mu.Lock()
	cmd, exited := g.cmd, g.exited
	g.ending = true
	g.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sigterm)
	select {
	case <-exited:
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-exited
		return errors.New("gatekeeper did not stop within a minute of SIGTERM")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.exit
}

// Crashes lists the processes that exited without being told to.
func (g *Gatekeeper) Crashes() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.unexpected...)
}

// Usage is what one process holds at one moment.
type Usage struct {
	Epoch      int
	At         time.Time // when /metrics answered
	Goroutines int
	FDs        int
	LiveGrants int // gatekeeper_live_grants, summed over tiers
	// VaultConns are the process's TCP connections to Vault: the client's
	// pool of idle connections, kept for reuse, grows to the highest number
	// of requests in flight and shrinks after 90 s idle or a Vault restart.
	VaultConns int
}

// Usage reads the process's goroutines and live grants from /metrics and
// counts its file descriptors in /proc (or, without /proc, from the
// process_open_fds metric).
func (g *Gatekeeper) Usage(ctx context.Context) (Usage, error) {
	u := Usage{Epoch: g.Epoch()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.URL()+"/metrics", nil)
	if err != nil {
		return u, err
	}
	before := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return u, fmt.Errorf("reading /metrics: %w", err)
	}
	u.At = before.Add(time.Since(before) / 2)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return u, fmt.Errorf("reading /metrics: status %d", resp.StatusCode)
	}
	m, err := parseMetrics(resp.Body)
	if err != nil {
		return u, err
	}
	u.Goroutines = int(m["go_goroutines"])
	u.FDs = int(m["process_open_fds"])
	for name, v := range m {
		if strings.HasPrefix(name, "gatekeeper_live_grants{") {
			u.LiveGrants += int(v)
		}
	}
	if n, err := openFDs(g.PID()); err == nil {
		u.FDs = n
	}
	return u, nil
}

// parseMetrics reads the Prometheus text format: name{labels} value.
func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading /metrics: %w", err)
	}
	return out, nil
}
