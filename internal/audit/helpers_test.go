package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// keyText is a test key as an operator stores it (base64 of 32 bytes).
var keyText = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

func testKey(t testing.TB) sensitive.String {
	t.Helper()
	k, err := ParseKey(keyText)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// event is the n-th event of a generated set: same shape for every n, so
// every line has about the same length.
func event(n int) Event {
	return Event{
		Time:      time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(n) * time.Second),
		Event:     ToolCall,
		Outcome:   OK,
		Principal: fmt.Sprintf("agent-%03d", n),
		Tool:      "read_secret",
		Path:      "db/password",
	}
}

// openLog opens a file sink at path and a Log over it, continuing its chain.
func openLog(t testing.TB, path string, maxBytes int64, key sensitive.String, extra ...Sink) (*Log, *FileSink) {
	t.Helper()
	fs, err := NewFileSink(FileOptions{Path: path, MaxBytes: maxBytes, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	l := New(Options{Sinks: append([]Sink{fs}, extra...), Key: key, Head: fs.Head()})
	t.Cleanup(func() { _ = l.Close() })
	return l, fs
}

// writeSet writes events from..to (inclusive) through a fresh Log over the
// file at path, as one run of the server.
func writeSet(t testing.TB, path string, maxBytes int64, from, to int) Head {
	t.Helper()
	l, _ := openLog(t, path, maxBytes, testKey(t))
	for n := from; n <= to; n++ {
		if err := l.Record(context.Background(), event(n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return l.Head()
}

// setFiles lists a set's files, oldest first, the active file last.
func setFiles(t testing.TB, path string) []string {
	t.Helper()
	rot, err := Rotated(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rot {
		out = append(out, r.Path)
	}
	return append(out, path)
}

func readLines(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func writeLines(t testing.TB, path string, lines []string) {
	t.Helper()
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// lineLen is the length of a generated line, newline included.
func lineLen(t testing.TB) int64 {
	t.Helper()
	path := filepath.Join(t.TempDir(), "probe.jsonl")
	writeSet(t, path, 0, 1, 1)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}
