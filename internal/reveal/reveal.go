package reveal

import (
	"errors"
	"fmt"

	"github.com/gatekeeper-mcp/gatekeeper/internal/paths"
)

// ErrInvalidPattern is the class of every error New returns.
var ErrInvalidPattern = errors.New("invalid reveal pattern")

// Rule says whether values under the paths its Pattern matches may be shown
// to the model.
type Rule struct {
	Pattern string
	Reveal  bool
}

// Policy is an ordered list of rules. The first rule whose pattern matches a
// path decides; a path no rule matches gets Default. The zero Policy reveals
// nothing.
type Policy struct {
	Default bool
	Rules   []Rule
}

// Matcher answers Reveal for a compiled Policy. It is immutable and safe for
// concurrent use.
type Matcher struct {
	def   bool
	rules []compiledRule
}

type compiledRule struct {
	pat    pattern
	reveal bool
}

// New compiles p. It checks every pattern and reports all bad ones at once.
func New(p Policy) (*Matcher, error) {
	m := &Matcher{def: p.Default, rules: make([]compiledRule, 0, len(p.Rules))}
	var errs []error
	for i, r := range p.Rules {
		pat, err := compile(r.Pattern)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %d (%q): %w", i+1, r.Pattern, err))
			continue
		}
		m.rules = append(m.rules, compiledRule{pat: pat, reveal: r.Reveal})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// Reveal reports whether the value of the secret at path may be returned to
// the model. A path that is not a valid agent path (see paths.Parse) is never
// revealed, and neither is anything asked of a nil Matcher.
func (m *Matcher) Reveal(path string) bool {
	if m == nil {
		return false
	}
	if _, err := paths.Parse(path, false); err != nil {
		return false
	}
	for _, r := range m.rules {
		if r.pat.match(path) {
			return r.reveal
		}
	}
	return m.def
}
