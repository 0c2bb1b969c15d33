package main_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/nodetest"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// devRun is one `gatekeeper dev` at a terminal.
type devRun struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *lockedBuffer
	stderr *lockedBuffer
	exited chan struct{} // closed once err is set
	err    error
	once   sync.Once
}

// startDev runs `gatekeeper dev args…` as a developer would, in a scratch
// HOME, and waits until it says how to stop it.
func startDev(t *testing.T, args ...string) *devRun {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"dev"}, args...)...)
	cmd.Env = slicesDeleteEmpty([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "GATEKEEPER_VAULT_BIN=" + os.Getenv("GATEKEEPER_VAULT_BIN"), "GATEKEEPER_CACHE_DIR=" + os.Getenv("GATEKEEPER_CACHE_DIR")})
	d := &devRun{t: t, cmd: cmd, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	d.stdin, _ = cmd.StdinPipe()
	cmd.Stdout, cmd.Stderr = d.stdout, d.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.err = cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		if d.stop() != nil || t.Failed() {
			t.Logf("gatekeeper dev stdout:\n%s\nstderr:\n%s", d.stdout, d.stderr)
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(d.stdout.String(), "Press Ctrl-C to stop") {
		select {
		case <-d.exited:
			t.Fatalf("gatekeeper dev exited: %v\n%s", d.err, d.stderr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("gatekeeper dev printed no connection line:\n%s\n%s", d.stdout, d.stderr)
		}
	}
	return d
}

// stop presses Ctrl-C and waits for the exit.
func (d *devRun) stop() error {
	d.once.Do(func() {
		_ = d.cmd.Process.Signal(os.Interrupt)
		select {
		case <-d.exited:
		case <-time.After(time.Minute):
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
	})
	return d.err
}

// clientLine is the Claude Code line dev printed.
func (d *devRun) clientLine() string {
	d.t.Helper()
	m := regexp.MustCompile(`(?m)^  (claude mcp .*)$`).FindStringSubmatch(d.stdout.String())
	if m == nil {
		d.t.Fatalf("no claude mcp line:\n%s", d.stdout)
	}
	return m[1]
}

// registerTwice pastes line twice, from two folders, for one Claude Code
// user, and returns the server it registered as gatekeeper.
func registerTwice(t *testing.T, line string) map[string]any {
	t.Helper()
	user := nodetest.NewClaudeUser(t)
	user.Paste(t, line)
	user.Paste(t, line)
	return user.UserServer(t, "gatekeeper")
}

// TestDevWithDevApprover runs `gatekeeper dev --approver dev` as a developer
// would: connect the agent it prints, answer its prompts on the terminal.
func TestDevWithDevApprover(t *testing.T) {
	t.Parallel()
	d := startDev(t, "--approver", "dev")
	a := connectRegistered(t, registerTwice(t, d.clientLine()), d.stderr)

	answer := func(reply string) {
		t.Helper()
		waitFor(t, 20*time.Second, func() bool {
			out := d.stdout.String()
			return strings.Count(out, "Approve? [y/N]") > strings.Count(out, "approved\n")+strings.Count(out, "denied\n")
		})
		if _, err := io.WriteString(d.stdin, reply+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan result, 1)
	go func() { done <- a.call("authenticate", nil) }()
	answer("y")
	if r := <-done; r.isError || r.out["tier"] != "read" {
		t.Fatalf("authenticate approved at the terminal: %+v", r)
	}
	got := a.ok("read_secret", map[string]any{"path": "demo/database"})
	if got["data"].(map[string]any)["username"] != "app" {
		t.Errorf("read_secret = %v", got)
	}
	// Credentials to try: a certificate from the dev PKI, and (PostgreSQL
	// is installed here, as scripts/test installs it) a database login.
	cert := a.ok("issue_credential", map[string]any{"name": "web-cert", "common_name": "app.dev.internal"})
	if data, _ := cert["data"].(map[string]any); !strings.Contains(str(data["certificate"]), "BEGIN CERTIFICATE") {
		t.Errorf("issue_credential web-cert = %v", cert)
	}
	db := a.ok("issue_credential", map[string]any{"name": "app-db"})
	if data, _ := db["data"].(map[string]any); str(data["username"]) == "" || db["lease_id"] == "" {
		t.Errorf("issue_credential app-db = %v", db)
	}
	go func() { done <- a.call("escalate", map[string]any{"reason": "try a write"}) }()
	answer("n")
	if r := <-done; !r.isError || !strings.Contains(r.text, "denied") {
		t.Errorf("escalate denied at the terminal: %+v", r)
	}

	// The terminal shows the requests in frames, and nothing of the
	// logs or the audit trail, which are in the file dev named.
	out := d.stdout.String()
	for _, want := range []string{"╭─ Gatekeeper approval request", "│ Agent:         dev", "│ Reason:        try a write"} {
		if !strings.Contains(out, want) {
			t.Errorf("the terminal lacks %q:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"level=", `"event":`} {
		if strings.Contains(out+d.stderr.String(), unwanted) {
			t.Errorf("a log line %q reached the terminal:\n%s\n%s", unwanted, out, d.stderr)
		}
	}
	m := regexp.MustCompile(`Logs and audit events go to (\S+) `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("dev names no log file:\n%s", out)
	}
	logs, err := os.ReadFile(m[1])
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(m[1])
	for _, want := range []string{`"event":"approval.decided"`, `"event":"grant.issued"`} {
		if !strings.Contains(string(logs), want) {
			t.Errorf("the log file lacks %s", want)
		}
	}
}

// connectRegistered connects to the HTTP server a registration names,
// with its API key.
func connectRegistered(t *testing.T, reg map[string]any, stderr *lockedBuffer) *agent {
	t.Helper()
	headers, _ := reg["headers"].(map[string]any)
	key := str(headers["X-API-Key"])
	if reg["type"] != "http" || key == "" {
		t.Fatalf("registered %v, want an HTTP server with an X-API-Key header", reg)
	}
	hc := (&httpServer{}).client(nil, map[string]string{"X-API-Key": key})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "dev-e2e", Version: "1"}, nil).Connect(ctx, &mcp.StreamableClientTransport{Endpoint: str(reg["url"]), HTTPClient: hc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return &agent{t: t, session: cs, stderr: stderr, closed: true}
}

// With --data, the dev approver's next start serves the same agent with
// the same key at the same address: the registered line stays right.
func TestDevApproverKept(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := startDev(t, "--approver", "dev", "--data", dir)
	reg := registerTwice(t, first.clientLine())
	if err := first.stop(); err != nil {
		t.Fatalf("dev exited with %v after Ctrl-C", err)
	}
	if !strings.Contains(first.stderr.String(), "Kept in "+dir+": the Vault's storage with the secrets, the dev agent's API key") {
		t.Errorf("Ctrl-C did not say what was kept:\n%s", first.stderr)
	}
	second := startDev(t, "--approver", "dev", "--data", dir)
	if diff := cmp.Diff(reg, registerTwice(t, second.clientLine())); diff != "" {
		t.Errorf("the second start registers another server (-first +second):\n%s", diff)
	}
	if tier := connectRegistered(t, reg, second.stderr).tier(); tier != "none" {
		t.Errorf("a new start's agent has tier %q", tier)
	}
}

// TestDevKeptAcrossRestarts runs `gatekeeper dev --data DIR` twice: the
// second start brings back the same enrollment (the app's codes still
// approve) and the same bootstrap token, and the printed line, pasted into
// Claude Code's CLI twice each time, registers a server that works.
func TestDevKeptAcrossRestarts(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "dev data") // a space, to need quoting
	first := startDev(t, "--data", dir)
	enroll := regexp.MustCompile(`otpauth://totp/\S+`).FindString(first.stdout.String())
	if enroll == "" {
		t.Fatalf("the first start enrolled nobody:\n%s", first.stdout)
	}
	authn := vaulttest.NewAuthenticator(t, enroll)
	reg := registerTwice(t, first.clientLine())
	useRegistered(t, reg, authn)
	if err := first.stop(); err != nil {
		t.Fatalf("dev exited with %v after Ctrl-C", err)
	}
	for _, want := range []string{"Stopped the dev Vault", "Kept in " + dir, "the authenticator enrollment"} {
		if !strings.Contains(first.stderr.String(), want) {
			t.Errorf("Ctrl-C did not say %q:\n%s", want, first.stderr)
		}
	}

	second := startDev(t, "--data", dir)
	if out := second.stdout.String(); strings.Contains(out, "otpauth://") || !strings.Contains(out, "already enrolled") {
		t.Errorf("the second start enrolled again:\n%s", out)
	}
	again := registerTwice(t, second.clientLine())
	if diff := cmp.Diff(reg, again); diff != "" {
		t.Errorf("the second start registers another server (-first +second):\n%s", diff)
	}
	useRegistered(t, again, authn)
}

// useRegistered starts the server a registration describes, as Claude
// Code would, gets read access with the authenticator's current code and
// reads a sample secret.
func useRegistered(t *testing.T, reg map[string]any, authn *vaulttest.Authenticator) {
	t.Helper()
	args, _ := reg["args"].([]any)
	if reg["type"] != "stdio" || len(args) != 1 || args[0] != "serve" {
		t.Fatalf("registered %v, want GATEKEEPER serve over stdio", reg)
	}
	environ := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	vars, _ := reg["env"].(map[string]any)
	for k, v := range vars {
		environ = append(environ, k+"="+str(v))
	}
	cmd := exec.Command(str(reg["command"]), "serve") //nolint:gosec // G204: the test's own binary, as dev printed it
	cmd.Env = environ
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "dev-e2e", Version: "1"}, nil).Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 20 * time.Second}, nil)
	if err != nil {
		t.Fatalf("starting the registered server: %v\n%s", err, stderr)
	}
	a := &agent{t: t, e: &env{auth: authn}, session: cs, stderr: stderr}
	defer a.stop()
	a.authenticate()
	got := a.ok("read_secret", map[string]any{"path": "demo/database"})
	if got["data"].(map[string]any)["username"] != "app" {
		t.Errorf("read_secret = %v", got)
	}
}

func slicesDeleteEmpty(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasSuffix(kv, "=") {
			out = append(out, kv)
		}
	}
	return out
}
