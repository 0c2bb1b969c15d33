package passkey

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFileStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "credentials.json")
	s, err := NewFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if creds, err := s.Credentials(ctx); err != nil || len(creds) != 0 {
		t.Fatalf("new store: %v %v", creds, err)
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	want := []Credential{
		{ID: []byte{1, 2, 3}, PublicKey: []byte{0xa5, 1}, SignCount: 7, Name: "yubikey", Created: created, Transports: []string{"usb"}, EnrollToken: "ab"},
		{ID: []byte{4, 5, 6}, PublicKey: []byte{0xa5, 2}, Name: "laptop", Created: created, BackupEligible: true, BackupState: true},
	}
	for _, c := range want {
		if err := s.Add(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Add(ctx, want[0]); !errors.Is(err, ErrDuplicateCredential) {
		t.Errorf("Add of a known id = %v, want ErrDuplicateCredential", err)
	}
	if err := s.Add(ctx, Credential{Name: "no id"}); err == nil {
		t.Error("Add accepted a credential without id and key")
	}
	if err := s.SetSignCount(ctx, []byte{4, 5, 6}, 42); err != nil {
		t.Fatal(err)
	}
	want[1].SignCount = 42
	if err := s.SetSignCount(ctx, []byte{9}, 1); !errors.Is(err, ErrUnknownCredential) {
		t.Errorf("SetSignCount of an unknown id = %v, want ErrUnknownCredential", err)
	}

	// A second store on the same file (a restart) sees the same.
	s2, err := NewFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.Credentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("credentials mismatch (-want +got):\n%s", diff)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("file mode = %v, want 0600", mode)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the store (no temporary files left)", len(entries))
	}
}

// TestFileStoreSeesEdits: removing a lost key from the file takes effect at
// once.
func TestFileStoreSeesEdits(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "credentials.json")
	s, _ := NewFileStore(path)
	if err := s.Add(ctx, Credential{ID: []byte{1}, PublicKey: []byte{2}, Name: "lost"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(`{"version":1,"credentials":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if creds, err := s.Credentials(ctx); err != nil || len(creds) != 0 {
		t.Errorf("after the edit: %v %v, want none", creds, err)
	}
}

func TestFileStoreRefusesBadFiles(t *testing.T) {
	for name, content := range map[string]string{
		"fail/not-json":        "{",
		"fail/unknown-field":   `{"version":1,"credentials":[],"admin":true}`,
		"fail/unknown-version": `{"version":2,"credentials":[]}`,
		"fail/trailing":        `{"version":1,"credentials":[]}{"version":1}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "credentials.json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := NewFileStore(path); err == nil {
				t.Errorf("NewFileStore accepted %s", content)
			}
		})
	}
	if _, err := NewFileStore(""); err == nil {
		t.Error("NewFileStore accepted an empty path")
	}
}

func TestFileStoreConcurrent(t *testing.T) {
	ctx := context.Background()
	s, _ := NewFileStore(filepath.Join(t.TempDir(), "credentials.json"))
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if err := s.Add(ctx, Credential{ID: []byte{byte(i)}, PublicKey: []byte{1}, Name: fmt.Sprint(i)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if creds, _ := s.Credentials(ctx); len(creds) != 20 {
		t.Errorf("%d credentials after 20 concurrent adds", len(creds))
	}
}
