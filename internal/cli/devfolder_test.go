package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDevFolderIsTakenByOneRun: a second `gatekeeper dev` on a folder in
// use is refused with what to do, before it reads or changes anything;
// the folder is free again once the first run gives it back.
func TestDevFolderIsTakenByOneRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new dev")
	first, err := openDevFolder(dir, "totp")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("the new folder: %v, %v; want it made, owner only", fi, err)
	}
	first.APIKey = "kept"
	if err := first.save(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(dir, devFolderFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openDevFolder(dir, "totp"); err == nil || !strings.Contains(err.Error(), "in use by another gatekeeper dev") {
		t.Fatalf("a second run on the folder = %v, want it refused as in use", err)
	}
	if _, err := openDevFolder(dir, "dev"); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a second run with another approver = %v, want it refused as in use first", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, devFolderFile)); string(after) != string(before) {
		t.Errorf("the refused runs changed %s", devFolderFile)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := openDevFolder(dir, "totp")
	if err != nil {
		t.Fatalf("the folder after the first run ended: %v", err)
	}
	defer again.Close()
	if again.APIKey != "kept" {
		t.Errorf("the folder's file after a restart: %+v", again)
	}
}
