package secretuse

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrUnsafeValue: a secret's value cannot go where its placeholder stands
// (a line break in a header or a URL). The error names the reference,
// never the value.
var ErrUnsafeValue = errors.New("secret value not usable here")

// URLTemplate is a URL whose placeholders stand only in its path or query:
// never in the scheme, the user information, the host or the port, which
// decide where a request goes and must be visible to the allowlist as
// written. A value is percent-escaped for where it lands, so it cannot add
// a path segment, a query parameter or a fragment.
type URLTemplate struct {
	t Template
	// query[i] says whether t.parts[i] lies in the query.
	query []bool
	// pathEnd is the index of the part holding the "?" (or "#") that ends
	// the path, or len(parts), and pathEndAt where in that part's text.
	pathEnd, pathEndAt int
}

// ParseURL parses a URL template. It checks only where placeholders stand;
// whether the URL may be requested is for the egress allowlist to decide.
func ParseURL(s string) (URLTemplate, error) {
	t, err := Parse(s)
	if err != nil {
		return URLTemplate{}, err
	}
	u := URLTemplate{t: t, query: make([]bool, len(t.parts)), pathEnd: len(t.parts)}
	// Where the authority ends in the first part: placeholders come after.
	off := 0
	if len(t.parts) > 0 && !t.parts[0].isRef {
		if _, rest, ok := strings.Cut(t.parts[0].lit, "://"); ok {
			if j := strings.IndexAny(rest, "/?#"); j >= 0 {
				off = len(t.parts[0].lit) - len(rest) + j
			}
		}
	}
	if t.Len() > 0 && off == 0 {
		return URLTemplate{}, fmt.Errorf("%w: placeholders may stand only in the URL's path or query, after scheme://host[:port]/", ErrInvalid)
	}
	inQuery := false
	for i, p := range t.parts {
		if p.isRef {
			u.query[i] = inQuery
			continue
		}
		from := 0
		if i == 0 {
			from = off
		}
		if j := strings.IndexAny(p.lit[from:], "?#"); j >= 0 && !inQuery {
			inQuery = true
			u.pathEnd, u.pathEndAt = i, from+j
		}
	}
	return u, nil
}

// Refs returns the distinct references in the URL.
func (u URLTemplate) Refs() []Ref { return u.t.Refs() }

// Template is the URL as a plain template.
func (u URLTemplate) Template() Template { return u.t }

// String is the URL as written.
func (u URLTemplate) String() string { return u.t.String() }

// WithoutQuery is the URL as written up to its query: scheme, host, port and
// path with placeholders as written. It holds no value, and no query (which
// often holds things an audit trail should not keep).
func (u URLTemplate) WithoutQuery() string {
	var b strings.Builder
	for i, p := range u.t.parts {
		if i > u.pathEnd {
			break
		}
		text := p.lit
		if p.isRef {
			text = p.raw
		}
		if i == u.pathEnd {
			text = text[:u.pathEndAt]
		}
		b.WriteString(text)
	}
	return b.String()
}

// Probe is the URL with every placeholder replaced by "x": what the
// allowlist can check before any secret is read. A placeholder must not be
// what makes a URL allowed.
func (u URLTemplate) Probe() string {
	s, _ := u.expand(func(Ref) (string, error) { return "x", nil })
	return s
}

// Expand returns the URL with each placeholder replaced by its value,
// escaped for the path or the query. A value holding a CR, LF or NUL is
// refused (ErrUnsafeValue) rather than escaped: no credential holds one,
// and a server that unescapes it could be made to split a line.
func (u URLTemplate) Expand(value func(Ref) (string, error)) (string, error) {
	return u.expand(func(r Ref) (string, error) {
		v, err := value(r)
		if err != nil {
			return "", err
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return "", fmt.Errorf("%w: the value of %s holds a line break or NUL, which a URL must not carry", ErrUnsafeValue, r.Name())
		}
		return v, nil
	})
}

func (u URLTemplate) expand(value func(Ref) (string, error)) (string, error) {
	var b strings.Builder
	for i, p := range u.t.parts {
		if !p.isRef {
			b.WriteString(p.lit)
			continue
		}
		v, err := value(p.ref)
		if err != nil {
			return "", err
		}
		if u.query[i] {
			b.WriteString(url.QueryEscape(v))
		} else {
			b.WriteString(url.PathEscape(v))
		}
	}
	return b.String(), nil
}
