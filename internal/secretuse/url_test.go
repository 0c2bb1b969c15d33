package secretuse

import (
	"errors"
	"strings"
	"testing"
)

func TestURLTemplate(t *testing.T) {
	values := map[string]string{
		"api/github#token": "tok/with?odd&chars #=",
		"api/github#org":   "acme",
	}
	value := func(r Ref) (string, error) { return values[r.Name()], nil }
	tests := []struct {
		name, in, expanded, probe, withoutQuery string
	}{
		{"ok/plain", "https://api.github.com/repos/acme/x?page=2",
			"https://api.github.com/repos/acme/x?page=2", "https://api.github.com/repos/acme/x?page=2", "https://api.github.com/repos/acme/x"},
		{"ok/path", `https://api.github.com/orgs/{{secret "api/github" "org"}}/repos`,
			"https://api.github.com/orgs/acme/repos", "https://api.github.com/orgs/x/repos", `https://api.github.com/orgs/{{secret "api/github" "org"}}/repos`},
		{"ok/path-escaped", `https://h.example/a/{{secret "api/github" "token"}}`,
			"https://h.example/a/tok%2Fwith%3Fodd&chars%20%23=", "https://h.example/a/x", `https://h.example/a/{{secret "api/github" "token"}}`},
		{"ok/query-escaped", `https://h.example/a?t={{secret "api/github" "token"}}&x=1`,
			"https://h.example/a?t=tok%2Fwith%3Fodd%26chars+%23%3D&x=1", "https://h.example/a?t=x&x=1", "https://h.example/a"},
		{"ok/both", `https://h.example/{{secret "api/github" "org"}}?q={{secret "api/github" "org"}}`,
			"https://h.example/acme?q=acme", "https://h.example/x?q=x", `https://h.example/{{secret "api/github" "org"}}`},
		{"ok/query-right-after-host", `https://h.example?t={{secret "api/github" "org"}}`,
			"https://h.example?t=acme", "https://h.example?t=x", "https://h.example"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := ParseURL(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := u.Expand(value)
			if err != nil || got != tc.expanded {
				t.Errorf("Expand() = %q, %v; want %q", got, err, tc.expanded)
			}
			if got := u.Probe(); got != tc.probe {
				t.Errorf("Probe() = %q, want %q", got, tc.probe)
			}
			if got := u.WithoutQuery(); got != tc.withoutQuery {
				t.Errorf("WithoutQuery() = %q, want %q", got, tc.withoutQuery)
			}
			if u.String() != tc.in {
				t.Errorf("String() = %q", u.String())
			}
		})
	}
}

func TestURLTemplateRefuses(t *testing.T) {
	for _, in := range []string{
		`{{secret "a" "b"}}`,
		`https://{{secret "a" "b"}}/x`,
		`https://{{secret "a" "b"}}.example/x`,
		`https://api.example:{{secret "a" "b"}}/x`,
		`https://user:{{secret "a" "b"}}@api.example/x`,
		`{{secret "a" "b"}}://api.example/x`,
		`https://api.example{{secret "a" "b"}}/x`,
		`api.example/{{secret "a" "b"}}`,
	} {
		if _, err := ParseURL(in); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "path or query") {
			t.Errorf("ParseURL(%q) = %v; want a placeholder-placement error", in, err)
		}
	}
}

func TestURLTemplateRefusesLineBreaks(t *testing.T) {
	u, err := ParseURL(`https://h.example/a?t={{secret "a" "b"}}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"x\r\nHost: evil", "x\ny", "x\x00y"} {
		_, err := u.Expand(func(Ref) (string, error) { return v, nil })
		if !errors.Is(err, ErrUnsafeValue) || strings.Contains(err.Error(), v) || !strings.Contains(err.Error(), "a#b") {
			t.Errorf("Expand with %q = %v; want ErrUnsafeValue naming a#b, not the value", v, err)
		}
	}
}
