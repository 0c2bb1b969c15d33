package devvault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/child"
)

// What Open keeps in its folder.
const (
	// StateFile holds the server's version, address, unseal key and root
	// token.
	StateFile  = "vault.json"
	storageDir = "storage"
)

// ErrFolder means Open cannot use a folder as it is. Open changed nothing
// in it.
var ErrFolder = errors.New("unusable dev Vault folder")

// folderState is StateFile.
type folderState struct {
	// Version is how the binary names itself ("Vault v1.19.0"): another
	// version may not read the storage, or may upgrade it for good.
	Version   string `json:"version"`
	Listen    string `json:"listen"`     // 127.0.0.1:PORT, the same on every start
	UnsealKey string `json:"unseal_key"` // dev only, like the root token
	RootToken string `json:"root_token"`
}

// Open runs bin with file storage in dir, on loopback, unseals it and
// waits until it is healthy. A missing or empty dir is initialized first,
// with a single unseal key. dir then holds the storage, the unseal key and
// the root token, readable by its owner only, and every later Open brings
// back the same server on the same address. fresh reports whether this Open
// initialized dir.
//
// A folder made by another server version, or that is not a whole dev
// Vault folder, is refused with ErrFolder before anything runs.
func Open(ctx context.Context, bin, dir string) (s *Server, fresh bool, err error) {
	version, err := binaryVersion(ctx, bin)
	if err != nil {
		return nil, false, err
	}
	st, err := readFolder(dir, version)
	if err != nil {
		return nil, false, err
	}
	fresh = st == nil
	if fresh {
		if st, err = newFolder(dir, version); err != nil {
			return nil, false, err
		}
		defer func() {
			if err != nil { // nothing usable was made: leave the folder empty
				_ = os.RemoveAll(filepath.Join(dir, storageDir))
				_ = os.Remove(filepath.Join(dir, StateFile))
			}
		}()
	}
	s, err = launchFolder(bin, dir, st.Listen)
	if err != nil {
		return nil, false, err
	}
	if err := s.openFolder(ctx, st, fresh); err != nil {
		s.Stop()
		return nil, false, fmt.Errorf("%w\n%s", err, s.Output())
	}
	return s, fresh, nil
}

// binaryVersion is how bin names itself: "Vault v1.19.0" from
// "Vault v1.19.0, built …".
func binaryVersion(ctx context.Context, bin string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		return "", fmt.Errorf("asking %s for its version: %w", bin, err)
	}
	f := strings.Fields(strings.ReplaceAll(string(out), ",", " "))
	if len(f) < 2 {
		return "", fmt.Errorf("%s version printed %q", bin, out)
	}
	return f[0] + " " + f[1], nil
}

// readFolder returns dir's state, or nil for a folder to initialize.
func readFolder(dir, version string) (*folderState, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the dev Vault folder: %w", err)
	}
	statePath := filepath.Join(dir, StateFile)
	b, err := os.ReadFile(statePath)
	switch {
	case errors.Is(err, fs.ErrNotExist) && len(entries) == 0:
		return nil, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: %s is not empty and has no %s; give an empty or new folder", ErrFolder, dir, StateFile)
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", statePath, err)
	}
	for _, p := range []string{dir, statePath} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("%w: %s is open to other users and holds a root token; chmod go-rwx it", ErrFolder, p)
		}
	}
	var st folderState
	if err := json.Unmarshal(b, &st); err != nil || st.Version == "" || st.Listen == "" || st.UnsealKey == "" || st.RootToken == "" {
		return nil, fmt.Errorf("%w: %s is damaged", ErrFolder, statePath)
	}
	if st.Version != version {
		return nil, fmt.Errorf("%w: %s was made by %s, and this server is %s; run it with %s (GATEKEEPER_VAULT_BIN) or give another folder",
			ErrFolder, dir, st.Version, version, st.Version)
	}
	if fi, err := os.Stat(filepath.Join(dir, storageDir)); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s has no %s folder", ErrFolder, dir, storageDir)
	}
	return &st, nil
}

// newFolder makes dir for a server on a free port.
func newFolder(dir, version string) (*folderState, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the dev Vault folder: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil { //nolint:gosec // G302: a folder, the owner's only
		return nil, err
	}
	port, err := child.FreePort()
	if err != nil {
		return nil, err
	}
	return &folderState{Version: version, Listen: fmt.Sprintf("127.0.0.1:%d", port)}, nil
}

