package nodetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	module     = "github.com/gatekeeper-mcp/gatekeeper"
	stampName  = ".gatekeeper-install-stamp" // inside node_modules: deleting it forces a reinstall
	lockName   = ".install.lock"             // beside package.json, git-ignored
	npmTimeout = 10 * time.Minute
)

var (
	installMu   sync.Mutex
	installDir  string // set once an install (or a fresh check) succeeded
	node22Once  sync.Once
	node22Path  string
	node22Error error
)

// Install makes sure test/node/node_modules matches package-lock.json and
// returns test/node. The first call on a machine runs `npm ci`; later calls,
// in this process or another, only compare a stamp holding the lockfile's
// hash. A file lock keeps test binaries of different packages, which `go
// test ./...` runs in parallel, from running npm at the same time.
func Install(t testing.TB) (dir string) {
	t.Helper()
	installMu.Lock()
	defer installMu.Unlock()
	if installDir != "" {
		return installDir
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(root, "test", "node")
	want, err := lockHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	if stampMatches(dir, want) {
		installDir = dir
		return dir
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatalf("nodetest: npm not found on PATH (%v). These tests run MCP clients from npm: "+
			"install Node.js 20.17 or later with npm, then rerun.", err)
	}

	unlock, err := lockFile(filepath.Join(dir, lockName), func() {
		t.Helper()
		t.Logf("nodetest: waiting for another test process to finish npm ci in %s", dir)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if stampMatches(dir, want) { // another process installed while we waited
		installDir = dir
		return dir
	}

	t.Logf("nodetest: node_modules missing or stale: running npm ci in %s (first time: ~690 MB unpacked, ~30 s)", dir)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), npmTimeout)
	defer cancel()
	// First the Node the clients want (runtime/: the npm package "node",
	// which asks for no engine), with the machine's Node; then the clients,
	// with npm running on that Node, so every package's engines are met.
	runtime := filepath.Join(dir, "runtime")
	npmCI(ctx, t, npm, runtime, os.Getenv("PATH"))
	npmCI(ctx, t, npm, dir, filepath.Join(runtime, "node_modules", "node", "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	if err := os.WriteFile(filepath.Join(dir, "node_modules", stampName), []byte(want+"\n"), 0o644); err != nil { //nolint:gosec // G306: package versions, readable like the node_modules beside it
		t.Fatalf("nodetest: writing install stamp: %v", err)
	}
	t.Logf("nodetest: npm ci done in %s", time.Since(start).Round(time.Second))
	installDir = dir
	return dir
}

// npmCI runs npm ci in dir with path as PATH (npm runs on the first node
// there). An install that does not meet a package's engines fails: npm
// refuses it (--engine-strict), and a warning about it fails too, so a
// client pinned later that wants another Node is seen at once.
func npmCI(ctx context.Context, t testing.TB, npm, dir, path string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--no-update-notifier", "--engine-strict")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+path)
	var out bytes.Buffer
	logw := &lineLogger{t: t, prefix: "npm: "}
	cmd.Stdout = io.MultiWriter(&out, logw)
	cmd.Stderr = cmd.Stdout
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	logw.flush()
	if err != nil {
		t.Fatalf("nodetest: npm ci in %s: %v\n%s", dir, err, out.Bytes())
	}
	if bytes.Contains(out.Bytes(), []byte("EBADENGINE")) {
		t.Fatalf("nodetest: npm ci in %s warned that a package wants another Node or npm (EBADENGINE): "+
			"pin one that runs on the Node in %s, or change that Node\n%s", dir, filepath.Join("test", "node", "runtime"), out.Bytes())
	}
}

// Node22 returns the Node 22 binary that the npm package "node" installed
// (test/node/runtime), after checking that it runs and says v22.
func Node22(t testing.TB) string {
	t.Helper()
	dir := Install(t)
	node22Once.Do(func() {
		bin := filepath.Join(dir, "runtime", "node_modules", "node", "bin", "node")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
		switch {
		case err != nil:
			node22Error = fmt.Errorf("nodetest: running %s --version: %w\n%s", bin, err, out)
		case !strings.HasPrefix(string(out), "v22."):
			node22Error = fmt.Errorf("nodetest: %s is %s, want v22.x", bin, bytes.TrimSpace(out))
		default:
			node22Path = bin
		}
	})
	if node22Error != nil {
		t.Fatal(node22Error)
	}
	return node22Path
}

// RepoRoot walks up from the working directory (a package folder, under go
// test) to the go.mod of the Gatekeeper module.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("nodetest: finding the repository root: %w", err)
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && modulePath(data) == module {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("nodetest: no go.mod for module %s above the working directory", module)
		}
		dir = parent
	}
}

func modulePath(gomod []byte) string {
	for line := range strings.Lines(string(gomod)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module"); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// lockHash covers package.json too: npm ci refuses a lockfile out of step
// with it, and allowScripts lives only there. The runtime's files count
// as well: another Node reinstalls the clients on it.
func lockHash(dir string) (string, error) {
	h := sha256.New()
	for _, name := range []string{"package.json", "package-lock.json", "runtime/package.json", "runtime/package-lock.json"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return "", fmt.Errorf("nodetest: reading %s: %w", name, err)
		}
		fmt.Fprintf(h, "%s %d\n", name, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func stampMatches(dir, want string) bool {
	got, err := os.ReadFile(filepath.Join(dir, "node_modules", stampName))
	return err == nil && strings.TrimSpace(string(got)) == want
}

// lineLogger sends a child's output to the test log a line at a time, so a
// slow install shows its progress under go test -v.
type lineLogger struct {
	t      testing.TB
	prefix string
	buf    []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		if line := strings.TrimRight(string(l.buf[:i]), "\r"); line != "" {
			l.t.Log(l.prefix + line)
		}
		l.buf = l.buf[i+1:]
	}
}

func (l *lineLogger) flush() {
	if len(l.buf) > 0 {
		l.t.Log(l.prefix + string(l.buf))
		l.buf = nil
	}
}

// run runs cmd with a deadline and returns its stdout and stderr. A deadline
// that passes is reported as such, with whatever output there was.
func run(ctx context.Context, cmd *exec.Cmd) (stdout, stderr []byte, err error) {
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s: %w (%w)", filepath.Base(cmd.Path), ctx.Err(), err)
	}
	return o.Bytes(), e.Bytes(), err
}
