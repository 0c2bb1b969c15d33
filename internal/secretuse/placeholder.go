package secretuse

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/gatekeeper-mcp/gatekeeper/internal/paths"
)

// ErrInvalid is the class of every error about a placeholder as written.
var ErrInvalid = errors.New("invalid placeholder")

// Kind is what a placeholder stands for.
type Kind string

// The kinds of placeholder.
const (
	// KindSecret is a field of a KV secret in the agent's folder:
	// {{secret "PATH" "FIELD"}}.
	KindSecret Kind = "secret"
	// KindCredential is a field of the agent's live credential of that
	// name (issue_credential): {{credential "NAME" "FIELD"}}. Path holds
	// the name.
	KindCredential Kind = "credential"
)

// Ref is what one placeholder refers to. It is comparable, so it can key a
// map of resolved values.
type Ref struct {
	Kind  Kind
	Path  string // relative to the agent's folder, clean (package paths)
	Field string
}

// Name is how the reference is shown in markers, errors and the audit log:
// "api/github#token", or "credentials/app-db#password" for a credential
// (its reveal path). It never holds a value.
func (r Ref) Name() string {
	if r.Kind == KindCredential {
		return CredentialPath(r.Path) + "#" + r.Field
	}
	return r.Path + "#" + r.Field
}

// CredentialPath is where reveal rules see the credential named name.
func CredentialPath(name string) string { return "credentials/" + name }

// Field names a field of a secret: the characters of a path segment.
var fieldName = regexp.MustCompile(`^[A-Za-z0-9._@+=,:-]{1,128}$`)

// ValidField reports whether s can name a field of a secret.
func ValidField(s string) bool { return fieldName.MatchString(s) }

// kindSpec is one kind of placeholder: its keyword, how many quoted
// arguments it takes and how they become a Ref. A new kind (a credential
// Vault mints, say) is one more entry.
type kindSpec struct {
	kind  Kind
	args  int
	usage string
	build func(args []string) (Ref, error)
}

var kinds = []kindSpec{
	{kind: KindSecret, args: 2, usage: `{{secret "PATH" "FIELD"}}`, build: secretRef},
	{kind: KindCredential, args: 2, usage: `{{credential "NAME" "FIELD"}}`, build: credentialRef},
}

// credentialName is a credential's name as the operator configures it.
var credentialName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidCredentialName reports whether s can name a credential.
func ValidCredentialName(s string) bool { return credentialName.MatchString(s) }

func credentialRef(args []string) (Ref, error) {
	if !credentialName.MatchString(args[0]) {
		return Ref{}, errors.New("the name must be a credential's name (lower-case letters, digits, - and _)")
	}
	if !ValidField(args[1]) {
		return Ref{}, errors.New("the field must be 1 to 128 letters, digits or . _ @ + = , : -")
	}
	return Ref{Kind: KindCredential, Path: args[0], Field: args[1]}, nil
}

func secretRef(args []string) (Ref, error) {
	p, err := paths.Parse(args[0], false)
	if err != nil {
		return Ref{}, err
	}
	if p != args[0] {
		return Ref{}, errors.New("the path must be written clean, without a trailing /")
	}
	if !ValidField(args[1]) {
		return Ref{}, errors.New("the field must be 1 to 128 letters, digits or . _ @ + = , : -")
	}
	return Ref{Kind: KindSecret, Path: p, Field: args[1]}, nil
}

// Limits of what one template may hold.
const (
	MaxPlaceholders = 16
	maxArgLen       = paths.MaxLen
)

// Template is text with placeholders in it, parsed.
type Template struct {
	parts []part
}

type part struct {
	lit   string
	ref   Ref
	isRef bool
	// raw is the placeholder as written, for messages and the audit log.
	raw string
}

// Parse reads the placeholders in s. Only "{{" directly followed by a
// kind's keyword and then a space or quote starts a placeholder; any other
// "{{" is literal text, so JSON, templates of other tools and "{{" in
// general pass through. A placeholder that starts but does not parse is an
// error, never literal text: the agent meant a secret, and sending the
// placeholder as written would silently do something else. "{{ secret",
// with a space, is an error for the same reason.
func Parse(s string) (Template, error) {
	var t Template
	lit := 0 // start of the pending literal text
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], "{{")
		if j < 0 {
			break
		}
		at := i + j
		spec, ok, err := startsPlaceholder(s[at+2:])
		if err != nil {
			return Template{}, fmt.Errorf("%w at byte %d: %w", ErrInvalid, at+1, err)
		}
		if !ok {
			i = at + 1
			continue
		}
		ref, n, err := parseOne(s[at:], spec)
		if err != nil {
			return Template{}, fmt.Errorf("%w at byte %d: %w; write %s", ErrInvalid, at+1, err, spec.usage)
		}
		if lit < at {
			t.parts = append(t.parts, part{lit: s[lit:at]})
		}
		t.parts = append(t.parts, part{ref: ref, isRef: true, raw: s[at : at+n]})
		if t.Len() > MaxPlaceholders {
			return Template{}, fmt.Errorf("%w: more than %d placeholders", ErrInvalid, MaxPlaceholders)
		}
		i = at + n
		lit = i
	}
	if lit < len(s) {
		t.parts = append(t.parts, part{lit: s[lit:]})
	}
	return t, nil
}

