package secretuse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

var (
	// ErrNoField: the secret has no such field, or the field is not text.
	ErrNoField = errors.New("no text field")
	// ErrTooShort: the value is too short to be redacted from output.
	ErrTooShort = errors.New("secret value too short")
	// ErrTooMany: a call names more distinct references than MaxRefs.
	ErrTooMany = errors.New("too many secret references")
)

// MaxRefs bounds the distinct references of one call.
const MaxRefs = 16

// Secret is one value to use and the name its marker shows. fmt, slog and
// encoding/json print the value as [REDACTED].
type Secret struct {
	Name  string
	Value sensitive.String
}

// LogValue keeps the value out of slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.Name + "=" + sensitive.Redacted) }

// Values are the resolved values of a call's references. Printing them in
// any way shows [REDACTED].
type Values struct {
	order []Ref
	m     map[Ref]sensitive.String
}

// Get returns the value of r; ok is false if r was not resolved.
func (v *Values) Get(r Ref) (sensitive.String, bool) {
	s, ok := v.m[r]
	return s, ok
}

// Text returns r's value as text, for Template.Expand: the one place a
// value leaves its wrapper, towards where it is used.
func (v *Values) Text(r Ref) (string, error) {
	s, ok := v.m[r]
	if !ok {
		return "", fmt.Errorf("%s was not resolved", r.Name())
	}
	return s.Reveal(), nil
}

// Secrets lists the values with their names, in the order they were asked
// for.
func (v *Values) Secrets() []Secret {
	out := make([]Secret, 0, len(v.order))
	for _, r := range v.order {
		out = append(out, Secret{Name: r.Name(), Value: v.m[r]})
	}
	return out
}

// Redactor returns a redactor for every value.
func (v *Values) Redactor() *Redactor { return NewRedactor(v.Secrets()) }

// LogValue keeps the values out of slog output.
func (v *Values) LogValue() slog.Value { return slog.StringValue(sensitive.Redacted) }

// String keeps the values out of fmt output.
func (v *Values) String() string { return sensitive.Redacted }

// Format covers every fmt verb, %#v included.
func (v *Values) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(sensitive.Redacted)) }

// KV reads secrets; *vault.Client is one.
type KV interface {
	KVReadVersion(ctx context.Context, tok sensitive.String, mount, path string, version int64) (*vault.KVSecret, error)
}

// ResolverOptions configure a Resolver; both are required.
type ResolverOptions struct {
	Vault KV
	// Mount is the KV v2 mount that holds the agents' folders.
	Mount string
}

// Resolver reads the values references stand for, with the token of the
// agent's own grant: Vault's policy on that token, not Gatekeeper, decides
// what can be read. Reveal rules are not consulted: they decide what the
// read tools return to the model, and a value used here never goes to the
// model, so a path whose values are withheld can be used but not read.
type Resolver struct {
	kv    KV
	mount string
}

// NewResolver returns a Resolver; it panics without Vault or Mount.
func NewResolver(o ResolverOptions) *Resolver {
	if o.Vault == nil || o.Mount == "" {
		panic("secretuse.NewResolver: Vault and Mount are required")
	}
	return &Resolver{kv: o.Vault, mount: o.Mount}
}

// Source is where one agent's references resolve: its KV folder, read with
// its grant's token, and its live credentials.
type Source struct {
	Token  sensitive.String
	Folder string
	// Credential returns the fields of the agent's live credential of
	// that name; nil: no credential placeholder resolves.
	Credential func(name string) (map[string]sensitive.String, error)
}

// ErrNoCredential: a credential placeholder names no live credential.
var ErrNoCredential = errors.New("no live credential")

// Resolve reads each distinct path of refs once (the current version) with
// src's token, in its folder, takes credential fields from its live
// credentials, and returns every referenced field's value. A missing
// secret is vault.ErrNotFound; a missing or non-text field is ErrNoField; a
// value shorter than MinValueLen (without surrounding whitespace) is
// ErrTooShort. Errors name the path and field, never a value.
func (r *Resolver) Resolve(ctx context.Context, src Source, refs []Ref) (*Values, error) {
	tok, folder := src.Token, src.Folder
	v := &Values{m: make(map[Ref]sensitive.String, len(refs))}
	if len(refs) > MaxRefs {
		return nil, fmt.Errorf("%w: %d distinct references, at most %d", ErrTooMany, len(refs), MaxRefs)
	}
	read := map[string]map[string]any{}
	for _, ref := range refs {
		if _, dup := v.m[ref]; dup {
			continue
		}
		if ref.Kind == KindCredential {
			val, err := credentialField(src, ref)
			if err != nil {
				return nil, err
			}
			v.m[ref] = val
			v.order = append(v.order, ref)
			continue
		}
		if ref.Kind != KindSecret {
			return nil, fmt.Errorf("%w: %s placeholders cannot be resolved here", ErrInvalid, ref.Kind)
		}
		data, ok := read[ref.Path]
		if !ok {
			s, err := r.kv.KVReadVersion(ctx, tok, r.mount, join(folder, ref.Path), 0)
			if err == nil && s == nil {
				err = vault.ErrNotFound
			}
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", ref.Path, err)
			}
			data = s.Data
			read[ref.Path] = data
		}
		text, isText := data[ref.Field].(string)
		switch {
		case !isText:
			return nil, fmt.Errorf("%w: the secret %s has no text field %s", ErrNoField, ref.Path, ref.Field)
		case len(strings.TrimSpace(text)) < MinValueLen:
			return nil, fmt.Errorf("%w: %s is shorter than %d bytes (not counting surrounding whitespace), too short to redact from output safely", ErrTooShort, ref.Name(), MinValueLen)
		}
		v.m[ref] = sensitive.New(text)
		v.order = append(v.order, ref)
	}
	return v, nil
}

func join(folder, p string) string {
	if folder == "" {
		return p
	}
	return folder + "/" + p
}

// credentialField is one field of the agent's live credential.
func credentialField(src Source, ref Ref) (sensitive.String, error) {
	if src.Credential == nil {
		return sensitive.String{}, fmt.Errorf("%w: credential placeholders cannot be used here", ErrInvalid)
	}
	fields, err := src.Credential(ref.Path)
	if err != nil {
		return sensitive.String{}, fmt.Errorf("%w named %s: call issue_credential first (%w)", ErrNoCredential, ref.Path, err)
	}
	val, ok := fields[ref.Field]
	switch {
	case !ok || val.IsZero():
		return sensitive.String{}, fmt.Errorf("%w: the credential %s has no field %s", ErrNoField, ref.Path, ref.Field)
	case len(strings.TrimSpace(val.Reveal())) < MinValueLen:
		return sensitive.String{}, fmt.Errorf("%w: %s is shorter than %d bytes, too short to redact from output safely", ErrTooShort, ref.Name(), MinValueLen)
	}
	return val, nil
}
