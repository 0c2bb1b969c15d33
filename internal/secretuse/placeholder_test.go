package secretuse

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	gh := Ref{Kind: KindSecret, Path: "api/github", Field: "token"}
	tests := []struct {
		name string
		in   string
		want []Ref
		// expanded is the text with each value written as <path#field>.
		expanded string
	}{
		{"ok/no-placeholder", "plain text", nil, "plain text"},
		{"ok/empty", "", nil, ""},
		{"ok/one", `Bearer {{secret "api/github" "token"}}`, []Ref{gh}, "Bearer <api/github#token>"},
		{"ok/spaces-and-tabs", "{{secret \t\"api/github\"  \"token\" \t}}", []Ref{gh}, "<api/github#token>"},
		{"ok/twice-counted-once", `{{secret "api/github" "token"}}:{{secret "api/github" "token"}}`, []Ref{gh}, "<api/github#token>:<api/github#token>"},
		{"ok/two", `{{secret "db/pg" "user"}}:{{secret "db/pg" "password"}}@h`, []Ref{
			{KindSecret, "db/pg", "user"}, {KindSecret, "db/pg", "password"},
		}, "<db/pg#user>:<db/pg#password>@h"},
		{"ok/field-alphabet", `{{secret "a" "x.y_z@a+b=c,d:e-f"}}`, []Ref{{KindSecret, "a", "x.y_z@a+b=c,d:e-f"}}, "<a#x.y_z@a+b=c,d:e-f>"},
		{"ok/other-braces-literal", `{"a": {{name}}, "b": "{{ .Foo }}", "c": {{}}}`, nil, `{"a": {{name}}, "b": "{{ .Foo }}", "c": {{}}}`},
		{"ok/longer-word-literal", `{{secretary "a" "b"}} {{secret_x}} {{secrets}}`, nil, `{{secretary "a" "b"}} {{secret_x}} {{secrets}}`},
		{"ok/upper-case-literal", `{{SECRET "a" "b"}}`, nil, `{{SECRET "a" "b"}}`},
		{"ok/triple-brace", `{{{secret "api/github" "token"}}}`, []Ref{gh}, "{<api/github#token>}"},
		{"ok/single-brace", `{secret "a" "b"}`, nil, `{secret "a" "b"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, tmpl.Refs()); diff != "" {
				t.Errorf("refs mismatch (-want +got):\n%s", diff)
			}
			if tmpl.String() != tc.in {
				t.Errorf("String() = %q, want the input", tmpl.String())
			}
			got, err := tmpl.Expand(func(r Ref) (string, error) { return "<" + r.Name() + ">", nil })
			if err != nil || got != tc.expanded {
				t.Errorf("Expand() = %q, %v; want %q", got, err, tc.expanded)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"fail/space-after-braces", `{{ secret "a" "b"}}`, "no space is allowed between {{ and secret"},
		{"fail/no-space-before-arg", `{{secret"a" "b"}}`, "expected a space"},
		{"fail/unquoted", `{{secret a b}}`, "double quotes"},
		{"fail/single-quotes", `{{secret 'a' 'b'}}`, "double quotes"},
		{"fail/unclosed-quote", `{{secret "a "b"}}`, "expected a space"},
		{"fail/unterminated", `x {{secret "a" "b"`, "expected }}"},
		{"fail/no-closing-quote", `{{secret "a" "b`, "no closing quote"},
		{"fail/one-argument", `{{secret "a"}}`, "expected a space and argument 2"},
		{"fail/three-arguments", `{{secret "a" "b" "c"}}`, "expected }} after 2 arguments"},
		{"fail/bare-keyword", `{{secret}}`, "expected a space and argument 1"},
		{"fail/traversal", `{{secret "../other/db" "pw"}}`, "relative reference"},
		{"fail/absolute", `{{secret "/secret/agent/db" "pw"}}`, "must be relative"},
		{"fail/trailing-slash", `{{secret "db/" "pw"}}`, "invalid path"},
		{"fail/empty-path", `{{secret "" "pw"}}`, "empty"},
		{"fail/encoded-traversal", `{{secret "%2e%2e/db" "pw"}}`, "not allowed"},
		{"fail/bad-field", `{{secret "db" "pass word"}}`, "the field must be"},
		{"fail/empty-field", `{{secret "db" ""}}`, "the field must be"},
		{"fail/backslash", `{{secret "db\\x" "pw"}}`, "backslash"},
		{"fail/newline", "{{secret \"db\nx\" \"pw\"}}", "control character"},
		{"fail/single-closing-brace", `{{secret "a" "b"}`, "expected }}"},
		{"fail/too-many", strings.Repeat(`{{secret "a" "b"}}`, MaxPlaceholders+1), "more than 16 placeholders"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.in)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded", tc.in)
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%q) = %v; want ErrInvalid containing %q", tc.in, err, tc.want)
			}
		})
	}
}

func TestOnly(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{`{{secret "a" "b"}}`, true},
		{` {{secret "a" "b"}}`, false},
		{`x`, false},
		{`{{secret "a" "b"}}{{secret "a" "b"}}`, false},
	} {
		tmpl, err := Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := tmpl.Only(); ok != tc.want {
			t.Errorf("Only(%q) = %v, want %v", tc.in, ok, tc.want)
		}
	}
}
