package reveal

import (
	"bufio"
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/paths"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		policy  Policy
		wantErr int // number of bad rules reported
	}{
		{"ok/zero", Policy{}, 0},
		{"ok/globs", Policy{Rules: []Rule{
			{Pattern: "prod/**"}, {Pattern: "*/password"}, {Pattern: "db-*/creds"},
			{Pattern: "**/tls/*"}, {Pattern: "**"}, {Pattern: "*"}, {Pattern: "a*b*c/x"},
			{Pattern: "**/**/x"}, {Pattern: "team-a/svc_1/api.key@prod:v=2,x+y"}, {Pattern: "app/.env"},
		}}, 0},
		{"ok/limits", Policy{Rules: []Rule{
			{Pattern: strings.Repeat("a", paths.MaxSegmentLen)},
			{Pattern: strings.Repeat("*/", paths.MaxSegments-1) + "*"},
		}}, 0},
		{"fail/one", Policy{Rules: []Rule{{Pattern: "ok/**"}, {Pattern: ""}}}, 1},
		{"fail/every-bad-rule", Policy{Rules: []Rule{
			{Pattern: "/abs"}, {Pattern: "ok"}, {Pattern: "trailing/"}, {Pattern: "a/../b"}, {Pattern: "a?"},
		}}, 4},
		{"fail/segment-too-long", Policy{Rules: []Rule{{Pattern: strings.Repeat("a", paths.MaxSegmentLen+1)}}}, 1},
		{"fail/too-many-segments", Policy{Rules: []Rule{{Pattern: strings.Repeat("*/", paths.MaxSegments) + "*"}}}, 1},
		{"fail/too-long", Policy{Rules: []Rule{{Pattern: strings.Repeat("a/", paths.MaxLen/2) + "a"}}}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(tc.policy)
			if tc.wantErr == 0 {
				if err != nil || m == nil {
					t.Fatalf("New() = %v, %v; want a matcher", m, err)
				}
				return
			}
			if err == nil || m != nil {
				t.Fatalf("New() = %v, %v; want an error", m, err)
			}
			if !errors.Is(err, ErrInvalidPattern) {
				t.Errorf("error %v is not ErrInvalidPattern", err)
			}
			var joined interface{ Unwrap() []error }
			if !errors.As(err, &joined) || len(joined.Unwrap()) != tc.wantErr {
				t.Errorf("error %q: want %d joined errors", err, tc.wantErr)
			}
		})
	}
}

