package duotest

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"net/http"
	"net/mail"
	"net/url"
	"sort"
	"strings"
	"time"
)

// APIError is Duo's error answer: an HTTP status and the JSON body
// {"stat": "FAIL", "code": …, "message": …, "message_detail": …}.
type APIError struct {
	Status  int
	Code    int
	Message string
	Detail  string
}

func (e *APIError) Error() string {
	s := http.StatusText(e.Status) + ": " + e.Message
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

// The errors Duo answers for bad request credentials. The codes 40101–40103
// are Duo's documented ones; the two timestamp codes follow their
// numbering.
var (
	ErrMissingCredentials = &APIError{Status: http.StatusUnauthorized, Code: 40101, Message: "Missing request credentials"}
	ErrInvalidIKey        = &APIError{Status: http.StatusUnauthorized, Code: 40102, Message: "Invalid integration key in request credentials"}
	ErrInvalidSignature   = &APIError{Status: http.StatusUnauthorized, Code: 40103, Message: "Invalid signature in request credentials"}
	ErrMissingDate        = &APIError{Status: http.StatusUnauthorized, Code: 40104, Message: "Missing request timestamp"}
	ErrBadDate            = &APIError{Status: http.StatusUnauthorized, Code: 40105, Message: "Invalid or expired request timestamp"}
)

// DefaultMaxSkew is how far a request's Date may be from the server's clock.
const DefaultMaxSkew = 5 * time.Minute

// Verifier checks a request's signature the way Duo's API does (the "v2"
// scheme of the Auth and Admin APIs, with HMAC-SHA512):
//
//	Authorization: Basic base64(ikey ":" hex(HMAC-SHA512(skey, canon)))
//	canon = Date "\n" METHOD "\n" lowercase(host) "\n" path "\n" params
//
// where params are the request's parameters (the query string of a GET, the
// form body of a POST) re-encoded as RFC 5849 §3.4.1.3.2 does: every byte
// but ASCII letters, digits and "-._~" as %XX in upper-case hex (a space is
// "%20"), sorted by encoded name and then encoded value, joined with "&".
// The parameters are decoded first, so how the client escaped them does
// not matter; anything they contain is covered by the signature.
//
// It is written from Duo's documentation, not from the client's code, so
// the tests check the client against an independent reading.
type Verifier struct {
	IKey string
	SKey string
	// Host is the API hostname the server answers as: the client signs the
	// host it meant to reach, and a request signed for another host fails.
	Host    string
	MaxSkew time.Duration    // 0 means DefaultMaxSkew
	Now     func() time.Time // nil means time.Now
}

// Verify checks r, whose parameters are params (see Params). It returns nil
// or one of the ErrMissingCredentials … ErrBadDate errors.
func (v Verifier) Verify(r *http.Request, params url.Values) *APIError {
	ikey, sig, ok := r.BasicAuth()
	if !ok || ikey == "" || sig == "" {
		return ErrMissingCredentials
	}
	if ikey != v.IKey {
		return ErrInvalidIKey
	}
	dateHeader := r.Header.Get("Date")
	if dateHeader == "" {
		return ErrMissingDate
	}
	date, err := mail.ParseDate(dateHeader)
	if err != nil {
		return ErrBadDate
	}
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(got, v.MAC(Canonical(dateHeader, r.Method, v.Host, r.URL.Path, params))) {
		return ErrInvalidSignature
	}
	now, skew := time.Now(), v.MaxSkew
	if v.Now != nil {
		now = v.Now()
	}
	if skew <= 0 {
		skew = DefaultMaxSkew
	}
	if d := now.Sub(date); d > skew || d < -skew {
		return ErrBadDate
	}
	return nil
}

// MAC is HMAC-SHA512 of canon under the secret key.
func (v Verifier) MAC(canon string) []byte {
	m := hmac.New(sha512.New, []byte(v.SKey))
	m.Write([]byte(canon))
	return m.Sum(nil)
}

// Params are the parameters a request is signed over: the form body of a
// POST or PUT, the query string otherwise. A POST's query string is not
// among them, and the server ignores it.
func Params(r *http.Request) (url.Values, error) {
	switch r.Method {
	case http.MethodPost, http.MethodPut:
		if err := r.ParseForm(); err != nil {
			return nil, err
		}
		return r.PostForm, nil
	}
	return url.ParseQuery(r.URL.RawQuery)
}

// Canonical is the string Duo's v2 scheme signs.
func Canonical(date, method, host, path string, params url.Values) string {
	return strings.Join([]string{date, strings.ToUpper(method), strings.ToLower(host), path, CanonParams(params)}, "\n")
}

// CanonParams encodes params as the signature covers them.
func CanonParams(params url.Values) string {
	type pair struct{ k, v string }
	var pairs []pair
	for k, vs := range params {
		for _, v := range vs {
			pairs = append(pairs, pair{escape(k), escape(v)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p.k + "=" + p.v
	}
	return strings.Join(parts, "&")
}

// escape percent-encodes every byte of s except the RFC 3986 unreserved
// characters, with upper-case hex digits.
func escape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
		}
	}
	return b.String()
}
