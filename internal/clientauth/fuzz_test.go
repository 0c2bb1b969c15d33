package clientauth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// fuzzKey is the one valid key of FuzzAPIKey; its seed corpus
// (testdata/fuzz/FuzzAPIKey) presents it in every way there is.
const (
	fuzzKey        = "gk_fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzz123"
	fuzzRevokedKey = "gk_revokedrevokedrevokedrevokedrevokedrevoked"
)

// FuzzAPIKey sends arbitrary X-API-Key and Authorization headers to API
// key authentication, alone and chained after JWT as serve chains them.
// present says which headers are there (bit 0: X-API-Key, bit 1:
// Authorization); \x1f separates several values of one header.
//
// Whatever arrives: no panic; the answer is an identity, ErrNoCredential or
// a refusal wrapping ErrInvalid; a refusal never quotes what was presented;
// an identity is given only when exactly one credential was presented and
// it is the configured, unrevoked key — in X-API-Key, or as a Bearer token
// (case-insensitive scheme) when there is no X-API-Key; and the chain never
// lets a request the key method refused through to another method.
func FuzzAPIKey(f *testing.F) {
	keys, err := NewAPIKeys([]APIKey{
		{ID: "alice-laptop", Agent: "alice", SHA256: HashKey(fuzzKey), Scopes: []string{"read"}},
		{ID: "alice-old", Agent: "alice", SHA256: HashKey(fuzzRevokedKey), Revoked: true},
	})
	if err != nil {
		f.Fatal(err)
	}
	chain := Chain(newTestJWT(f, nil, true, func(o *JWTOptions) { o.Algorithms = []string{"HS256"} }), keys)
	f.Add(uint8(1), fuzzKey, "")
	f.Add(uint8(2), "", "Bearer "+fuzzKey)
	f.Fuzz(func(t *testing.T, present uint8, xKeys, authz string) {
		if strings.ContainsAny(xKeys+authz, "\r\n\x00") {
			return // not a header value: net/http refuses the request first
		}
		r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
		var xs, as []string
		if present&1 != 0 {
			xs = strings.Split(xKeys, "\x1f")
			r.Header["X-Api-Key"] = xs
		}
		if present&2 != 0 {
			as = strings.Split(authz, "\x1f")
			r.Header["Authorization"] = as
		}
		want := presentsKey(xs, as)
		for name, m := range map[string]Method{"api_key": keys, "chain": chain} {
			id, err := m.Authenticate(r)
			switch {
			case err == nil && id == nil:
				t.Fatalf("%s: no identity and no error", name)
			case err == nil && !want:
				t.Fatalf("%s: accepted %q / %q as %+v", name, xs, as, id)
			case err == nil && (id.Agent != "alice" || id.Method != "api_key" || id.Subject != "alice-laptop"):
				t.Fatalf("%s: identity %+v", name, id)
			case err != nil && want && name == "api_key":
				t.Fatalf("%s: refused the key presented alone: %v", name, err)
			case err != nil && !errors.Is(err, ErrNoCredential) && !errors.Is(err, ErrInvalid):
				t.Fatalf("%s: error %v is neither ErrNoCredential nor ErrInvalid", name, err)
			}
			if err != nil {
				for _, v := range slices.Concat(xs, as) {
					if v = strings.TrimSpace(strings.TrimPrefix(v, "Bearer")); len(v) >= 8 && strings.Contains(err.Error(), v) {
						t.Fatalf("%s: error %q quotes a presented value", name, err)
					}
				}
			}
		}
		if _, err := keys.Authenticate(r); errors.Is(err, ErrInvalid) {
			if id, err := chain.Authenticate(r); err == nil {
				t.Fatalf("the key method refused, yet the chain accepted %+v", id)
			}
		}
	})
}

// presentsKey is the rule FuzzAPIKey holds the code to, written out: the
// valid key, and no other credential for the key method.
func presentsKey(xs, as []string) bool {
	var bearers []string
	for _, a := range as {
		scheme, tok, _ := strings.Cut(a, " ")
		if strings.EqualFold(scheme, "Bearer") {
			bearers = append(bearers, strings.TrimLeft(tok, " "))
		}
	}
	switch {
	case len(as) > 1:
		return false // two Authorization headers are refused outright
	case len(xs) == 1 && len(bearers) == 0:
		return xs[0] == fuzzKey
	case len(xs) == 1 && len(bearers) == 1:
		// A JWT-shaped bearer belongs to the JWT method; any other is a
		// second key.
		return xs[0] == fuzzKey && jwtShaped(bearers[0])
	case len(xs) == 0 && len(bearers) == 1:
		return bearers[0] == fuzzKey
	}
	return false
}

