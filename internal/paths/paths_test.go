package paths

import (
	"bufio"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		allowRoot bool
		want      string
		wantErr   bool
	}{
		{"ok/simple", "db/password", false, "db/password", false},
		{"ok/chars", "team-a/svc_1/api.key@prod:v=2,x+y", false, "team-a/svc_1/api.key@prod:v=2,x+y", false},
		{"ok/dotfile", "app/.env", false, "app/.env", false},
		{"ok/list-root", "", true, "", false},
		{"ok/list-trailing-slash", "db/", true, "db", false},
		{"fail/empty", "", false, "", true},
		{"fail/secret-trailing-slash", "db/", false, "", true},
		{"fail/too-long", strings.Repeat("a/", MaxLen/2) + "a", false, "", true},
		{"fail/segment-too-long", strings.Repeat("a", MaxSegmentLen+1), false, "", true},
		{"fail/too-many-segments", strings.Repeat("a/", MaxSegments) + "a", false, "", true},
		{"fail/list-root-slash-only", "/", true, "", true},
		{"fail/list-dotdot", "..", true, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in, tc.allowRoot)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Parse(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			if got != tc.want {
				t.Errorf("Parse(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseRefusesAttacks(t *testing.T) {
	f, err := os.Open("testdata/traversal.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "# ") {
			continue
		}
		in, err := strconv.Unquote(`"` + strings.ReplaceAll(line, `"`, `\"`) + `"`)
		if err != nil {
			t.Fatalf("testdata line %q: %v", line, err)
		}
		n++
		for _, root := range []bool{false, true} {
			if got, err := Parse(in, root); err == nil {
				t.Errorf("Parse(%q, %v) = %q, want an error", in, root, got)
			}
		}
	}
	if n < 40 {
		t.Fatalf("read %d attack strings, want the whole file", n)
	}
}

// FuzzParse checks that whatever Parse accepts stays inside the prefix: no
// traversal, no empty segment, nothing that a URL or Vault would read as
// more than a plain path.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"db/password", "", "a/../b", "%2e%2e", "a//b", "/x", "a\x00", "ok/", "é"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, in string, allowRoot bool) {
		got, err := Parse(in, allowRoot)
		if err != nil {
			if got != "" {
				t.Fatalf("Parse(%q) returned %q with error %v", in, got, err)
			}
			return
		}
		if got == "" {
			if !allowRoot {
				t.Fatalf("Parse(%q) accepted the empty path without allowRoot", in)
			}
			return
		}
		if len(got) > MaxLen || strings.HasPrefix(got, "/") || strings.HasSuffix(got, "/") {
			t.Fatalf("Parse(%q) = %q: bad shape", in, got)
		}
		for seg := range strings.SplitSeq(got, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("Parse(%q) = %q: segment %q", in, got, seg)
			}
		}
		for _, r := range got {
			if r < 0x21 || r > 0x7e || strings.ContainsRune(`%\?#*"'<>|&;$~`+"`", r) {
				t.Fatalf("Parse(%q) = %q: character %q", in, got, r)
			}
		}
		if again, err := Parse(got, allowRoot); err != nil || again != got {
			t.Fatalf("Parse is not stable: %q -> %q -> %q, %v", in, got, again, err)
		}
	})
}
