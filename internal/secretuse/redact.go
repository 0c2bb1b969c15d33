package secretuse

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"slices"
	"strings"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// MinValueLen is the shortest secret value that may be used, measured after
// trimming surrounding whitespace. Shorter values cannot be redacted from
// output without either leaking them or shredding the output.
const MinValueLen = 4

// Marker is what replaces an occurrence of the secrets named: "[REDACTED:
// api/github#token]", or for occurrences of several secrets that overlap,
// one marker naming each, "[REDACTED:a#x|b#y]". A secret without a name is
// replaced by the plain sensitive.Redacted.
func Marker(names ...string) string {
	names = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == "" })
	if len(names) == 0 {
		return sensitive.Redacted
	}
	slices.Sort(names)
	return "[REDACTED:" + strings.Join(slices.Compact(names), "|") + "]"
}

// Redactor replaces every form of a set of secret values in output with a
// marker naming the secret. It is safe for concurrent use.
type Redactor struct {
	names   []string // names[i] is what needles with owner i are shown as
	needles []needle
	longest int
}

type needle struct {
	b     []byte
	owner int
}

// NewRedactor returns a redactor for secrets. A form shorter than
// MinValueLen is not looked for (callers refuse such values).
func NewRedactor(secrets []Secret) *Redactor {
	r := &Redactor{}
	seen := make(map[string]int) // form -> index in needles
	for _, s := range secrets {
		owner := slices.Index(r.names, s.Name)
		if owner < 0 {
			owner = len(r.names)
			r.names = append(r.names, s.Name)
		}
		for _, f := range forms(s.Value.Reveal()) {
			if len(f) < MinValueLen {
				continue
			}
			if _, dup := seen[f]; dup {
				continue
			}
			seen[f] = len(r.needles)
			r.needles = append(r.needles, needle{b: []byte(f), owner: owner})
			r.longest = max(r.longest, len(f))
		}
	}
	return r
}

// Longest is the length of the longest form looked for: how much more than
// a limit a stream must be captured for a form across the limit to be seen.
func (r *Redactor) Longest() int { return r.longest }

// Redact replaces every byte of b that lies in an occurrence of any form of
// any secret, overlapping occurrences included, and returns the result and
// the number of markers put in.
func (r *Redactor) Redact(b []byte) ([]byte, int) { return r.redact(b, false) }

// RedactCut is Redact for a stream that was cut short: a trailing fragment
// that could be the start of a form is dropped as well, together with any
// occurrence overlapping it.
func (r *Redactor) RedactCut(b []byte) ([]byte, int) { return r.redact(b, true) }

// RedactString is Redact for text.
func (r *Redactor) RedactString(s string) (string, int) {
	out, n := r.Redact([]byte(s))
	return string(out), n
}

// forms lists the spellings of v that are replaced: v itself and v trimmed
// of surrounding whitespace (a value stored with a newline is usually
// printed without it), and for each the encodings a command, a server or a
// user is likely to print a credential in.
func forms(v string) []string {
	bases := []string{v}
	if t := strings.TrimSpace(v); t != v {
		bases = append(bases, t)
	}
	var out []string
	for _, b := range bases {
		raw := []byte(b)
		std := base64.StdEncoding.EncodeToString(raw)
		hx := hex.EncodeToString(raw)
		out = append(out,
			b,
			std, base64.RawStdEncoding.EncodeToString(raw),
			base64.URLEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw),
			wrap(std, 64), wrap(std, 76), // openssl base64, coreutils base64
			hx, strings.ToUpper(hx),
			url.QueryEscape(b), url.PathEscape(b),
		)
		out = append(out, jsonEscapes(b)...)
	}
	return out
}

// wrap breaks s into lines of n characters, as base64 tools print it.
func wrap(s string, n int) string {
	var b strings.Builder
	for len(s) > n {
		b.WriteString(s[:n])
		b.WriteByte('\n')
		s = s[n:]
	}
	b.WriteString(s)
	return b.String()
}

