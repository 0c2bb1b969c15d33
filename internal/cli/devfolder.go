package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// devFolderFile is what `gatekeeper dev --data DIR` keeps in DIR beside
// the dev Vault (devvault.StateFile and its storage).
const devFolderFile = "dev.json"

// errFolderInUse: another process holds the folder's lock (lockFolder).
var errFolderInUse = errors.New("folder in use")

// devFolder is a data folder of `gatekeeper dev`.
type devFolder struct {
	dir  string
	lock io.Closer // held while this run uses dir
	// Approver is the --approver the folder was set up for: the two set
	// up different accounts on the same Vault, and setting up one over the
	// other would undo it.
	Approver string `json:"approver"`
	// APIKey and HTTP are the dev agent's key and where MCP was served
	// (--approver dev), so the client keeps its configuration.
	APIKey string `json:"api_key,omitempty"`
	HTTP   string `json:"http,omitempty"`
}

// openDevFolder takes dir for this run (creating it, owner only, when it
// is missing) and reads its devFolderFile, or starts a new one. It refuses
// a folder another `gatekeeper dev` is using, or one set up for another
// approver, changing nothing. Close gives the folder back.
func openDevFolder(dir, approver string) (*devFolder, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("creating the dev folder: %w", err)
	}
	lock, err := lockFolder(abs)
	if errors.Is(err, errFolderInUse) {
		return nil, fmt.Errorf("%s is in use by another gatekeeper dev: stop that one first (Ctrl-C in its terminal), or give another --data folder", abs)
	}
	if err != nil {
		return nil, fmt.Errorf("locking the dev folder: %w", err)
	}
	f, err := readDevFolder(abs, approver)
	if err != nil {
		_ = lock.Close()
		return nil, err
	}
	f.lock = lock
	return f, nil
}

// readDevFolder reads abs's devFolderFile, or starts a new one.
func readDevFolder(abs, approver string) (*devFolder, error) {
	f := &devFolder{dir: abs}
	b, err := os.ReadFile(filepath.Join(abs, devFolderFile))
	if errors.Is(err, fs.ErrNotExist) {
		f.Approver = approver
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the dev folder: %w", err)
	}
	if err := json.Unmarshal(b, f); err != nil || f.Approver == "" {
		return nil, fmt.Errorf("%s in %s is damaged; give another --data folder", devFolderFile, abs)
	}
	if f.Approver != approver {
		return nil, fmt.Errorf("%s was set up for --approver %s: run gatekeeper dev --approver %s --data %s, or give another --data folder",
			abs, f.Approver, f.Approver, shellQuote(abs))
	}
	return f, nil
}

// Close gives the folder back to the next `gatekeeper dev`.
func (f *devFolder) Close() error { return f.lock.Close() }

// kept says what the folder keeps besides the Vault's secrets.
func (f *devFolder) kept() string {
	if f.Approver == "totp" {
		return "the authenticator enrollment, the bootstrap token and the client configuration"
	}
	return "the dev agent's API key and address, so the client configuration stays"
}

// save writes the folder's file, readable by its owner only (it may hold
// the dev agent's API key).
func (f *devFolder) save() error {
	b, err := json.MarshalIndent(f, "", "  ") //nolint:gosec // G117: the dev agent's key is kept on purpose, in a file only its owner reads
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(f.dir, devFolderFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving the dev folder: %w", err)
	}
	return nil
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=@%+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
