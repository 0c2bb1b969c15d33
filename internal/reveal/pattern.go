package reveal

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gatekeeper-mcp/gatekeeper/internal/paths"
)

// pattern is a compiled glob: one element per segment of the pattern, with
// runs of "**" collapsed into one (they mean the same).
type pattern []segPattern

// segPattern matches one path segment, or, if any, any number of segments.
// For a segment with single stars, parts holds the literal text between
// them: "db-*-creds" is ["db-", "-creds"]; a segment without stars is one
// part and must equal it.
type segPattern struct {
	any   bool // "**"
	parts []string
}

func compile(s string) (pattern, error) {
	switch {
	case s == "":
		return nil, fmt.Errorf("%w: empty", ErrInvalidPattern)
	case len(s) > paths.MaxLen:
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalidPattern, paths.MaxLen)
	case strings.HasPrefix(s, "/"):
		return nil, fmt.Errorf("%w: must be relative, without a leading /", ErrInvalidPattern)
	case strings.HasSuffix(s, "/"):
		return nil, fmt.Errorf("%w: has a trailing / (use \"dir/**\" for everything under dir)", ErrInvalidPattern)
	}
	segs := strings.Split(s, "/")
	if len(segs) > paths.MaxSegments {
		return nil, fmt.Errorf("%w: more than %d segments", ErrInvalidPattern, paths.MaxSegments)
	}
	pat := make(pattern, 0, len(segs))
	for i, seg := range segs {
		sp, err := compileSegment(seg)
		if err != nil {
			return nil, fmt.Errorf("%w: segment %d %w", ErrInvalidPattern, i+1, err)
		}
		if sp.any && len(pat) > 0 && pat[len(pat)-1].any {
			continue
		}
		pat = append(pat, sp)
	}
	return pat, nil
}

func compileSegment(s string) (segPattern, error) {
	switch {
	case s == "":
		return segPattern{}, errors.New("is empty")
	case s == "." || s == "..":
		return segPattern{}, errors.New("is a relative reference")
	case len(s) > paths.MaxSegmentLen:
		return segPattern{}, fmt.Errorf("is longer than %d bytes", paths.MaxSegmentLen)
	case s == "**":
		return segPattern{any: true}, nil
	case strings.Contains(s, "**"):
		return segPattern{}, errors.New(`has "**" inside a segment ("**" must be a whole segment; use "*" within one)`)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '*' && !pathChar(c) {
			return segPattern{}, fmt.Errorf("has a character that is not allowed at byte %d (allowed: letters, digits, . _ - @ + = , : and *)", i+1)
		}
	}
	return segPattern{parts: strings.Split(s, "*")}, nil
}

// pathChar mirrors the alphabet of package paths. Keeping a copy here (and a
// test that the two agree) avoids exporting a helper from paths for one
// caller.
func pathChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("._-@+=,:", c) >= 0
}

// match reports whether the whole path matches. It is the classic wildcard
// algorithm with segments for characters: walk both lists, and on a mismatch
// go back to just after the last "**", letting it swallow one more segment.
// Earlier "**"s never need revisiting, so this is O(len(pattern) ×
// len(path)) with no recursion, whatever the input.
func (p pattern) match(path string) bool {
	segs := strings.Split(path, "/")
	pi, si := 0, 0
	star, starSi := -1, 0
	for si < len(segs) {
		switch {
		case pi < len(p) && p[pi].any:
			star, starSi = pi, si
			pi++
		case pi < len(p) && p[pi].matchSegment(segs[si]):
			pi++
			si++
		case star >= 0:
			starSi++
			pi, si = star+1, starSi
		default:
			return false
		}
	}
	for pi < len(p) && p[pi].any {
		pi++
	}
	return pi == len(p)
}

// matchSegment matches one segment against literal parts separated by single
// stars. Taking each middle part at its leftmost possible position is
// optimal: a later position only leaves less room for what follows.
func (sp segPattern) matchSegment(s string) bool {
	if len(sp.parts) == 1 {
		return s == sp.parts[0]
	}
	first, last := sp.parts[0], sp.parts[len(sp.parts)-1]
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	rest := s[len(first) : len(s)-len(last)]
	for _, part := range sp.parts[1 : len(sp.parts)-1] {
		i := strings.Index(rest, part)
		if i < 0 {
			return false
		}
		rest = rest[i+len(part):]
	}
	return true
}
