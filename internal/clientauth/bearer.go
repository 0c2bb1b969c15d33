package clientauth

import (
	"net/http"
	"strings"
)

// bearerToken returns the credential of an "Authorization: Bearer" header.
// No Authorization header, or one with another scheme (Basic, …), is
// ErrNoCredential: it is not for us. A Bearer header that is there but
// unusable is refused rather than skipped, because the caller did present a
// credential; method names whose rules refused it.
//
// Two Authorization headers are refused: which one a proxy, a cache and this
// server each look at may differ, and that difference is what request
// smuggling feeds on.
func bearerToken(r *http.Request, method string) (string, error) {
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", ErrNoCredential
	case 1:
	default:
		return "", refuse(method + ": several Authorization headers")
	}
	scheme, token, _ := strings.Cut(values[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ErrNoCredential
	}
	token = strings.TrimLeft(token, " ")
	switch {
	case token == "":
		return "", refuse(method + ": empty bearer token")
	case strings.ContainsAny(token, " \t\r\n"):
		return "", refuse(method + ": malformed bearer token")
	}
	return token, nil
}

// jwtShaped reports whether a bearer value is a JWS in compact form: three
// dot-separated parts in the base64url alphabet, the first two non-empty.
// The signature part may be empty, so that an unsigned ("alg: none") or
// stripped token still counts as a JWT and is refused by the JWT method
// rather than looked up as an API key.
//
// This is the line between the two bearer kinds: a JWT-shaped value is only
// ever checked as a JWT and anything else only as an API key, so neither
// method can be used to probe the other. Keys made by NewKey hold no dot.
func jwtShaped(s string) bool {
	header, rest, ok := strings.Cut(s, ".")
	if !ok {
		return false
	}
	claims, sig, ok := strings.Cut(rest, ".")
	if !ok {
		return false
	}
	return header != "" && claims != "" &&
		base64URL(header) && base64URL(claims) && base64URL(sig)
}

// base64URL reports whether s uses only the unpadded base64url alphabet.
func base64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}