// FuzzJWTClaims signs arbitrary claims with the real HS256 secret, so that
// every claim set reaches the claim checks (FuzzJWT's tokens stop at the
// signature). Whatever the claims: no panic, and an identity only for
// claims that, read independently, name the issuer and audience, carry an
// exp not yet past (within the leeway), no nbf or iat in the future, a sub
// that is a valid agent name, and only well-formed scopes.
func FuzzJWTClaims(f *testing.F) {
	j := newTestJWT(f, nil, true, func(o *JWTOptions) { o.Algorithms = []string{"HS256"} })
	for _, c := range claimsCases(f) {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, claims []byte) {
		token := signRawHS256([]byte(`{"alg":"HS256","typ":"JWT"}`), claims)
		id, err := j.Authenticate(bearer(token))
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrNoCredential) {
				t.Fatalf("error %v is neither ErrNoCredential nor ErrInvalid", err)
			}
			return
		}
		var c map[string]any
		dec := json.NewDecoder(bytes.NewReader(claims))
		dec.UseNumber()
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("accepted claims that are not a JSON object: %q", claims)
		}
		leeway := defaultLeeway
		if iss, _ := c["iss"].(string); iss != testIssuer {
			t.Fatalf("accepted iss %v", c["iss"])
		}
		if !audienceHas(c["aud"], testAudience) {
			t.Fatalf("accepted aud %v", c["aud"])
		}
		exp, ok := seconds(c["exp"])
		if !ok || !testNow.Before(exp.Add(leeway)) {
			t.Fatalf("accepted exp %v at %v", c["exp"], testNow.Unix())
		}
		for _, claim := range []string{"nbf", "iat"} {
			if v, present := c[claim]; present && v != nil {
				if at, ok := seconds(v); !ok || testNow.Before(at.Add(-leeway)) {
					t.Fatalf("accepted %s %v at %v", claim, v, testNow.Unix())
				}
			}
		}
		from := testNow
		if iat, ok := seconds(c["iat"]); ok {
			from = iat
		}
		if exp.Sub(from) > DefaultMaxLifetime {
			t.Fatalf("accepted exp %v, more than %s after %v", c["exp"], DefaultMaxLifetime, from.Unix())
		}
		if sub, _ := c["sub"].(string); sub != id.Agent || !ValidAgent(sub) {
			t.Fatalf("accepted sub %v as agent %q", c["sub"], id.Agent)
		}
		for _, s := range id.Scopes {
			if !validScope(s) {
				t.Fatalf("scope %q", s)
			}
		}
	})
}

// signRawHS256 signs header and claims exactly as given.
func signRawHS256(header, claims []byte) string {
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, []byte(testSecret.Reveal()))
	mac.Write([]byte(input))
	return input + "." + enc.EncodeToString(mac.Sum(nil))
}

func audienceHas(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		return slices.ContainsFunc(a, func(v any) bool { s, _ := v.(string); return s == want })
	}
	return false
}

// seconds reads a NumericDate: a JSON number of seconds, maybe fractional.
// The jwt package also takes a string holding a number ("1900000600"),
// as encoding/json does for a json.Number; that leniency changes no date.
// Dates beyond a few thousand years are clamped, which keeps them on the
// same side of the test clock.
func seconds(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if s, isString := v.(string); isString {
		q, _ := json.Marshal(s)
		ok = json.Unmarshal(q, &n) == nil
	}
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, false
	}
	const limit = 1 << 37
	f = max(-limit, min(limit, f))
	whole := int64(f)
	return time.Unix(whole, int64((f-float64(whole))*1e9)), true
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// claimsCases are the claim sets of testdata/jwt/claims.json, as JSON.
func claimsCases(t testing.TB) [][]byte {
	t.Helper()
	raw := readFile(t, "testdata/jwt/claims.json")
	var doc struct {
		Cases []struct {
			Claims json.RawMessage
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, c := range doc.Cases {
		out = append(out, c.Claims)
	}
	return out
}
