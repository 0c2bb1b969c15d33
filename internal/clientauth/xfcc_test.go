package clientauth

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseXFCC(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []xfccElement
	}{
		{"ok/envoy", `By=spiffe://td/proxy;Hash=468e;Subject="CN=alice,O=Acme";URI=spiffe://td/agent/alice`, []xfccElement{{
			{"By", "spiffe://td/proxy"}, {"Hash", "468e"}, {"Subject", "CN=alice,O=Acme"}, {"URI", "spiffe://td/agent/alice"},
		}}},
		{"ok/two-hops", `Hash=1;URI=spiffe://td/a,Hash=2;URI=`, []xfccElement{
			{{"Hash", "1"}, {"URI", "spiffe://td/a"}},
			{{"Hash", "2"}, {"URI", ""}},
		}},
		{"ok/escapes-kept", `Subject="CN=a\"b\\c\,d;e=f"`, []xfccElement{{{"Subject", `CN=a\"b\\c\,d;e=f`}}}},
		{"ok/empty-quoted", `Subject=""`, []xfccElement{{{"Subject", ""}}}},
		{"ok/equals-unquoted", `Hash=a=b`, []xfccElement{{{"Hash", "a=b"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseXFCC(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(xfccPair{})); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
	for _, in := range readLines(t, "testdata/xfcc/malformed.txt") {
		if in == "<empty>" {
			in = ""
		}
		t.Run("fail/"+in, func(t *testing.T) {
			elems, err := parseXFCC(in)
			if err == nil {
				for _, e := range elems {
					_, err = e.names()
				}
			}
			if err == nil {
				t.Errorf("accepted: %q", elems)
			}
		})
	}
}

func TestCommonName(t *testing.T) {
	tests := []struct {
		name, dn, want string
		ok             bool
	}{
		{"ok", "CN=alice,O=Acme", "alice", true},
		{"ok/last", "O=Acme,OU=agents,CN=alice", "alice", true},
		{"ok/lower-case-type", "cn=alice", "alice", true},
		{"ok/spaces-after-comma", "O=Acme, CN=alice", "alice", true},
		{"ok/multi-valued-rdn", "OU=a+CN=alice", "alice", true},
		{"ok/escaped", `CN=a\,b\+c\"d\\e\3Df`, `a,b+c"d\e=f`, true},
		{"ok/none", "O=Acme", "", true},
		{"ok/empty", "", "", true},
		{"ok/hex-string-kept", "CN=#0405616c696365", "#0405616c696365", true},
		{"fail/escaped-comma-hides-cn", `O=x\,CN=alice`, "", true},
		{"fail/two", "CN=alice,CN=bob", "", false},
		{"fail/two-by-oid", "CN=alice,2.5.4.3=bob", "", false},
		{"fail/quoted", `CN="alice"`, "", false},
		{"fail/dangling-escape", `CN=alice\`, "", false},
		{"fail/bad-hex", `CN=\4g`, "", false},
		{"fail/no-type", "=alice", "", false},
		{"fail/no-equals", "CN=alice,O", "", false},
		{"fail/trailing-comma", "CN=alice,", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := commonName(tc.dn)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("commonName(%q) = %q, %v; want %q, ok %v", tc.dn, got, err, tc.want, tc.ok)
			}
		})
	}
}

// FuzzParseXFCC: the parser takes a header any client can send (it is only
// believed from a trusted proxy, but it is parsed first). It must not
// panic, and what it accepts must survive a round trip: writing the parsed
// elements back and parsing again gives the same elements, so the parse is
// the one reading of the header there is.
func FuzzParseXFCC(f *testing.F) {
	for _, s := range readLines(f, "testdata/xfcc/malformed.txt") {
		f.Add(s)
	}
	f.Add(`By=spiffe://td/proxy;Hash=468e;Subject="CN=alice,O=Acme\, Inc.";URI=spiffe://td/agent/alice,Hash=2;URI=`)
	f.Add(`Subject="CN=a\"b\\c"`)
	f.Fuzz(func(t *testing.T, s string) {
		elems, err := parseXFCC(s)
		if err != nil {
			return
		}
		if len(elems) == 0 {
			t.Fatal("no error and no elements")
		}
		for _, e := range elems {
			if len(e) == 0 {
				t.Fatal("an empty element")
			}
			for _, p := range e {
				if p.key == "" || strings.ContainsAny(p.key, `=;,"`) {
					t.Fatalf("bad key %q", p.key)
				}
			}
			if n, err := e.names(); err == nil && n.cn != "" {
				again, err := commonName("CN=" + escapeDN(n.cn))
				if err != nil || again != n.cn {
					t.Fatalf("CN %q does not round-trip: %q, %v", n.cn, again, err)
				}
			}
		}
		again, err := parseXFCC(formatXFCC(elems))
		if err != nil {
			t.Fatalf("re-parsing %q: %v", formatXFCC(elems), err)
		}
		if diff := cmp.Diff(elems, again, cmp.AllowUnexported(xfccPair{})); diff != "" {
			t.Fatalf("round trip mismatch (-first +second):\n%s", diff)
		}
	})
}

// formatXFCC writes elements back, quoting values that need it. A value
// parsed from quotes holds its escapes, so quoting it again is exact.
func formatXFCC(elems []xfccElement) string {
	var b strings.Builder
	for i, e := range elems {
		if i > 0 {
			b.WriteByte(',')
		}
		for j, p := range e {
			if j > 0 {
				b.WriteByte(';')
			}
			b.WriteString(p.key + "=")
			if strings.ContainsAny(p.value, `,;"`) || p.value == "" {
				b.WriteString(`"` + p.value + `"`)
			} else {
				b.WriteString(p.value)
			}
		}
	}
	return b.String()
}

// escapeDN escapes every byte commonName treats as special.
func escapeDN(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(`,+"\<>;= #`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// FuzzJWTShaped checks the bearer shape rule against a regular expression
// that states it: it decides whether a bearer value is a JWT or an API key.
func FuzzJWTShaped(f *testing.F) {
	shape := regexp.MustCompile(`^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$`)
	for _, line := range readLines(f, "testdata/jwt/forged.txt") {
		f.Add(strings.Split(line, "\t")[2])
	}
	for _, s := range []string{"", ".", "..", "a.b.", "a..c", ".b.c", "a.b.c.d", "gk_abc", "a.b.c=", "a.b.c\n", "ä.b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := jwtShaped(s), shape.MatchString(s); got != want {
			t.Fatalf("jwtShaped(%q) = %v, want %v", s, got, want)
		}
	})
}
