package audit

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// rotatedSet writes 20 records, 4 to a file: four rotated files (seqs 1-4,
// 5-8, 9-12, 13-16) and the active file (17-20).
func rotatedSet(t *testing.T) ([]string, Head) {
	t.Helper()
	l := lineLen(t)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	head := writeSet(t, path, 4*l+l/2, 1, 20)
	files := setFiles(t, path)
	if len(files) != 5 {
		t.Fatalf("files = %v, want 5", files)
	}
	for _, f := range files {
		if n := len(readLines(t, f)); n != 4 {
			t.Fatalf("%s has %d lines, want 4", f, n)
		}
	}
	return files, head
}

// forgedLine is a well-formed record that continues after, sealed with a
// key that is not the audit key: what an attacker without it can make.
func forgedLine(after Head, n int) string {
	wrong := sensitive.New("an attacker's guess at the key, 32+ bytes long")
	c := newChain(wrong, after)
	enc := []byte(`{"time":"2026-01-02T03:04:05Z","event":"grant.issued","outcome":"ok","principal":"` + event(n).Principal + `"}`)
	line, _ := c.seal(nil, enc)
	return string(line)
}

func recordAt(t *testing.T, file string, line int) Record {
	t.Helper()
	r, err := ParseLine([]byte(readLines(t, file)[line-1]))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVerifyTamperMatrix(t *testing.T) {
	type want struct {
		kind Kind
		file int // index into the set's files
		line int
		seq  uint64
	}
	tests := []struct {
		name string
		// mutate changes the files and returns the ones to verify.
		mutate func(t *testing.T, files []string) []string
		head   func(orig Head) string
		key    string // base64; default the audit key
		want   want   // kind "" means the set verifies
		// records is the count a set that verifies must report.
		records int
	}{
		{name: "ok", records: 20},
		{name: "ok/with-head", head: func(h Head) string { return h.MAC }, records: 20},
		{name: "ok/any-order", mutate: func(_ *testing.T, files []string) []string {
			out := slices.Clone(files)
			slices.Reverse(out)
			return out
		}, records: 20},
		{name: "ok/truncated-without-head-goes-unseen", mutate: func(t *testing.T, files []string) []string {
			writeLines(t, files[4], readLines(t, files[4])[:2])
			return files
		}, records: 18},
		{name: "fail/edit-field", mutate: func(t *testing.T, files []string) []string {
			lines := readLines(t, files[1])
			lines[1] = strings.Replace(lines[1], `"principal":"agent-006"`, `"principal":"agent-066"`, 1)
			writeLines(t, files[1], lines)
			return files
		}, want: want{Edited, 1, 2, 6}},
		{name: "fail/edit-outcome", mutate: func(t *testing.T, files []string) []string {
			lines := readLines(t, files[3])
			lines[3] = strings.Replace(lines[3], `"outcome":"ok"`, `"outcome":"denied"`, 1)
			writeLines(t, files[3], lines)
			return files
		}, want: want{Edited, 3, 4, 16}},
		{name: "fail/edit-mac", mutate: func(t *testing.T, files []string) []string {
			lines := readLines(t, files[1])
			l := lines[1]
			last := l[len(l)-3]
			swap := byte('0')
			if last == '0' {
				swap = '1'
			}
			lines[1] = l[:len(l)-3] + string(swap) + l[len(l)-2:]
			writeLines(t, files[1], lines)
			return files
		}, want: want{Edited, 1, 2, 6}},
		{name: "fail/edit-seq", mutate: func(t *testing.T, files []string) []string {
			lines := readLines(t, files[2])
			lines[0] = strings.Replace(lines[0], `"seq":9,`, `"seq":90,`, 1)
			writeLines(t, files[2], lines)
			return files
		}, want: want{Edited, 2, 1, 90}},
		{name: "fail/insert-forged", mutate: func(t *testing.T, files []string) []string {
			r := recordAt(t, files[1], 2)
			lines := readLines(t, files[1])
			lines = slices.Insert(lines, 2, forgedLine(Head{Seq: r.Seq, MAC: r.MAC}, 99))
			writeLines(t, files[1], lines)
			return files
		}, want: want{Inserted, 1, 3, 7}},
		{name: "fail/insert-forged-first", mutate: func(t *testing.T, files []string) []string {
			writeLines(t, files[0], append([]string{forgedLine(Head{}, 99)}, readLines(t, files[0])...))
			return files
		}, want: want{Inserted, 0, 1, 1}},
		{name: "fail/insert-replayed", mutate: func(t *testing.T, files []string) []string {
			genuine := readLines(t, files[0])[2] // seq 3
			lines := readLines(t, files[2])
			writeLines(t, files[2], slices.Insert(lines, 1, genuine))
			return files
		}, want: want{Replayed, 2, 2, 3}},
		{name: "fail/replayed-before-the-first", mutate: func(t *testing.T, files []string) []string {
			lines := readLines(t, files[0])
			writeLines(t, files[0], append([]string{lines[2]}, lines...))
			return files
		}, want: want{Replayed, 0, 1, 3}},
		{name: "fail/swap-across-files", mutate: func(t *testing.T, files []string) []string {
			a, b := readLines(t, files[1]), readLines(t, files[2])
			a[3], b[0] = b[0], a[3] // seqs 8 and 9
			writeLines(t, files[1], a)
			writeLines(t, files[2], b)
			return files
		}, want: want{Reordered, 1, 4, 9}},
		{name: "fail/remove-line", mutate: func(t *testing.T, files []string) []string {
			lines := readLines(t, files[2])
			writeLines(t, files[2], slices.Delete(lines, 1, 2)) // seq 10
			return files
		}, want: want{Removed, 2, 2, 11}},
		{name: "fail/remove-middle-file", mutate: func(t *testing.T, files []string) []string {
			if err := os.Remove(files[2]); err != nil {
				t.Fatal(err)
			}
			return slices.Delete(slices.Clone(files), 2, 3)
		}, want: want{Removed, 3, 1, 13}},
		{name: "fail/empty-middle-file", mutate: func(t *testing.T, files []string) []string {
			if err := os.Truncate(files[2], 0); err != nil {
				t.Fatal(err)
			}
			return files
		}, want: want{Removed, 3, 1, 13}},
		{name: "fail/swap-lines", mutate: func(t *testing.T, files []string) []string {
			lines := readLines(t, files[1])
			lines[1], lines[2] = lines[2], lines[1] // seqs 6 and 7
			writeLines(t, files[1], lines)
			return files
		}, want: want{Reordered, 1, 2, 7}},
		{name: "fail/move-line-later", mutate: func(t *testing.T, files []string) []string {
			lines := readLines(t, files[1])
			moved := lines[0] // seq 5, to the end of the next file
			writeLines(t, files[1], lines[1:])
			writeLines(t, files[2], append(readLines(t, files[2]), moved))
			return files
		}, want: want{Reordered, 1, 1, 6}},
		{name: "fail/truncated-with-head", mutate: func(t *testing.T, files []string) []string {
			writeLines(t, files[4], readLines(t, files[4])[:2])
			return files
		}, head: func(h Head) string { return h.MAC }, want: want{Truncated, 4, 2, 18}},
		{name: "fail/active-file-removed-with-head", mutate: func(_ *testing.T, files []string) []string {
			return files[:4]
		}, head: func(h Head) string { return h.MAC }, want: want{Truncated, 3, 4, 16}},
		{name: "fail/cut-mid-line", mutate: func(t *testing.T, files []string) []string {
			info, err := os.Stat(files[4])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(files[4], info.Size()-10); err != nil {
				t.Fatal(err)
			}
			return files
		}, want: want{Malformed, 4, 4, 0}},
		{name: "fail/wrong-key", key: base64.StdEncoding.EncodeToString([]byte("another key of thirty-two bytes!")),
			want: want{WrongKey, 0, 1, 1}},
		{name: "fail/garbage-line", mutate: func(t *testing.T, files []string) []string {
			writeLines(t, files[3], slices.Insert(readLines(t, files[3]), 1, `{"event":"grant.issued","outcome":"ok"}`))
			return files
		}, want: want{Malformed, 3, 2, 0}},
		{name: "fail/garbage-first-line", mutate: func(t *testing.T, files []string) []string {
			writeLines(t, files[2], append([]string{"not json at all"}, readLines(t, files[2])...))
			return files
		}, want: want{Malformed, 2, 1, 0}},
		{name: "fail/blank-line", mutate: func(t *testing.T, files []string) []string {
			writeLines(t, files[3], slices.Insert(readLines(t, files[3]), 2, ""))
			return files
		}, want: want{Malformed, 3, 3, 0}},
		{name: "fail/starts-mid-chain", mutate: func(_ *testing.T, files []string) []string {
			return files[1:]
		}, want: want{MidChain, 1, 1, 5}},
		{name: "fail/first-line-removed", mutate: func(t *testing.T, files []string) []string {
			writeLines(t, files[0], readLines(t, files[0])[1:])
			return files
		}, want: want{MidChain, 0, 1, 2}},
		{name: "fail/file-given-twice", mutate: func(_ *testing.T, files []string) []string {
			return append(slices.Clone(files), files[1])
		}, want: want{Replayed, 1, 1, 5}},
		{name: "fail/two-chains-mixed", mutate: func(t *testing.T, files []string) []string {
			other := filepath.Join(t.TempDir(), "other.jsonl")
			writeSet(t, other, 0, 101, 110)
			foreign := readLines(t, other)[5] // seq 6 of another chain, same key
			lines := readLines(t, files[1])
			lines[1] = foreign
			writeLines(t, files[1], lines)
			return files
		}, want: want{BrokenLink, 1, 2, 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, head := rotatedSet(t)
			given := files
			if tt.mutate != nil {
				given = tt.mutate(t, files)
			}
			opts := VerifyOptions{Key: testKey(t)}
			if tt.key != "" {
				k, err := ParseKey(tt.key)
				if err != nil {
					t.Fatal(err)
				}
				opts.Key = k
			}
			if tt.head != nil {
				opts.Head = tt.head(head)
			}
			sum, err := Verify(opts, given)
			if tt.want.kind == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if sum.Records != tt.records || sum.FirstSeq != 1 || sum.LastSeq != uint64(tt.records) {
					t.Errorf("summary = %+v, want %d records from seq 1", sum, tt.records)
				}
				if tt.records == 20 && sum.Head != head.MAC {
					t.Errorf("head = %s, want %s", sum.Head, head.MAC)
				}
				return
			}
			var p *Problem
			if !errors.As(err, &p) {
				t.Fatalf("Verify = %v, want a problem", err)
			}
			want := &Problem{Kind: tt.want.kind, File: files[tt.want.file], Line: tt.want.line, Seq: tt.want.seq}
			if diff := cmp.Diff(want, p, cmpopts.IgnoreFields(Problem{}, "Detail")); diff != "" {
				t.Errorf("problem mismatch (-want +got):\n%s\n%v", diff, p)
			}
			if p.Detail == "" {
				t.Errorf("problem without detail: %v", p)
			}
		})
	}
}