// startsPlaceholder says whether the text after "{{" begins a placeholder,
// and of which kind. A keyword followed by a letter, digit or _ is another
// word ("{{secretary}}") and literal.
func startsPlaceholder(rest string) (kindSpec, bool, error) {
	trimmed := strings.TrimLeft(rest, " \t")
	for _, k := range kinds {
		kw := string(k.kind)
		if !strings.HasPrefix(trimmed, kw) || wordByte(trimmed, len(kw)) {
			continue
		}
		if len(trimmed) != len(rest) {
			return kindSpec{}, false, fmt.Errorf("no space is allowed between {{ and %s", kw)
		}
		return k, true, nil
	}
	return kindSpec{}, false, nil
}

func wordByte(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	c := s[i]
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// parseOne parses the placeholder at the start of s and returns it and its
// length: "{{" keyword, then spec.args double-quoted arguments each after at
// least one space, then optional spaces and "}}". Arguments hold no quote,
// backslash or control character: paths and fields never need one.
func parseOne(s string, spec kindSpec) (Ref, int, error) {
	i := 2 + len(spec.kind)
	args := make([]string, 0, spec.args)
	for len(args) < spec.args {
		sp := i
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i == sp {
			return Ref{}, 0, fmt.Errorf("expected a space and argument %d", len(args)+1)
		}
		if i >= len(s) || s[i] != '"' {
			return Ref{}, 0, fmt.Errorf("argument %d must be in double quotes", len(args)+1)
		}
		end := i + 1
		for end < len(s) && s[end] != '"' {
			if c := s[end]; c == '\\' || c < 0x20 || c == 0x7f {
				return Ref{}, 0, fmt.Errorf("argument %d holds a backslash or control character", len(args)+1)
			}
			end++
		}
		if end >= len(s) {
			return Ref{}, 0, fmt.Errorf("argument %d has no closing quote", len(args)+1)
		}
		if end-i-1 > maxArgLen {
			return Ref{}, 0, fmt.Errorf("argument %d is longer than %d bytes", len(args)+1, maxArgLen)
		}
		args = append(args, s[i+1:end])
		i = end + 1
	}
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if !strings.HasPrefix(s[i:], "}}") {
		return Ref{}, 0, fmt.Errorf("expected }} after %d arguments", spec.args)
	}
	ref, err := spec.build(args)
	if err != nil {
		return Ref{}, 0, err
	}
	return ref, i + 2, nil
}

// Len is the number of placeholders.
func (t Template) Len() int {
	n := 0
	for _, p := range t.parts {
		if p.isRef {
			n++
		}
	}
	return n
}

// Refs returns the distinct references, in order of first appearance.
func (t Template) Refs() []Ref {
	var out []Ref
	seen := map[Ref]bool{}
	for _, p := range t.parts {
		if p.isRef && !seen[p.ref] {
			seen[p.ref] = true
			out = append(out, p.ref)
		}
	}
	return out
}

// String is the template as written, placeholders included: safe to show
// and to audit, since it holds no value.
func (t Template) String() string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.isRef {
			b.WriteString(p.raw)
		} else {
			b.WriteString(p.lit)
		}
	}
	return b.String()
}

// Expand returns the text with each placeholder replaced by what value
// returns for its reference. The result holds secret values: it goes to
// where the secret is used and nowhere else.
func (t Template) Expand(value func(Ref) (string, error)) (string, error) {
	var b strings.Builder
	for _, p := range t.parts {
		if !p.isRef {
			b.WriteString(p.lit)
			continue
		}
		v, err := value(p.ref)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// Only reports whether the template is exactly one placeholder, and which.
func (t Template) Only() (Ref, bool) {
	if len(t.parts) == 1 && t.parts[0].isRef {
		return t.parts[0].ref, true
	}
	return Ref{}, false
}

// MergeRefs returns the distinct references of several templates, in order.
func MergeRefs(ts ...Template) []Ref {
	var out []Ref
	seen := map[Ref]bool{}
	for _, t := range ts {
		for _, r := range t.Refs() {
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	return out
}
