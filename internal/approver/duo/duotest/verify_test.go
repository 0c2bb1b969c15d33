package duotest

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Duo's documented example (Auth API docs, "Authentication"): these keys,
// this request and this date sign to docSig with HMAC-SHA512 (and to the
// HMAC-SHA1 value in testdata, under the older scheme).
const (
	docIKey = "DIWJ8X6AEYOR5OMC6TQ1"
	docSKey = "Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep"
	docHost = "api-XXXXXXXX.duosecurity.com"
	docPath = "/accounts/v1/account/list"
	docDate = "Tue, 21 Aug 2012 17:29:18 -0000"
	docBody = "realname=First%20Last&username=root"
	docSig  = "1bffb8924348f7db7da9e7d7d749ded93aafd02d8e904960da7b96c57510220185a64a2827ee8f24ac5d30802a9ee97e59de44b304b18242f0d596d15a8122af"
)

func docVerifier() Verifier {
	now, _ := time.Parse(time.RFC1123Z, docDate)
	return Verifier{IKey: docIKey, SKey: docSKey, Host: docHost, Now: func() time.Time { return now }}
}

// docRequest is the documented request, signed with sig.
func docRequest(t *testing.T, sig string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, "https://"+docHost+docPath, strings.NewReader(docBody))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Date", docDate)
	r.SetBasicAuth(docIKey, sig)
	return r
}

func verify(t *testing.T, v Verifier, r *http.Request) int {
	t.Helper()
	params, err := Params(r)
	if err != nil {
		t.Fatal(err)
	}
	if e := v.Verify(r, params); e != nil {
		return e.Code
	}
	return 0
}

func TestCanonicalDocumentedExample(t *testing.T) {
	params, _ := url.ParseQuery(docBody)
	canon := Canonical(docDate, "post", docHost, docPath, params)
	want := docDate + "\nPOST\napi-xxxxxxxx.duosecurity.com\n" + docPath + "\nrealname=First%20Last&username=root"
	if diff := cmp.Diff(want, canon); diff != "" {
		t.Errorf("canonical mismatch (-want +got):\n%s", diff)
	}
	if got := hex.EncodeToString(docVerifier().MAC(canon)); got != docSig {
		t.Errorf("MAC = %s, want Duo's documented %s", got, docSig)
	}
}