func TestVerifyHeadInTheMiddle(t *testing.T) {
	files, _ := rotatedSet(t)
	mid := recordAt(t, files[2], 2) // seq 10
	sum, err := Verify(VerifyOptions{Key: testKey(t), Head: mid.MAC}, files)
	if err != nil {
		t.Fatal(err)
	}
	if sum.HeadSeq != 10 || sum.LastSeq != 20 || sum.Files != 5 {
		t.Errorf("summary = %+v, want the head found at seq 10 of 20 in 5 files", sum)
	}
}

func TestVerifyRefusesBadInput(t *testing.T) {
	files, _ := rotatedSet(t)
	tests := []struct {
		name  string
		opts  VerifyOptions
		files []string
	}{
		{"fail/no-key", VerifyOptions{}, files},
		{"fail/head-not-hex", VerifyOptions{Key: testKey(t), Head: "not-a-mac"}, files},
		{"fail/missing-file", VerifyOptions{Key: testKey(t)}, []string{filepath.Join(t.TempDir(), "nope.jsonl")}},
		{"fail/no-records", VerifyOptions{Key: testKey(t)}, []string{emptyFile(t)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(tt.opts, tt.files)
			var p *Problem
			if err == nil || errors.As(err, &p) {
				t.Errorf("Verify = %v, want an error that is not a chain problem", err)
			}
		})
	}
}

func emptyFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "empty.jsonl")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEverySinkGetsTheSameChainedLine: the chain is computed once, in the
// Log, so a collector's copy verifies like the file.
func TestEverySinkGetsTheSameChainedLine(t *testing.T) {
	var a, b strings.Builder
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, _ := openLog(t, path, 0, testKey(t), NewWriterSink("a", &a), NewWriterSink("b", &b))
	for n := 1; n <= 3; n++ {
		if err := l.Record(context.Background(), event(n)); err != nil {
			t.Fatal(err)
		}
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if a.String() != string(file) || b.String() != string(file) {
		t.Errorf("sinks differ:\nfile %s\na    %s\nb    %s", file, a.String(), b.String())
	}
	copyPath := filepath.Join(t.TempDir(), "collected.jsonl")
	if err := os.WriteFile(copyPath, []byte(a.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(VerifyOptions{Key: testKey(t), Head: l.Head().MAC}, []string{copyPath}); err != nil {
		t.Errorf("a sink's copy does not verify: %v", err)
	}
}
