package audit

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseLine feeds the verify line parser what an attacker may write
// into an audit file. Seeds: testdata/fuzz/FuzzParseLine and the lines of
// testdata/bad_lines.txt, plus a genuine record.
func FuzzParseLine(f *testing.F) {
	c := newChain(testKey(f), Head{})
	genuine, _ := c.seal(nil, []byte(`{"time":"2026-01-02T03:04:05Z","event":"tool.call","outcome":"ok"}`))
	f.Add(genuine)
	if b, err := os.ReadFile(filepath.Join("testdata", "bad_lines.txt")); err == nil {
		for _, line := range bytes.Split(b, []byte("\n")) {
			f.Add(line)
		}
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := ParseLine(line)
		if err != nil {
			return
		}
		if r.Seq == 0 || len(r.MAC) != macLen || len(r.Prev) != macLen || !isHex([]byte(r.MAC)) || !isHex([]byte(r.Prev)) {
			t.Fatalf("accepted a bad record: %+v", r)
		}
		rebuilt := append(append([]byte{}, r.Signed...), macField+r.MAC+`"}`...)
		if !bytes.Equal(rebuilt, line) {
			t.Fatalf("the MAC'd part plus the mac is not the line:\n%s\n%s", rebuilt, line)
		}
		if c.check(r) && !bytes.Equal(line, genuine) {
			t.Fatalf("a line other than the genuine one verifies: %s", line)
		}
	})
}

// FuzzVerify runs Verify over a fuzzed file after a genuine one: it must
// never panic, and a set that verifies holds only records that parse.
func FuzzVerify(f *testing.F) {
	dir := f.TempDir()
	base := filepath.Join(dir, "seed.jsonl")
	l, _ := openLog(f, base, 0, testKey(f))
	for n := 1; n <= 3; n++ {
		if err := l.Record(context.Background(), event(n)); err != nil {
			f.Fatal(err)
		}
	}
	seed, err := os.ReadFile(base)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(append(bytes.Clone(seed), seed...))
	f.Add(seed[:len(seed)/2])
	f.Add([]byte("\n\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		sum, err := Verify(VerifyOptions{Key: testKey(t)}, []string{path})
		if err != nil {
			return
		}
		if !bytes.Equal(data, seed) {
			t.Fatalf("a changed file verifies (%+v):\n%q", sum, data)
		}
	})
}
