package devvault

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// A folder brings back the same server: address, root token and what was
// written, and its keys are its owner's only.
func TestOpenKeepsEverything(t *testing.T) {
	bin, err := Find()
	if err != nil {
		t.Fatalf("%v (run the tests with scripts/test, which builds Vault first)", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "dev")

	first, fresh, err := Open(ctx, bin, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Stop()
	if !fresh {
		t.Error("the first Open of a new folder is not fresh")
	}
	root := sensitive.New(first.RootToken)
	vc, err := vault.New(vault.Options{Address: first.Addr})
	if err != nil {
		t.Fatal(err)
	}
	if err := vc.MountKVv2(ctx, root, "secret"); err != nil {
		t.Fatal(err)
	}
	if _, err := vc.KVWrite(ctx, root, "secret", "kept", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, filepath.Join(dir, StateFile)} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: %v, mode %v; want the owner's only", filepath.Base(p), err, fi.Mode())
		}
	}
	first.Stop()

	again, fresh, err := Open(ctx, bin, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Stop()
	if fresh || again.Addr != first.Addr || again.RootToken != first.RootToken {
		t.Errorf("second Open: fresh %v, %s %t; want the same server", fresh, again.Addr, again.RootToken == first.RootToken)
	}
	got, err := vc.KVRead(ctx, root, "secret", "kept")
	if err != nil || got.Data["v"] != "1" {
		t.Errorf("after a restart: %v, %v", got, err)
	}
}

// A folder Open cannot use is refused before anything runs, and left as
// it was.
func TestOpenRefusesFolders(t *testing.T) {
	bin, err := Find()
	if err != nil {
		t.Fatalf("%v (run the tests with scripts/test, which builds Vault first)", err)
	}
	version, err := binaryVersion(t.Context(), bin)
	if err != nil {
		t.Fatal(err)
	}
	state := func(v string) string {
		return `{"version": "` + v + `", "listen": "127.0.0.1:1", "unseal_key": "k", "root_token": "r"}`
	}
	tests := []struct {
		name  string
		files map[string]string // name → content; a name ending in / is a folder
		mode  os.FileMode
		want  string
	}{
		{"fail/not-ours", map[string]string{"notes.txt": "mine"}, 0o700, "has no vault.json"},
		{"fail/other-version", map[string]string{StateFile: state("Vault v0.9.0"), "storage/": ""}, 0o700, "was made by Vault v0.9.0"},
		{"fail/damaged-state", map[string]string{StateFile: "{", "storage/": ""}, 0o700, "is damaged"},
		{"fail/no-storage", map[string]string{StateFile: state(version)}, 0o700, "has no storage folder"},
		{"fail/open-to-others", map[string]string{StateFile: state(version), "storage/": ""}, 0o755, "open to other users"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tc.files {
				p := filepath.Join(dir, name)
				if strings.HasSuffix(name, "/") {
					if err := os.Mkdir(p, 0o700); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(dir, tc.mode); err != nil {
				t.Fatal(err)
			}
			before := listing(t, dir)
			s, _, err := Open(t.Context(), bin, dir)
			if err == nil {
				s.Stop()
				t.Fatal("Open accepted the folder")
			}
			if !errors.Is(err, ErrFolder) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open() = %v, want ErrFolder saying %q", err, tc.want)
			}
			if after := listing(t, dir); after != before {
				t.Errorf("the folder changed:\n%s\nwas\n%s", after, before)
			}
		})
	}
}

// listing is every file of dir with its mode and content.
func listing(t *testing.T, dir string) string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(p + " " + fi.Mode().String())
		if !fi.IsDir() {
			c, _ := os.ReadFile(p)
			b.WriteString(" " + string(c))
		}
		b.WriteString("\n")
	}
	return b.String()
}
