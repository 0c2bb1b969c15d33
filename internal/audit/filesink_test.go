package audit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRestartContinuesTheChain(t *testing.T) {
	l := lineLen(t)
	for _, tt := range []struct {
		name     string
		maxBytes int64
		// between runs: the active file renamed to its rotated name, as a
		// crash right after a rotation leaves it
		rotatedAway bool
	}{
		{name: "ok/one-file"},
		{name: "ok/rotated", maxBytes: 3 * l},
		{name: "ok/crash-right-after-rotation", rotatedAway: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			first := writeSet(t, path, tt.maxBytes, 1, 5)
			if first.Seq != 5 {
				t.Fatalf("first run head = %+v", first)
			}
			if tt.rotatedAway {
				if err := os.Rename(path, RotatedName(path, 1)); err != nil {
					t.Fatal(err)
				}
			}
			_, fs := openLog(t, path, tt.maxBytes, testKey(t))
			if got := fs.Head(); got != first {
				t.Fatalf("reopened head = %+v, want %+v", got, first)
			}
			if err := fs.Close(); err != nil {
				t.Fatal(err)
			}
			second := writeSet(t, path, tt.maxBytes, 6, 12)
			if second.Seq != 12 {
				t.Errorf("second run head = %+v, want seq 12", second)
			}
			sum, err := Verify(VerifyOptions{Key: testKey(t), Head: second.MAC}, setFiles(t, path))
			if err != nil {
				t.Fatalf("Verify after a restart: %v", err)
			}
			if sum.Records != 12 || sum.Head != second.MAC {
				t.Errorf("summary = %+v", sum)
			}
		})
	}
}

func TestRotationNamesFilesByTheirFirstSeq(t *testing.T) {
	l := lineLen(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	writeSet(t, path, 2*l, 1, 7)
	var names []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{"audit.000000000001.jsonl", "audit.000000000003.jsonl", "audit.000000000005.jsonl", "audit.jsonl"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && info.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", info.Mode().Perm())
	}
	if got := RotatedName("audit", 42); got != "audit.000000000042" {
		t.Errorf("RotatedName without an extension = %s", got)
	}
}

func TestFileSinkRefusesAChainItCannotContinue(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		want    string
	}{
		{"fail/plain-lines-from-before-the-chain", func(t *testing.T, path string) {
			writeLines(t, path, []string{`{"time":"2026-01-01T00:00:00Z","event":"tool.call","outcome":"ok"}`})
		}, "does not start with a chained record"},
		{"fail/last-record-edited", func(t *testing.T, path string) {
			writeSet(t, path, 0, 1, 3)
			lines := readLines(t, path)
			lines[2] = strings.Replace(lines[2], "agent-003", "agent-333", 1)
			writeLines(t, path, lines)
		}, "does not verify with the audit key"},
		{"fail/torn-last-line", func(t *testing.T, path string) {
			writeSet(t, path, 0, 1, 3)
			info, _ := os.Stat(path)
			if err := os.Truncate(path, info.Size()-5); err != nil {
				t.Fatal(err)
			}
		}, "incomplete"},
		{"fail/garbage-at-the-end", func(t *testing.T, path string) {
			writeSet(t, path, 0, 1, 3)
			writeLines(t, path, append(readLines(t, path), "garbage"))
		}, "not a chained record"},
		{"fail/directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, "audit file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			tt.prepare(t, path)
			_, err := NewFileSink(FileOptions{Path: path, Key: testKey(t)})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewFileSink = %v, want an error saying %q", err, tt.want)
			}
		})
	}
	t.Run("fail/other-key", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		writeSet(t, path, 0, 1, 3)
		other, err := ParseKey("b3RoZXIga2V5IG9mIHRoaXJ0eS10d28gYnl0ZXMgISEh")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := NewFileSink(FileOptions{Path: path, Key: other}); err == nil || !strings.Contains(err.Error(), "does not verify") {
			t.Errorf("NewFileSink with another key = %v", err)
		}
	})
	t.Run("fail/no-key", func(t *testing.T) {
		if _, err := NewFileSink(FileOptions{Path: filepath.Join(t.TempDir(), "a.jsonl")}); !errors.Is(err, ErrKey) {
			t.Errorf("NewFileSink without a key = %v", err)
		}
	})
}

// TestUnwritableFileRefusesTheDecision: a file sink that cannot take the
// record makes Record fail with ErrUnavailable, and the chain does not
// advance past a record nobody holds.
func TestUnwritableFileRefusesTheDecision(t *testing.T) {
	t.Run("fail/rotation-blocked", func(t *testing.T) {
		l := lineLen(t)
		dir := t.TempDir()
		path := filepath.Join(dir, "audit.jsonl")
		log, _ := openLog(t, path, 2*l, testKey(t))
		ctx := context.Background()
		for n := 1; n <= 2; n++ {
			if err := log.Record(ctx, event(n)); err != nil {
				t.Fatal(err)
			}
		}
		// The name the full file rotates to is taken (by a directory, so
		// even root cannot rename over it).
		if err := os.Mkdir(RotatedName(path, 1), 0o700); err != nil {
			t.Fatal(err)
		}
		before := log.Head()
		if err := log.Record(ctx, event(3)); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Record = %v, want ErrUnavailable", err)
		}
		if got := log.Head(); got != before {
			t.Errorf("head moved to %+v though no sink took the record", got)
		}
		if err := os.Remove(RotatedName(path, 1)); err != nil {
			t.Fatal(err)
		}
		if err := log.Record(ctx, event(3)); err != nil {
			t.Fatalf("Record once the way is clear: %v", err)
		}
		if _, err := Verify(VerifyOptions{Key: testKey(t), Head: log.Head().MAC}, setFiles(t, path)); err != nil {
			t.Errorf("Verify: %v", err)
		}
	})
	t.Run("fail/device-full", func(t *testing.T) {
		if _, err := os.Stat("/dev/full"); err != nil {
			t.Skip("no /dev/full here")
		}
		fs, err := NewFileSink(FileOptions{Path: "/dev/full", Key: testKey(t)})
		if err != nil {
			t.Fatal(err)
		}
		log := New(Options{Sinks: []Sink{fs}, Key: testKey(t)})
		defer func() { _ = log.Close() }()
		if err := log.Record(context.Background(), event(1)); !errors.Is(err, ErrUnavailable) {
			t.Errorf("Record = %v, want ErrUnavailable", err)
		}
	})
	t.Run("fail/read-only-file", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes read-only files")
		}
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		writeSet(t, path, 0, 1, 1)
		if err := os.Chmod(path, 0o400); err != nil {
			t.Fatal(err)
		}
		if _, err := NewFileSink(FileOptions{Path: path, Key: testKey(t)}); err == nil {
			t.Error("a read-only audit file was opened")
		}
	})
}

// TestOneSinkDownStillAdvancesTheChain: the file holds the record, the
// other sink failed; the next record links to it, and the file verifies.
func TestOneSinkDownStillAdvancesTheChain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	log, _ := openLog(t, path, 0, testKey(t), NewWriterSink("down", failingWriter{}))
	ctx := context.Background()
	for n := 1; n <= 3; n++ {
		if err := log.Record(ctx, event(n)); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Record = %v, want ErrUnavailable", err)
		}
	}
	if _, err := Verify(VerifyOptions{Key: testKey(t), Head: log.Head().MAC}, []string{path}); err != nil {
		t.Errorf("Verify: %v", err)
	}
}
