package secretuse

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/paths"
)

// attempt matches anything that looks like the start of a placeholder: "{{",
// optional blanks, a keyword not followed by another word character.
var attempt = regexp.MustCompile(`\{\{[ \t]*(secret|credential)([^A-Za-z0-9_]|$)`)

// FuzzParse feeds the placeholder parser any text, as an agent writes it in
// a URL, a header, a body or an environment value. Whatever the input:
//   - text without anything that starts like a placeholder parses, with no
//     reference, and expands to itself: other "{{" stay literal;
//   - text that starts a placeholder either parses or is refused with
//     ErrInvalid, never taken as literal text;
//   - what parses is the input again when written back, and every reference
//     is a clean agent path and a valid field name, at most 16 of them;
//   - as a URL, placeholders are accepted only after scheme://host/, and a
//     probe of it keeps the scheme and host exactly as written.
//
// The seed corpus is testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 4096 {
			return
		}
		tmpl, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) = %v, not ErrInvalid", s, err)
			}
			if !attempt.MatchString(s) {
				t.Fatalf("Parse(%q) refused text that starts no placeholder: %v", s, err)
			}
			return
		}
		if tmpl.String() != s {
			t.Fatalf("Parse(%q).String() = %q", s, tmpl.String())
		}
		if !attempt.MatchString(s) && tmpl.Len() != 0 {
			t.Fatalf("Parse(%q) found %d placeholders in text that starts none", s, tmpl.Len())
		}
		if tmpl.Len() > MaxPlaceholders {
			t.Fatalf("Parse(%q): %d placeholders", s, tmpl.Len())
		}
		for _, r := range tmpl.Refs() {
			switch r.Kind {
			case KindSecret:
				if p, err := paths.Parse(r.Path, false); err != nil || p != r.Path || !ValidField(r.Field) {
					t.Fatalf("Parse(%q): reference %+v", s, r)
				}
			case KindCredential:
				if !credentialName.MatchString(r.Path) || !ValidField(r.Field) {
					t.Fatalf("Parse(%q): reference %+v", s, r)
				}
			default:
				t.Fatalf("Parse(%q): reference of kind %q", s, r.Kind)
			}
		}
		out, err := tmpl.Expand(func(Ref) (string, error) { return "", nil })
		if err != nil {
			t.Fatal(err)
		}
		if tmpl.Len() == 0 && out != s {
			t.Fatalf("Parse(%q) expands to %q without a placeholder", s, out)
		}

		u, err := ParseURL(s)
		if err != nil || tmpl.Len() == 0 {
			return
		}
		// The text before the first placeholder holds scheme://host and the
		// character that ends the host.
		scheme, rest, ok := strings.Cut(s, "://")
		end := strings.IndexAny(rest, "/?#")
		if !ok || end < 0 || tmpl.parts[0].isRef || len(tmpl.parts[0].lit) <= len(scheme)+3+end {
			t.Fatalf("ParseURL(%q) accepted a placeholder before the path", s)
		}
		host := rest[:end]
		if p := u.Probe(); !strings.HasPrefix(p, scheme+"://"+host) {
			t.Fatalf("ParseURL(%q).Probe() = %q changes the scheme or host", s, p)
		}
	})
}
