package duo

import (
	"errors"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
)

// maxPushInfo is Duo's limit: the URL-encoded pushinfo must be shorter.
const maxPushInfo = 20000

// title is the push's "type": Duo Mobile shows it as the request's headline.
func title(req access.Request) string {
	return "Gatekeeper: " + req.Tier.String() + " access for " + access.Visible(string(req.Principal))
}

// pushInfo encodes fields as Duo's pushinfo: URL-encoded key=value pairs,
// in Describe's order (Duo Mobile shows them as sent). When the whole is
// too long for Duo, the longest field is cut, repeatedly, and marked with
// "…"; the request id and the digest, which the human compares, are
// never cut.
func pushInfo(fields []approver.Field) (string, error) {
	fields = append([]approver.Field(nil), fields...)
	for {
		s := encodePairs(fields)
		if len(s) < maxPushInfo {
			return s, nil
		}
		i := longestCuttable(fields)
		if i < 0 {
			return "", errors.New("the request is too long to show in a Duo push")
		}
		fields[i].Value = cut(fields[i].Value)
	}
}

func encodePairs(fields []approver.Field) string {
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = escape(f.Label) + "=" + escape(f.Value)
	}
	return strings.Join(parts, "&")
}

// escape is query escaping with spaces as %20, as Duo's examples show.
// QueryEscape turns a literal "+" into %2B, so every "+" left is a space.
func escape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// longestCuttable is the index of the longest field that may still be cut,
// or -1.
func longestCuttable(fields []approver.Field) int {
	best, bestLen := -1, 0
	for i, f := range fields {
		if f.Label == "Request" || f.Label == "Digest" {
			continue
		}
		if n := len(escape(f.Value)); n > bestLen && utf8.RuneCountInString(f.Value) > 1 {
			best, bestLen = i, n
		}
	}
	return best
}

// cut keeps the first half of v's characters (not counting a "…" that an
// earlier cut left) and marks the cut.
func cut(v string) string {
	v = strings.TrimSuffix(v, "…")
	r := []rune(v)
	return string(r[:len(r)/2]) + "…"
}