func TestCanonParams(t *testing.T) {
	tests := []struct {
		name   string
		params url.Values
		want   string
	}{
		{"ok/empty", url.Values{}, ""},
		{"ok/space-is-%20", url.Values{"realname": {"First Last"}}, "realname=First%20Last"},
		{"ok/sorted-by-key", url.Values{"username": {"root"}, "realname": {"x"}}, "realname=x&username=root"},
		{"ok/common-prefix", url.Values{"foo_bar": {"2"}, "foo": {"1"}}, "foo=1&foo_bar=2"},
		{"ok/repeated-key-sorted-values", url.Values{"password": {"H-._~i", "A(!'*)"}}, "password=A%28%21%27%2A%29&password=H-._~i"},
		{"ok/printable-ascii", url.Values{"p": {"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"}},
			"p=%21%22%23%24%25%26%27%28%29%2A%2B%2C-.%2F%3A%3B%3C%3D%3E%3F%40%5B%5C%5D%5E_%60%7B%7C%7D~"},
		{"ok/whitespace", url.Values{"w": {"\t\n\x0b\x0c\r "}}, "w=%09%0A%0B%0C%0D%20"},
		{"ok/utf-8", url.Values{"k": {"é✓"}}, "k=%C3%A9%E2%9C%93"},
		{"ok/pushinfo-is-encoded-again", url.Values{"pushinfo": {"Agent=ci&Reason=deploy%20now"}}, "pushinfo=Agent%3Dci%26Reason%3Ddeploy%2520now"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, CanonParams(tt.params)); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestVerifyForged is the forged-input matrix: Duo's documented request,
// changed after signing in every part the signature covers, and checked
// against a server whose keys, host or clock differ.
func TestVerifyForged(t *testing.T) {
	type edit func(v *Verifier, r *http.Request)
	body := func(s string) edit {
		return func(_ *Verifier, r *http.Request) {
			r.Body = nopCloser{strings.NewReader(s)}
			r.ContentLength = int64(len(s))
		}
	}
	tests := []struct {
		name string
		edit edit
		want int // Duo error code, 0 for accepted
	}{
		{"ok", func(*Verifier, *http.Request) {}, 0},
		{"ok/params-escaped-differently", body("username=root&realname=First+Last"), 0},
		{"ok/date-at-max-skew", func(v *Verifier, _ *http.Request) { v.Now = shift(v.Now, DefaultMaxSkew) }, 0},
		{"ok/host-case", func(v *Verifier, _ *http.Request) { v.Host = strings.ToUpper(docHost) }, 0},
		{"fail/param-value-changed", body("realname=First%20Last&username=admin"), 40103},
		{"fail/param-added", body(docBody + "&factor=push"), 40103},
		{"fail/param-removed", body("username=root"), 40103},
		{"fail/param-repeated", body(docBody + "&username=root"), 40103},
		{"fail/params-moved-to-query", func(_ *Verifier, r *http.Request) {
			r.URL.RawQuery = docBody
			r.Body = nopCloser{strings.NewReader("")}
			r.ContentLength = 0
		}, 40103},
		{"fail/path-changed", func(_ *Verifier, r *http.Request) { r.URL.Path = "/accounts/v1/account/delete" }, 40103},
		{"fail/path-case", func(_ *Verifier, r *http.Request) { r.URL.Path = strings.ToUpper(docPath) }, 40103},
		{"fail/method-changed", func(_ *Verifier, r *http.Request) {
			r.Method = http.MethodGet
			r.URL.RawQuery = docBody
		}, 40103},
		{"fail/signed-for-another-host", func(v *Verifier, _ *http.Request) { v.Host = "api-yyyyyyyy.duosecurity.com" }, 40103},
		{"fail/date-changed", func(_ *Verifier, r *http.Request) { r.Header.Set("Date", "Tue, 21 Aug 2012 17:29:19 -0000") }, 40103},
		{"fail/date-same-instant-other-form", func(_ *Verifier, r *http.Request) { r.Header.Set("Date", "Tue, 21 Aug 2012 17:29:18 +0000") }, 40103},
		{"fail/date-missing", func(_ *Verifier, r *http.Request) { r.Header.Del("Date") }, 40104},
		{"fail/date-garbage", func(_ *Verifier, r *http.Request) { r.Header.Set("Date", "yesterday") }, 40105},
		{"fail/date-too-old", func(v *Verifier, _ *http.Request) { v.Now = shift(v.Now, DefaultMaxSkew+time.Second) }, 40105},
		{"fail/date-in-future", func(v *Verifier, _ *http.Request) { v.Now = shift(v.Now, -DefaultMaxSkew-time.Second) }, 40105},
		{"fail/wrong-secret", func(v *Verifier, _ *http.Request) { v.SKey = docSKey[:39] + "q" }, 40103},
		{"fail/wrong-ikey", func(v *Verifier, _ *http.Request) { v.IKey = "DIXXXXXXXXXXXXXXXXXX" }, 40102},
		{"fail/no-credentials", func(_ *Verifier, r *http.Request) { r.Header.Del("Authorization") }, 40101},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, r := docVerifier(), docRequest(t, docSig)
			tt.edit(&v, r)
			if got := verify(t, v, r); got != tt.want {
				t.Errorf("Verify = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestVerifyAuthorizationHeaders reads forged Authorization headers from
// testdata.
func TestVerifyAuthorizationHeaders(t *testing.T) {
	f, err := os.Open("testdata/authorization.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b64 := regexp.MustCompile(`\{b64:([^{}]*)\}`)
	expand := strings.NewReplacer("{ikey}", docIKey, "{sig}", docSig)
	sc := bufio.NewScanner(f)
	n := 0
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		code, header, ok := strings.Cut(text, "\t")
		want, err := strconv.Atoi(code)
		if !ok || err != nil {
			t.Fatalf("testdata line %d: want CODE<TAB>HEADER", line)
		}
		header = b64.ReplaceAllStringFunc(expand.Replace(header), func(m string) string {
			return base64.StdEncoding.EncodeToString([]byte(b64.FindStringSubmatch(m)[1]))
		})
		n++
		t.Run(strconv.Itoa(line), func(t *testing.T) {
			r := docRequest(t, docSig)
			r.Header.Set("Authorization", header)
			if got := verify(t, docVerifier(), r); got != want {
				t.Errorf("Authorization %q: Verify = %d, want %d", header, got, want)
			}
		})
	}
	if err := sc.Err(); err != nil || n < 10 {
		t.Fatalf("read %d cases from testdata: %v", n, err)
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("Basic "+base64.StdEncoding.EncodeToString([]byte(docIKey+":"+docSig)), docDate, docBody)
	f.Add("Basic Og==", "", "")
	f.Add("Basic "+base64.StdEncoding.EncodeToString([]byte(docIKey+":zz")), "Mon, 02 Jan 2006 15:04:05 MST", "a=%zz")
	f.Fuzz(func(t *testing.T, authorization, date, body string) {
		r := docRequest(t, docSig)
		r.Header.Set("Authorization", authorization)
		r.Header.Set("Date", date)
		r.Body = nopCloser{strings.NewReader(body)}
		params, err := Params(r)
		if err != nil {
			return
		}
		e := docVerifier().Verify(r, params)
		if e == nil && (date != docDate || CanonParams(params) != docBody) {
			t.Errorf("accepted a request that differs from the signed one: date %q, body %q", date, body)
		}
	})
}

var escaped = regexp.MustCompile(`^(?:[A-Za-z0-9._~-]|%[0-9A-F]{2})*$`)

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "First Last", "a+b", "é", "~-._", "%", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := escape(s)
		if !escaped.MatchString(e) {
			t.Fatalf("escape(%q) = %q: not only unreserved characters and %%XX", s, e)
		}
		if got, err := url.PathUnescape(e); err != nil || got != s {
			t.Fatalf("unescape(escape(%q)) = %q, %v", s, got, err)
		}
	})
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

func shift(now func() time.Time, d time.Duration) func() time.Time {
	return func() time.Time { return now().Add(d) }
}
