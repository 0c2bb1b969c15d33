package execsecret

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

const R = sensitive.Redacted

func TestRedact(t *testing.T) {
	const secret = `s3cr3t-Zq9#Xw2!Lp<&>"\`
	b64 := base64.StdEncoding.EncodeToString([]byte(secret))
	long := strings.Repeat("0123456789abcdefghij", 6) // 120 bytes: wrapped base64
	tests := []struct {
		name   string
		values []string
		in     string
		want   string
		n      int
	}{
		{"ok/none", []string{secret}, "nothing here", "nothing here", 0},
		{"ok/plain", []string{secret}, "x" + secret + "y", "x" + R + "y", 1},
		{"ok/twice", []string{secret}, secret + " " + secret, R + " " + R, 2},
		{"ok/adjacent", []string{"abcd"}, "abcdabcd", R + R, 2},
		{"ok/self-overlap", []string{"aaaa"}, "xaaaaaax", "x" + R + "x", 1},
		{"ok/base64", []string{secret}, "b64:" + b64 + "\n", "b64:" + R + "\n", 1},
		{"ok/base64-raw", []string{secret}, strings.TrimRight(b64, "="), R, 1},
		{"ok/base64-url", []string{secret}, base64.RawURLEncoding.EncodeToString([]byte(secret)), R, 1},
		{"ok/base64-wrapped-76", []string{long}, wrap(base64.StdEncoding.EncodeToString([]byte(long)), 76) + "\n", R + "\n", 1},
		{"ok/base64-wrapped-64", []string{long}, wrap(base64.StdEncoding.EncodeToString([]byte(long)), 64) + "\n", R + "\n", 1},
		{"ok/hex", []string{secret}, hex.EncodeToString([]byte(secret)), R, 1},
		{"ok/hex-upper", []string{secret}, strings.ToUpper(hex.EncodeToString([]byte(secret))), R, 1},
		{"ok/json", []string{secret}, `{"pw":"s3cr3t-Zq9#Xw2!Lp\u003c\u0026\u003e\"\\"}`, `{"pw":"` + R + `"}`, 1},
		{"ok/json-no-html-escape", []string{secret}, `{"pw":"s3cr3t-Zq9#Xw2!Lp<&>\"\\"}`, `{"pw":"` + R + `"}`, 1},
		{"ok/url-query", []string{secret}, "?pw=" + url.QueryEscape(secret), "?pw=" + R, 1},
		{"ok/url-path", []string{secret}, "pg://u:" + url.PathEscape(secret) + "@h", "pg://u:" + R + "@h", 1},
		{"ok/trimmed", []string{"  padded-secret\n"}, "v=padded-secret;", "v=" + R + ";", 1},
		{"ok/trimmed-base64", []string{"padded-secret\n"}, base64.StdEncoding.EncodeToString([]byte("padded-secret")), R, 1},
		{"ok/untrimmed-wins", []string{"padded-secret\n"}, "padded-secret\nnext", R + "next", 1},
		{"ok/two-secrets-overlapping", []string{"abcdef", "defghi"}, "xabcdefghix", "x" + R + "x", 1},
		{"ok/secret-inside-secret", []string{"abcdefgh", "cdef"}, "abcdefgh cdef", R + " " + R, 2},
		{"ok/marker-in-output", []string{"abcd"}, R, R, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, n := newRedactor(tc.values).redact([]byte(tc.in), false)
			if string(got) != tc.want || n != tc.n {
				t.Errorf("redact(%q) = %q, %d; want %q, %d", tc.in, got, n, tc.want, tc.n)
			}
		})
	}
}

func TestPartialTail(t *testing.T) {
	r := newRedactor([]string{"abcdefgh"})
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"xyz", 0},
		{"xyza", 1},
		{"xyzabcdefg", 7},
		{"xyzabcdefgh", 8},
		{"abcabcab", 2},
		{"xyz616263", 6}, // hex of "abc"
		{"xyzYWJj", 4},   // base64 "YWJjZGVmZ2g=" cut after "YWJj"
	}
	for _, tc := range tests {
		if got := r.partialTail([]byte(tc.in)); got != tc.want {
			t.Errorf("partialTail(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestCaptureText(t *testing.T) {
	const secret = "Zq9#Xw2!Lp-secret"
	r := newRedactor([]string{secret})
	tests := []struct {
		name      string
		buf       string
		overflow  bool
		max       int
		want      string
		truncated bool
	}{
		{"ok/fits", "a" + secret, false, 100, "a" + R, false},
		{"ok/secret-across-the-cut", strings.Repeat("a", 8) + secret + "tail", false, 12, "aaaaaaaa[RED", true},
		{"ok/partial-at-capture-end", "aaa" + secret[:9], true, 100, "aaa", true},
		{"ok/partial-hex-at-capture-end", "aaa" + hex.EncodeToString([]byte(secret))[:9], true, 100, "aaa", true},
		{"ok/partial-without-overflow-is-output", "aaa" + secret[:9], false, 100, "aaa" + secret[:9], false},
		{"ok/utf8-not-split", "aé", false, 2, "a", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &capture{buf: []byte(tc.buf), overflow: tc.overflow}
			got, _, truncated := c.text(r, tc.max)
			if got != tc.want || truncated != tc.truncated {
				t.Errorf("text() = %q, %v; want %q, %v", got, truncated, tc.want, tc.truncated)
			}
		})
	}
}

func TestCaptureDrainsPastLimit(t *testing.T) {
	c := &capture{limit: 10}
	c.readFrom(bytes.NewReader(bytes.Repeat([]byte("x"), 100_000)))
	if len(c.buf) != 10 || !c.overflow {
		t.Errorf("captured %d bytes, overflow %v; want 10, true", len(c.buf), c.overflow)
	}
}

// FuzzRedact puts a value and its encodings in fuzzed output: whatever is
// left between the markers never holds one of them, and when the capture
// stops anywhere in the stream, no byte of an occurrence is left in clear.
func FuzzRedact(f *testing.F) {
	f.Add("secret", "before ", " after", 3)
	f.Add("aaaa", "aaa", "aaa", 0)
	f.Add("abab", "ab", "ab", 5)
	f.Add(" \tpadded\n", "x", "y", 1)
	f.Fuzz(func(t *testing.T, value, before, after string, cut int) {
		if len(strings.TrimSpace(value)) < MinValueLen || len(value)+len(before)+len(after) > 512 {
			return
		}
		r := newRedactor([]string{value})
		b64 := base64.StdEncoding.EncodeToString([]byte(value))
		hx := hex.EncodeToString([]byte(value))
		in := before + value + after + b64 + before + hx + after
		out, n := r.redact([]byte(in), false)
		if n == 0 {
			t.Fatalf("nothing redacted in %q", in)
		}
		for piece := range strings.SplitSeq(string(out), R) {
			for _, form := range []string{value, b64, hx} {
				if strings.Contains(piece, form) {
					t.Fatalf("redact(%q) = %q: %q survives", in, out, form)
				}
			}
		}
		// A capture cut mid-stream: no byte that belongs to an occurrence in
		// the whole stream may be shown in clear, which is what dropping the
		// tail fragment is for.
		if cut < 0 {
			cut = -cut
		}
		cut %= len(in) + 1
		spans, end := r.plan([]byte(in[:cut]), cut < len(in))
		whole := covered(r, []byte(in))
		for i := range end {
			if whole[i] && !slices.ContainsFunc(spans, func(s span) bool { return s.start <= i && i < s.end }) {
				t.Fatalf("cut at %d of %q: byte %d of an occurrence is shown in clear", cut, in, i)
			}
		}
	})
}

// covered marks the bytes of b inside any occurrence of any needle, the
// slow, obvious way.
func covered(r *redactor, b []byte) []bool {
	c := make([]bool, len(b))
	for _, n := range r.needles {
		for i := range b {
			if bytes.HasPrefix(b[i:], n) {
				for j := i; j < i+len(n); j++ {
					c[j] = true
				}
			}
		}
	}
	return c
}
