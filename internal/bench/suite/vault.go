package suite

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// vaultServer is a Vault dev server (in memory, loopback) run for one
// suite. The suite needs its process id, to read its CPU time.
type vaultServer struct {
	addr string
	root string
	cmd  *exec.Cmd
	done chan struct{}
}

// startVault runs bin in dev mode on a free loopback port, its output in
// dir, and waits until it is healthy.
func startVault(ctx context.Context, bin, dir string) (*vaultServer, error) {
	var last error
	// The dev server also listens on PORT+1; if that is taken it exits and
	// another port is tried.
	for range 5 {
		v, err := tryVault(ctx, bin, dir)
		if err == nil {
			return v, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

func tryVault(ctx context.Context, bin, dir string) (*vaultServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("finding a free port: %w", err)
	}
	listen := l.Addr().String()
	_ = l.Close()
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	root := "bench-root-" + hex.EncodeToString(b)
	home := filepath.Join(dir, "vault-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("creating the Vault home: %w", err)
	}
	log, err := os.Create(filepath.Join(dir, "vault.log"))
	if err != nil {
		return nil, fmt.Errorf("creating the Vault log: %w", err)
	}
	defer log.Close()
	cmd := exec.Command(bin, "server", "-dev", "-dev-root-token-id="+root, "-dev-listen-address="+listen, "-dev-no-store-token")
	cmd.Env = append(cleanEnv(), "HOME="+home)
	cmd.Dir = home
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	v := &vaultServer{addr: "http://" + listen, root: root, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(v.done) }()
	if err := v.waitHealthy(ctx, time.Minute); err != nil {
		v.stop()
		return nil, err
	}
	return v, nil
}

func (v *vaultServer) pid() int { return v.cmd.Process.Pid }

func (v *vaultServer) waitHealthy(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, v.addr+"/v1/sys/health", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-v.done:
			return errors.New("the Vault dev server exited before it was healthy (see vault.log)")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the Vault dev server is not healthy after %s", limit)
		}
	}
}

func (v *vaultServer) stop() {
	_ = v.cmd.Process.Kill()
	<-v.done
}

// cleanEnv is this process's environment without Vault settings, so that
// no child picks up a real server's address or token.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "VAULT_") || strings.HasPrefix(kv, "BAO_") || strings.HasPrefix(kv, "GATEKEEPER_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}