// launchFolder starts the server on dir's storage with a configuration
// written into its scratch home.
func launchFolder(bin, dir, listen string) (*Server, error) {
	abs, err := filepath.Abs(filepath.Join(dir, storageDir))
	if err != nil {
		return nil, err
	}
	home, err := os.MkdirTemp("", "gatekeeper-devvault-")
	if err != nil {
		return nil, fmt.Errorf("creating the dev server's home: %w", err)
	}
	// HCL reads Go's quoted strings.
	hcl := fmt.Sprintf(`storage "file" {
  path = %s
}
listener "tcp" {
  address     = %s
  tls_disable = true
}
api_addr      = %s
disable_mlock = true
`, strconv.Quote(abs), strconv.Quote(listen), strconv.Quote("http://"+listen))
	conf := filepath.Join(home, "vault.hcl")
	if err := os.WriteFile(conf, []byte(hcl), 0o600); err != nil {
		_ = os.RemoveAll(home)
		return nil, fmt.Errorf("writing the dev server's configuration: %w", err)
	}
	return launch(bin, home, listen, dir, "server", "-config="+conf)
}

// openFolder initializes a fresh server (and saves its keys in the
// folder), unseals it and waits until it answers as itself.
func (s *Server) openFolder(ctx context.Context, st *folderState, fresh bool) error {
	var h struct {
		Initialized bool `json:"initialized"`
		Sealed      bool `json:"sealed"`
	}
	if err := s.waitAnswer(ctx, 60*time.Second, &h); err != nil {
		return fmt.Errorf("the dev Vault on %s (kept in %s): %w", st.Listen, StateFile, err)
	}
	switch {
	case fresh && h.Initialized:
		return fmt.Errorf("another server answers on %s", st.Listen)
	case !fresh && !h.Initialized:
		return fmt.Errorf("%w: the storage in %s was never initialized", ErrFolder, s.Folder)
	case fresh:
		if err := s.initialize(ctx, st); err != nil {
			return err
		}
	}
	if h.Sealed {
		var u struct {
			Sealed bool `json:"sealed"`
		}
		err := s.call(ctx, http.MethodPut, "sys/unseal", map[string]any{"key": st.UnsealKey}, &u)
		if err == nil && u.Sealed {
			err = errors.New("still sealed")
		}
		if err != nil {
			return fmt.Errorf("%w: the unseal key in %s does not unseal %s: %w", ErrFolder, StateFile, s.Folder, err)
		}
	}
	s.RootToken = st.RootToken
	return s.waitHealthy(ctx, 60*time.Second)
}

// initialize inits the server with one unseal key and saves the keys.
func (s *Server) initialize(ctx context.Context, st *folderState) error {
	var res struct {
		Keys      []string `json:"keys"`
		RootToken string   `json:"root_token"`
	}
	if err := s.call(ctx, http.MethodPut, "sys/init", map[string]any{"secret_shares": 1, "secret_threshold": 1}, &res); err != nil {
		return fmt.Errorf("initializing the dev Vault: %w", err)
	}
	if len(res.Keys) != 1 || res.RootToken == "" {
		return errors.New("initializing the dev Vault: no unseal key or root token in the answer")
	}
	st.UnsealKey, st.RootToken = res.Keys[0], res.RootToken
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.Folder, StateFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving the dev Vault's keys: %w", err)
	}
	return nil
}

// waitAnswer waits until the server answers sys/health in any state and
// decodes the answer into h.
func (s *Server) waitAnswer(ctx context.Context, limit time.Duration, h any) error {
	deadline := time.Now().Add(limit)
	for {
		err := s.call(ctx, http.MethodGet, "sys/health?uninitcode=200&sealedcode=200&standbycode=200", nil, h)
		if err == nil {
			return nil
		}
		select {
		case <-s.Exited():
			return errors.New("the server exited before it answered")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer after %s: %w", limit, err)
		}
	}
}

// call sends one unauthenticated request to the server's API and decodes
// a 200 answer into out.
func (s *Server) call(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.Addr+"/v1/"+path, r)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(msg))
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
