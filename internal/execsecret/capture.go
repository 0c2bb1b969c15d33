package execsecret

import (
	"io"
	"unicode/utf8"

	"github.com/gatekeeper-mcp/gatekeeper/internal/secretuse"
)

// capture keeps the first limit bytes of a stream and drains the rest, so
// that the command never blocks on a full pipe.
type capture struct {
	limit    int
	buf      []byte
	overflow bool
}

func (c *capture) readFrom(r io.Reader) {
	chunk := make([]byte, 32<<10)
	for {
		n, err := r.Read(chunk)
		if n > 0 {
			keep := min(n, c.limit-len(c.buf))
			c.buf = append(c.buf, chunk[:keep]...)
			if keep < n {
				c.overflow = true
			}
		}
		if err != nil {
			return
		}
	}
}

// text returns the captured output redacted and cut to max bytes, the
// number of replacements, and whether anything was cut. The order matters:
// redact first, so that a secret straddling the cut is replaced rather than
// half shown; and where the capture itself stopped mid-stream, redact drops
// a trailing fragment that could be the start of a secret.
func (c *capture) text(r *secretuse.Redactor, maxLen int) (string, int, bool) {
	truncated := c.overflow
	out, n := r.Redact(c.buf)
	if c.overflow {
		out, n = r.RedactCut(c.buf)
	}
	if len(out) > maxLen {
		out = cutRunes(out, maxLen)
		truncated = true
	}
	return string(out), n, truncated
}

// cutRunes cuts b to at most n bytes, backing off up to three bytes so as
// not to split a UTF-8 sequence.
func cutRunes(b []byte, n int) []byte {
	for i := n; i > 0 && i > n-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			return b[:i]
		}
	}
	return b[:n]
}
