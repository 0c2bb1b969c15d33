package soak

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/child"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// VaultServer is a Vault server with file storage, listening on loopback,
// initialized with a single unseal key. A dev server keeps everything in
// memory and forgets it on restart; this one keeps its data, its tokens and
// their leases, so killing and restarting it, or sealing it, is the fault
// an operator would see, and the tokens a killed Gatekeeper leaves behind
// still die at their TTL.
type VaultServer struct {
	bin  string
	dir  string
	addr string // http://127.0.0.1:PORT

	root   sensitive.String
	unseal sensitive.String
	client *vault.Client

	proc child.Proc
}

// StartVault writes a configuration into dir, starts bin with it, then
// initializes and unseals the server.
func StartVault(ctx context.Context, bin, dir string) (*VaultServer, error) {
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, fmt.Errorf("creating the Vault folder: %w", err)
	}
	port, err := child.FreePort()
	if err != nil {
		return nil, err
	}
	v := &VaultServer{bin: bin, dir: dir, addr: fmt.Sprintf("http://127.0.0.1:%d", port)}
	conf := fmt.Sprintf(`storage "file" {
  path = %q
}
listener "tcp" {
  address     = "127.0.0.1:%d"
  tls_disable = true
}
api_addr      = %q
disable_mlock = true
ui            = false
log_level     = "warn"
`, filepath.Join(dir, "data"), port, v.addr)
	if err := os.WriteFile(v.configPath(), []byte(conf), 0o600); err != nil {
		return nil, fmt.Errorf("writing the Vault configuration: %w", err)
	}
	if v.client, err = vault.New(vault.Options{Address: v.addr, Timeout: 20 * time.Second}); err != nil {
		return nil, err
	}
	if err := v.start(ctx); err != nil {
		return nil, err
	}
	init, err := v.client.Write(ctx, sensitive.String{}, "sys/init", map[string]any{"secret_shares": 1, "secret_threshold": 1})
	if err != nil {
		v.Stop()
		return nil, fmt.Errorf("initializing Vault: %w", err)
	}
	keys, _ := init.Data["keys_base64"].([]any)
	root, _ := init.Data["root_token"].(string)
	if len(keys) != 1 || root == "" {
		v.Stop()
		return nil, errors.New("initializing Vault: no unseal key or root token in the answer")
	}
	key, _ := keys[0].(string)
	v.unseal, v.root = sensitive.New(key), sensitive.New(root)
	if err := v.Unseal(ctx); err != nil {
		v.Stop()
		return nil, err
	}
	return v, nil
}

func (v *VaultServer) configPath() string { return filepath.Join(v.dir, "vault.hcl") }

// Addr is the server's address, http://127.0.0.1:PORT.
func (v *VaultServer) Addr() string { return v.addr }

// Root is the root token from initialization.
func (v *VaultServer) Root() sensitive.String { return v.root }

// Client talks to the server.
func (v *VaultServer) Client() *vault.Client { return v.client }

// LogPath is where the server's output goes (appended across restarts).
func (v *VaultServer) LogPath() string { return filepath.Join(v.dir, "vault.log") }

// start runs the server and waits until it answers, sealed or not.
func (v *VaultServer) start(ctx context.Context) error {
	out, err := os.OpenFile(v.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening the Vault log: %w", err)
	}
	cmd := exec.Command(v.bin, "server", "-config", v.configPath())
	cmd.Dir = v.dir
	// A scratch HOME and no VAULT_ settings keep the server away from the
	// user's own files and servers.
	cmd.Env = append(child.Env("VAULT_", "BAO_", "HOME="), "HOME="+v.dir)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := v.proc.Start(cmd, func() { _ = out.Close() }); err != nil {
		_ = out.Close()
		return fmt.Errorf("starting Vault: %w", err)
	}
	exited := v.proc.Exited()
	deadline := time.Now().Add(60 * time.Second)
	for {
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := v.client.Health(hctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("Vault exited while starting; see %s", v.LogPath()) //nolint:staticcheck // ST1005: Vault is a name
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("Vault did not answer within a minute; see %s", v.LogPath()) //nolint:staticcheck // ST1005: Vault is a name
		}
	}
}

// PID is the running server's process id.
func (v *VaultServer) PID() int { return v.proc.PID() }

// Kill ends the server with SIGKILL and waits for it: no seal, no
// clean-up, as when a machine loses power.
func (v *VaultServer) Kill() { v.proc.Kill() }

// Restart starts the server again from the same files. It comes back
// sealed, as a real server does.
func (v *VaultServer) Restart(ctx context.Context) error { return v.start(ctx) }

// Seal seals the server through the API, as an operator would.
func (v *VaultServer) Seal(ctx context.Context) error {
	if _, err := v.client.Write(ctx, v.root, "sys/seal", nil); err != nil {
		return fmt.Errorf("sealing Vault: %w", err)
	}
	return nil
}

// Unseal gives the server its key and waits until it serves requests.
func (v *VaultServer) Unseal(ctx context.Context) error {
	if _, err := v.client.Write(ctx, sensitive.String{}, "sys/unseal", map[string]any{"key": v.unseal.Reveal()}); err != nil {
		return fmt.Errorf("unsealing Vault: %w", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		// Unsealed is not yet serving: the token store and the mounts come
		// up after. A lookup of the root token answers once they have.
		if _, err := v.client.Read(ctx, v.root, "auth/token/lookup-self"); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("Vault did not serve requests within a minute of unsealing") //nolint:staticcheck // ST1005: Vault is a name
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop ends the server (SIGTERM, then SIGKILL after 10 seconds).
func (v *VaultServer) Stop() { v.proc.Stop(sigterm, 10*time.Second) }