// jsonEscapes returns s as it appears inside a JSON string, with and without
// Go's HTML escaping of <, > and &.
func jsonEscapes(s string) []string {
	var out []string
	for _, html := range []bool{true, false} {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(html)
		if err := enc.Encode(s); err != nil {
			continue
		}
		q := bytes.TrimSpace(buf.Bytes())
		out = append(out, string(q[1:len(q)-1]))
	}
	return out
}

// span is a run of bytes to replace and the secrets (indexes into names)
// whose forms cover it.
type span struct {
	start, end int
	owners     []int
}

func (r *Redactor) redact(b []byte, cutTail bool) ([]byte, int) {
	spans, end := r.plan(b, cutTail)
	if len(spans) == 0 && end == len(b) {
		return b, 0
	}
	out := make([]byte, 0, end+len(spans)*len(sensitive.Redacted))
	prev := 0
	for _, s := range spans {
		out = append(out, b[prev:s.start]...)
		names := make([]string, 0, len(s.owners))
		for _, o := range s.owners {
			names = append(names, r.names[o])
		}
		out = append(out, Marker(names...)...)
		prev = s.end
	}
	out = append(out, b[prev:end]...)
	return out, len(spans)
}

// plan returns the sorted, disjoint spans of b to replace and where the
// output ends.
func (r *Redactor) plan(b []byte, cutTail bool) ([]span, int) {
	var spans []span
	for _, n := range r.needles {
		first := len(spans)
		for off := 0; off < len(b); {
			i := bytes.Index(b[off:], n.b)
			if i < 0 {
				break
			}
			s := span{off + i, off + i + len(n.b), []int{n.owner}}
			// Occurrences of one needle come in order; fold overlapping
			// ones ("aaaa" in "aaaaaa") as we go.
			if k := len(spans) - 1; k >= first && spans[k].start <= s.start && s.start < spans[k].end {
				spans[k].end = max(spans[k].end, s.end)
			} else {
				spans = append(spans, s)
			}
			off = s.start + 1
		}
	}
	slices.SortFunc(spans, func(x, y span) int { return x.start - y.start })
	var merged []span
	for _, s := range spans {
		if k := len(merged) - 1; k >= 0 && s.start < merged[k].end {
			merged[k].end = max(merged[k].end, s.end)
			for _, o := range s.owners {
				if !slices.Contains(merged[k].owners, o) {
					merged[k].owners = append(merged[k].owners, o)
				}
			}
			continue
		}
		merged = append(merged, s)
	}
	end := len(b)
	if cutTail {
		if k := r.partialTail(b); k > 0 {
			end -= k
			// Spans are disjoint and sorted, so only trailing ones can
			// reach into the fragment.
			for len(merged) > 0 && merged[len(merged)-1].end > end {
				end = min(end, merged[len(merged)-1].start)
				merged = merged[:len(merged)-1]
			}
		}
	}
	return merged, end
}

// partialTail returns the length of the longest suffix of b that is the
// start of some needle: where a stream was cut, the beginning of a secret
// that was cut off. It runs the Knuth–Morris–Pratt automaton of each needle
// over the end of b, so it is linear in the needles' length.
func (r *Redactor) partialTail(b []byte) int {
	longest := 0
	for _, nd := range r.needles {
		n := nd.b
		fail := kmpFailure(n)
		tail := b[max(0, len(b)-len(n)):]
		k := 0
		for _, c := range tail {
			if k == len(n) {
				k = fail[k-1]
			}
			for k > 0 && c != n[k] {
				k = fail[k-1]
			}
			if c == n[k] {
				k++
			}
		}
		longest = max(longest, k)
	}
	return longest
}

// kmpFailure returns, for each i, the length of the longest proper prefix of
// n[:i+1] that is also its suffix.
func kmpFailure(n []byte) []int {
	f := make([]int, len(n))
	for i, k := 1, 0; i < len(n); i++ {
		for k > 0 && n[i] != n[k] {
			k = f[k-1]
		}
		if n[i] == n[k] {
			k++
		}
		f[i] = k
	}
	return f
}
