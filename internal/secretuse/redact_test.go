package secretuse

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

// plain makes unnamed secrets: their marker is the plain [REDACTED].
func plain(values ...string) *Redactor {
	var s []Secret
	for _, v := range values {
		s = append(s, Secret{Value: sensitive.New(v)})
	}
	return NewRedactor(s)
}

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
			got, n := plain(tc.values...).Redact([]byte(tc.in))
			if string(got) != tc.want || n != tc.n {
				t.Errorf("redact(%q) = %q, %d; want %q, %d", tc.in, got, n, tc.want, tc.n)
			}
		})
	}
}

func TestPartialTail(t *testing.T) {
	r := plain("abcdefgh")
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
		r := plain(value)
		b64 := base64.StdEncoding.EncodeToString([]byte(value))
		hx := hex.EncodeToString([]byte(value))
		in := before + value + after + b64 + before + hx + after
		out, n := r.Redact([]byte(in))
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
func covered(r *Redactor, b []byte) []bool {
	c := make([]bool, len(b))
	for _, n := range r.needles {
		for i := range b {
			if bytes.HasPrefix(b[i:], n.b) {
				for j := i; j < i+len(n.b); j++ {
					c[j] = true
				}
			}
		}
	}
	return c
}

func TestRedactNamesTheSecret(t *testing.T) {
	token := Secret{Name: "api/github#token", Value: sensitive.New("ghp-abcdef123456")}
	pw := Secret{Name: "db/pg#password", Value: sensitive.New("123456-pw-xyz")}
	tests := []struct {
		name    string
		secrets []Secret
		in      string
		want    string
		n       int
	}{
		{"ok/one", []Secret{token}, "auth: ghp-abcdef123456.", "auth: [REDACTED:api/github#token].", 1},
		{"ok/encoded", []Secret{token}, hex.EncodeToString([]byte("ghp-abcdef123456")), "[REDACTED:api/github#token]", 1},
		{"ok/two", []Secret{token, pw}, "ghp-abcdef123456 123456-pw-xyz", "[REDACTED:api/github#token] [REDACTED:db/pg#password]", 2},
		{"ok/overlap-merged", []Secret{token, pw}, "ghp-abcdef123456-pw-xyz", "[REDACTED:api/github#token|db/pg#password]", 1},
		{"ok/same-name-twice", []Secret{token, token}, "ghp-abcdef123456", "[REDACTED:api/github#token]", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, n := NewRedactor(tc.secrets).RedactString(tc.in)
			if got != tc.want || n != tc.n {
				t.Errorf("Redact(%q) = %q, %d; want %q, %d", tc.in, got, n, tc.want, tc.n)
			}
		})
	}
}

func TestRedactCutDropsPartialTail(t *testing.T) {
	r := NewRedactor([]Secret{{Name: "a#b", Value: sensitive.New("abcdefgh")}})
	got, n := r.RedactCut([]byte("xx abcdefgh yy abcd"))
	if string(got) != "xx [REDACTED:a#b] yy " || n != 1 {
		t.Errorf("RedactCut = %q, %d", got, n)
	}
}

func TestMarker(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{nil, R},
		{[]string{""}, R},
		{[]string{"b#x", "a#y", "b#x"}, "[REDACTED:a#y|b#x]"},
	} {
		if got := Marker(tc.names...); got != tc.want {
			t.Errorf("Marker(%q) = %q, want %q", tc.names, got, tc.want)
		}
	}
}
