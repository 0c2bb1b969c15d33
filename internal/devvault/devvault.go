// Package devvault finds a Vault or OpenBao server binary and runs it on
// loopback, for `gatekeeper dev` and for the tests. A server from Start is
// in dev mode and keeps everything in memory: stopping it leaves nothing
// behind. A server from Open keeps its storage, unseal key and root token
// in a folder and comes back with all of it on the next Open.
package devvault

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/child"
)

// Version is the Vault release the project's tools module builds (see
// tools/vault/README.md for why this one).
const Version = "v1.19.0"

// ErrNoBinary means no server binary was found.
var ErrNoBinary = errors.New("no Vault or OpenBao binary found")

// Find returns the server binary to run: $GATEKEEPER_VAULT_BIN, else bao or
// vault on PATH, else the one the tools module built into the cache.
func Find() (string, error) {
	if p := os.Getenv("GATEKEEPER_VAULT_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("GATEKEEPER_VAULT_BIN: %w", err)
		}
		return p, nil
	}
	for _, name := range []string{"bao", "vault"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	cached, err := CachedPath()
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(cached); err == nil {
		return cached, nil
	}
	return "", fmt.Errorf("%w: set GATEKEEPER_VAULT_BIN, put bao or vault on PATH, or build one with tools/vault/vault-bin", ErrNoBinary)
}

// CachedPath is where tools/vault/vault-bin puts the binary it builds:
// $GATEKEEPER_CACHE_DIR, else the user cache folder, under gatekeeper/.
func CachedPath() (string, error) {
	dir := os.Getenv("GATEKEEPER_CACHE_DIR")
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("finding the cache folder: %w", err)
		}
		dir = filepath.Join(base, "gatekeeper")
	}
	return filepath.Join(dir, "vault-"+Version, "vault"), nil
}

// Server is a running dev server.
type Server struct {
	Addr      string // http://127.0.0.1:PORT
	RootToken string // dev only: the server is on loopback, in memory or in Folder
	// Folder holds the storage of a server started by Open; "" for an
	// in-memory one.
	Folder string

	proc child.Proc
	out  *syncBuffer
}

// Start runs bin in dev mode on a free loopback port and waits until it is
// healthy. The server dies with the calling process.
func Start(ctx context.Context, bin string) (*Server, error) {
	var lastErr error
	// The dev server also listens on PORT+1 for cluster traffic; if that one
	// is taken the server exits, and another port is tried.
	for range 5 {
		s, err := start(ctx, bin)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func start(ctx context.Context, bin string) (*Server, error) {
	port, err := child.FreePort()
	if err != nil {
		return nil, err
	}
	home, err := os.MkdirTemp("", "gatekeeper-devvault-")
	if err != nil {
		return nil, fmt.Errorf("creating the dev server's home: %w", err)
	}
	root := "dev-root-" + randomHex()
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	s, err := launch(bin, home, listen, "", "server", "-dev",
		"-dev-root-token-id="+root,
		"-dev-listen-address="+listen,
		"-dev-no-store-token",
	)
	if err != nil {
		return nil, err
	}
	s.RootToken = root
	if err := s.waitHealthy(ctx, 60*time.Second); err != nil {
		s.Stop()
		return nil, fmt.Errorf("%w\n%s", err, s.Output())
	}
	return s, nil
}

// launch runs bin with args in home, a scratch folder it removes when the
// server exits, for a server that will listen on listen, in a process
// group of its own for a server with a Folder.
func launch(bin, home, listen, folder string, args ...string) (*Server, error) {
	cmd := exec.Command(bin, args...)
	// Without the caller's Vault settings the server cannot pick up a real
	// server's address or token; a scratch HOME keeps it away from the
	// user's own files.
	cmd.Env = append(child.Env("VAULT_", "BAO_", "HOME="), "HOME="+home)
	cmd.Dir = home
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr(folder != "")
	s := &Server{Addr: "http://" + listen, Folder: folder, out: out}
	if err := s.proc.Start(cmd, func() { _ = os.RemoveAll(home) }); err != nil {
		_ = os.RemoveAll(home)
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	return s, nil
}

func (s *Server) waitHealthy(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		if s.answersAsItself(ctx, client) {
			return nil
		}
		select {
		case <-s.Exited():
			return errors.New("dev server exited before it was healthy")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dev server not healthy after %s", limit)
		}
	}
}

// answersAsItself reports whether the server on s.Addr is healthy and is
// this one: another process can take the port between FreePort and the
// server binding it, and then a healthy answer comes from someone else's
// server (seen in CI: the test wrote to another test's Vault). Only this
// server knows its random root token.
func (s *Server) answersAsItself(ctx context.Context, client *http.Client) bool {
	select {
	case <-s.Exited():
		return false
	default:
	}
	for _, path := range []string{"/v1/sys/health", "/v1/auth/token/lookup-self"} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Addr+path, nil)
		req.Header.Set("X-Vault-Token", s.RootToken)
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false
		}
	}
	return true
}

// Stop kills the server and waits for it to exit. It is safe to call twice.
func (s *Server) Stop() {
	if s.Folder == "" {
		s.proc.Kill()
		return
	}
	// A server with storage of its own is asked to shut down cleanly
	// first.
	s.proc.Stop(os.Interrupt, 10*time.Second)
}

// PID is the server's process id (to read its CPU time, for example).
func (s *Server) PID() int { return s.proc.PID() }

// Exited is closed when the server process ends.
func (s *Server) Exited() <-chan struct{} { return s.proc.Exited() }

// Output is what the server printed so far.
func (s *Server) Output() string { return s.out.String() }

// UnsealKey is the dev server's unseal key, from its start-up banner.
func (s *Server) UnsealKey() string {
	for line := range strings.Lines(s.Output()) {
		if k, ok := strings.CutPrefix(strings.TrimSpace(line), "Unseal Key: "); ok {
			return k
		}
	}
	return ""
}

func randomHex() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// Keep the first megabyte, which holds the start-up banner; a long run
	// should not grow this without bound.
	if b.b.Len() > 1<<20 {
		return len(p), nil
	}
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