func TestNewRefusesAttacks(t *testing.T) {
	f, err := os.Open("testdata/invalid_patterns.txt")
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
		if m, err := New(Policy{Rules: []Rule{{Pattern: in, Reveal: true}}}); err == nil {
			t.Errorf("New(%q) = %v, want an error", in, m)
		} else if !errors.Is(err, ErrInvalidPattern) {
			t.Errorf("New(%q): error %v is not ErrInvalidPattern", in, err)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 40 {
		t.Fatalf("read %d attack patterns, want the whole file", n)
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern string
		match   []string
		noMatch []string
	}{
		{"db/password",
			[]string{"db/password"},
			[]string{"db", "db/password/x", "x/db/password", "db/passwords", "db/Password", "dbx/password"}},
		{"prod/**",
			[]string{"prod", "prod/db", "prod/db/password", "prod/a/b/c/d"},
			[]string{"production", "production/db", "dev/prod", "prodx/db", "x/prod/db"}},
		{"*/password",
			[]string{"db/password", "a/password", ".x/password"},
			[]string{"password", "a/b/password", "db/password2", "db/password/x"}},
		{"db-*/creds",
			[]string{"db-/creds", "db-main/creds", "db-a-b/creds"},
			[]string{"db/creds", "db-main/creds/x", "xdb-main/creds", "db-main/x/creds"}},
		{"**/tls/*",
			[]string{"tls/key", "web/tls/cert", "web/eu/tls/cert", "tls/tls/tls"},
			[]string{"tls", "tls/a/b", "web/tls", "web/tlsx/key", "web/xtls/key"}},
		{"**",
			[]string{"a", "a/b", "a/b/c/d/e/f", "x.y@z"},
			nil},
		{"*",
			[]string{"a", "password", ".env"},
			[]string{"a/b"}},
		{"a/**/b",
			[]string{"a/b", "a/x/b", "a/x/y/z/b", "a/b/b", "a/b/x/b"},
			[]string{"a", "b", "a/bx", "a/b/x", "x/a/b"}},
		{"**/b/**",
			[]string{"b", "a/b", "b/c", "a/b/c", "x/y/b/z/w"},
			[]string{"a", "bb", "a/bc/d"}},
		{"**/**/x",
			[]string{"x", "a/x", "a/b/x"},
			[]string{"a", "x/a"}},
		{"*-*-*",
			[]string{"a-b-c", "--", "x-y-z-w", "-a-"},
			[]string{"a-b", "ab", "a-b/c-d"}},
		{"a*a*a",
			[]string{"aaa", "aaaa", "abababa", "aXaYa"},
			[]string{"aa", "aab", "baaa"}},
		{"*.pem",
			[]string{"cert.pem", ".pem"},
			[]string{"cert.pem.bak", "cert.pe", "a/cert.pem"}},
		{"*/*",
			[]string{"a/b"},
			[]string{"a", "a/b/c"}},
		{"**/a/**/b/*",
			[]string{"a/b/c", "x/a/y/b/c", "a/a/b/b/c"},
			[]string{"a/b", "b/a/c", "a/c/b"}},
	}
	for _, tc := range tests {
		t.Run(tc.pattern, func(t *testing.T) {
			m, err := New(Policy{Rules: []Rule{{Pattern: tc.pattern, Reveal: true}}})
			if err != nil {
				t.Fatal(err)
			}
			oracle := oracleFor(tc.pattern)
			for _, p := range tc.match {
				if !m.Reveal(p) {
					t.Errorf("%q does not match %q, want a match", tc.pattern, p)
				}
				if !oracle.MatchString("/" + p) {
					t.Errorf("oracle disagrees: %q should match %q", tc.pattern, p)
				}
			}
			for _, p := range tc.noMatch {
				if m.Reveal(p) {
					t.Errorf("%q matches %q, want no match", tc.pattern, p)
				}
				if oracle.MatchString("/" + p) {
					t.Errorf("oracle disagrees: %q should not match %q", tc.pattern, p)
				}
			}
		})
	}
}

func TestRevealPolicy(t *testing.T) {
	policy := Policy{
		Default: true,
		Rules: []Rule{
			{Pattern: "prod/public/**", Reveal: true},
			{Pattern: "prod/**", Reveal: false},
			{Pattern: "*/password", Reveal: false},
			{Pattern: "**/tls/*.key", Reveal: false},
		},
	}
	m, err := New(policy)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want bool
	}{
		{"ok/first-rule-wins", "prod/public/banner", true},
		{"ok/second-rule", "prod/db/password", false},
		{"ok/prefix-itself", "prod", false},
		{"ok/third-rule", "dev/password", false},
		{"ok/glob-in-segment", "dev/web/tls/server.key", false},
		{"ok/glob-in-segment-miss", "dev/web/tls/server.crt", true},
		{"ok/default", "dev/db/password", true},
		{"fail/invalid-path-never-revealed", "../prod/public/x", false},
		{"fail/absolute-never-revealed", "/dev/x", false},
		{"fail/empty-never-revealed", "", false},
		{"fail/trailing-slash-never-revealed", "dev/x/", false},
		{"fail/glob-in-path-never-revealed", "dev/*", false},
		{"fail/double-slash-never-revealed", "dev//x", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := m.Reveal(tc.path); got != tc.want {
				t.Errorf("Reveal(%q) = %v, want %v", tc.path, got, tc.want)
			}
		})
	}
}

func TestRevealFailsClosed(t *testing.T) {
	var nilMatcher *Matcher
	if nilMatcher.Reveal("db/password") {
		t.Error("a nil Matcher revealed a value")
	}
	zero, err := New(Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if zero.Reveal("db/password") {
		t.Error("the zero Policy revealed a value")
	}
	all, err := New(Policy{Default: true})
	if err != nil {
		t.Fatal(err)
	}
	if !all.Reveal("db/password") {
		t.Error("Default: true did not reveal a value no rule matches")
	}
}

// TestPathAlphabet keeps pathChar in step with package paths: a character
// paths accepts must be usable literally in a pattern, and one it refuses
// must be refused here too.
func TestPathAlphabet(t *testing.T) {
	for c := 0; c < 256; c++ {
		s := string([]byte{byte(c)}) + "x"
		_, pathErr := paths.Parse(s, false)
		if got, want := pathChar(byte(c)), pathErr == nil; got != want {
			t.Errorf("byte %#x: pathChar = %v, paths.Parse accepts = %v", c, got, want)
		}
	}
}

// oracleFor turns a valid pattern into an equivalent regular expression over
// "/"+path, an implementation independent of match: a plain segment is
// "/" and the segment with * as [^/]*, and ** is any number of "/segment".
func oracleFor(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for seg := range strings.SplitSeq(pattern, "/") {
		if seg == "**" {
			b.WriteString("(?:/[^/]+)*")
			continue
		}
		b.WriteString("/")
		for i, lit := range strings.Split(seg, "*") {
			if i > 0 {
				b.WriteString("[^/]*")
			}
			b.WriteString(regexp.QuoteMeta(lit))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}
