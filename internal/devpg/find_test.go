package devpg

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeVersion makes root/VERSION/bin with the named programs in it.
func fakeVersion(t *testing.T, root, version string, programs ...string) string {
	t.Helper()
	bin := filepath.Join(root, version, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range programs {
		if err := os.WriteFile(filepath.Join(bin, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

func TestHighestIn(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	fakeVersion(t, root, "9.6", "initdb", "postgres", "psql")
	fakeVersion(t, root, "13", "initdb", "postgres", "psql")
	want := fakeVersion(t, root, "15", "initdb", "postgres", "psql")
	fakeVersion(t, root, "16", "psql") // a client without its server
	fakeVersion(t, root, "extra", "initdb", "postgres", "psql")

	got, ok := highestIn(root)
	if !ok {
		t.Fatal("highestIn found nothing")
	}
	wantBins := Bins{Initdb: filepath.Join(want, "initdb"), Postgres: filepath.Join(want, "postgres"), Psql: filepath.Join(want, "psql")}
	if diff := cmp.Diff(wantBins, got); diff != "" {
		t.Errorf("bins mismatch (-want +got):\n%s", diff)
	}

	if _, ok := highestIn(t.TempDir()); ok {
		t.Error("highestIn found binaries in an empty folder")
	}
}

// Not parallel: it sets the environment.
func TestFindBinsOverride(t *testing.T) {
	dir := fakeVersion(t, t.TempDir(), "17", "initdb", "postgres", "psql")
	t.Setenv(BinEnv, dir)
	got, err := FindBins()
	if err != nil {
		t.Fatal(err)
	}
	if got.Postgres != filepath.Join(dir, "postgres") {
		t.Errorf("postgres = %s, want the one in %s", got.Postgres, BinEnv)
	}

	t.Setenv(BinEnv, t.TempDir())
	if _, err := FindBins(); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("FindBins with an empty %s: err = %v, want ErrNotInstalled", BinEnv, err)
	}
}
