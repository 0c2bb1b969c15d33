package reveal

import (
	"path"
	"strings"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/paths"
)

var fuzzPatterns = []string{"prod/**", "*/password", "db-*/creds", "**/tls/*", "a/**/b/**/c", "*a*b*", "**"}

// FuzzReveal runs fuzzed paths against fixed patterns: no panic, invalid
// paths are never revealed, "**" reveals every valid path, every answer
// agrees with the regular-expression oracle, and a valid path used as a
// pattern matches itself and nothing near it.
func FuzzReveal(f *testing.F) {
	for _, s := range []string{"prod", "prod/db", "db/password", "db-x/creds", "tls/key", "a/b/c", "ab", "",
		"/x", "x/", "a//b", "../x", "a/../b", "*", "**", "a\x00", "é", strings.Repeat("a/", 40)} {
		f.Add(s)
	}
	matchers := make([]*Matcher, len(fuzzPatterns))
	for i, p := range fuzzPatterns {
		m, err := New(Policy{Rules: []Rule{{Pattern: p, Reveal: true}}})
		if err != nil {
			f.Fatal(err)
		}
		matchers[i] = m
	}
	f.Fuzz(func(t *testing.T, p string) {
		_, perr := paths.Parse(p, false)
		for i, m := range matchers {
			got := m.Reveal(p)
			if perr != nil {
				if got {
					t.Fatalf("%q revealed the invalid path %q", fuzzPatterns[i], p)
				}
				continue
			}
			if want := oracleFor(fuzzPatterns[i]).MatchString("/" + p); got != want {
				t.Fatalf("%q vs %q: got %v, oracle %v", fuzzPatterns[i], p, got, want)
			}
			if fuzzPatterns[i] == "**" && !got {
				t.Fatalf(`"**" does not match %q`, p)
			}
		}
		if perr != nil {
			return
		}
		self, err := New(Policy{Rules: []Rule{{Pattern: p, Reveal: true}}})
		if err != nil {
			t.Fatalf("valid path %q refused as a pattern: %v", p, err)
		}
		if !self.Reveal(p) {
			t.Fatalf("pattern %q does not match itself", p)
		}
		for _, near := range []string{p + "x", "x" + p, p + "/x", "x/" + p, strings.ToUpper(p), p[:len(p)-1]} {
			if near != p && self.Reveal(near) {
				t.Fatalf("pattern %q matches %q", p, near)
			}
		}
	})
}

// FuzzPattern fuzzes pattern and path together: New never panics, a pattern
// it accepts matches exactly what the oracle matches, and without "**" that
// is what path.Match matches (which, like a pattern, keeps * inside a
// segment).
func FuzzPattern(f *testing.F) {
	for _, tc := range [][2]string{
		{"prod/**", "prod/db"}, {"*/password", "db/password"}, {"db-*/creds", "db-1/creds"},
		{"**/tls/*", "a/tls/b"}, {"a*b*c", "aXbYc"}, {"**/**", "a"}, {"***", "a"}, {"a/", "a"},
		{"[a]", "a"}, {"a?", "ab"}, {"", ""}, {"*", ".env"},
	} {
		f.Add(tc[0], tc[1])
	}
	f.Fuzz(func(t *testing.T, pat, p string) {
		m, err := New(Policy{Rules: []Rule{{Pattern: pat, Reveal: true}}})
		if err != nil {
			return
		}
		got := m.Reveal(p)
		if _, perr := paths.Parse(p, false); perr != nil {
			if got {
				t.Fatalf("%q revealed the invalid path %q", pat, p)
			}
			return
		}
		if want := oracleFor(pat).MatchString("/" + p); got != want {
			t.Fatalf("%q vs %q: got %v, oracle %v", pat, p, got, want)
		}
		if !strings.Contains(pat, "**") {
			want, err := path.Match(pat, p)
			if err != nil {
				t.Fatalf("path.Match(%q): %v", pat, err)
			}
			if got != want {
				t.Fatalf("%q vs %q: got %v, path.Match %v", pat, p, got, want)
			}
		}
	})
}
