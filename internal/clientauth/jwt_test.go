package clientauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// TestJWTClaims signs every claim set of testdata/jwt/claims.json with every
// kind of key and checks the verdict.
func TestJWTClaims(t *testing.T) {
	raw, err := os.ReadFile("testdata/jwt/claims.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Now   int64
		Cases []struct {
			Name       string
			Claims     map[string]any
			Want       string
			WantScopes []string `json:"want_scopes"`
		}
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber() // keep numeric dates exact
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.Now != testNow.Unix() || len(doc.Cases) == 0 {
		t.Fatalf("claims.json: now %d, %d cases; want now %d and some cases", doc.Now, len(doc.Cases), testNow.Unix())
	}
	j := newTestJWT(t, newIDP(t, defaultJWKS(t)...), true, nil)
	for _, alg := range []string{"RS256", "ES256", "EdDSA", "HS256"} {
		for _, tc := range doc.Cases {
			t.Run(alg+"/"+tc.Name, func(t *testing.T) {
				token := signWith(t, alg, tc.Claims)
				id, err := j.Authenticate(bearer(token))
				if got := errText(t, err); got != tc.Want {
					t.Fatalf("error = %q, want %q", got, tc.Want)
				}
				if tc.Want != "" {
					if id != nil {
						t.Errorf("refused, yet identity %+v", id)
					}
					if strings.Contains(err.Error(), token) {
						t.Error("the error holds the token")
					}
					return
				}
				exp, err := tc.Claims["exp"].(json.Number).Int64()
				if err != nil {
					t.Fatal(err)
				}
				want := &Identity{Agent: "alice", Method: "jwt", Subject: "alice", Scopes: tc.WantScopes, Expires: time.Unix(exp, 0)}
				if diff := cmp.Diff(want, id); diff != "" {
					t.Errorf("identity mismatch (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// TestJWTMaxLifetime: a configured maximum replaces the default of 24h.
func TestJWTMaxLifetime(t *testing.T) {
	j := newTestJWT(t, nil, true, func(o *JWTOptions) { o.MaxLifetime = time.Hour })
	tests := []struct {
		name string
		iat  any // nil: no iat
		exp  time.Time
		want string
	}{
		{"ok/at-max", testNow.Unix(), testNow.Add(time.Hour), ""},
		{"fail/over-max", testNow.Unix(), testNow.Add(time.Hour + time.Second), "invalid credential: jwt: lifetime (exp - iat) longer than the maximum"},
		{"ok/no-iat", nil, testNow.Add(time.Hour), ""},
		{"fail/no-iat-over-max", nil, testNow.Add(2 * time.Hour), "invalid credential: jwt: exp further away than the maximum lifetime"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			claims := goodClaims()
			claims["exp"] = tc.exp.Unix()
			if tc.iat == nil {
				delete(claims, "iat")
			}
			_, err := j.Authenticate(bearer(signWith(t, "HS256", claims)))
			if got := errText(t, err); got != tc.want {
				t.Fatalf("error = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestJWTForgedStatic runs the hand-made tokens of testdata/jwt/forged.txt.
func TestJWTForgedStatic(t *testing.T) {
	jwks := newTestJWT(t, newIDP(t, defaultJWKS(t)...), true, nil)
	for _, line := range readLines(t, "testdata/jwt/forged.txt") {
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			t.Fatalf("forged.txt: %q is not name, want, token, note", line)
		}
		name, want, token := f[0], f[1], f[2]
		t.Run(name, func(t *testing.T) {
			id, err := jwks.Authenticate(bearer(token))
			if got := errText(t, err); got != want {
				t.Errorf("error = %q, want %q (%s)", got, want, f[3])
			}
			if id != nil {
				t.Errorf("forged token accepted as %+v", id)
			}
		})
	}
}

// TestJWTForged covers forgeries that need the test's own keys.
func TestJWTForged(t *testing.T) {
	keys := testKeys()
	rsaKey := keys["RS256"].key.(*rsa.PrivateKey)
	good := signWith(t, "RS256", goodClaims())
	h, c, s := splitJWT(t, good)

	// Keys the IdP publishes next to the good ones, each wrong in one way.
	pinned, _ := rsa.GenerateKey(rand.Reader, 2048)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	encKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	octSecret := []byte("an-oct-key-published-in-the-jwks-by-mistake")
	p := newIDP(t, append(defaultJWKS(t),
		jwk(t, &pinned.PublicKey, "pinned-ps256", "PS256", jwkset.UseSig),
		jwk(t, &small.PublicKey, "rsa-1024", "", jwkset.UseSig),
		jwk(t, &encKey.PublicKey, "rsa-enc", "", jwkset.UseEnc),
		jwk(t, &rsaKey.PublicKey, "rsa-no-alg", "", ""),
		jwkset.JWKMarshal{KTY: jwkset.KtyOct, KID: "oct-1", K: base64.RawURLEncoding.EncodeToString(octSecret)},
	)...)
	withHS := newTestJWT(t, p, true, nil)
	jwksOnly := newTestJWT(t, p, false, nil)
	rsOnly := newTestJWT(t, p, false, func(o *JWTOptions) { o.Algorithms = []string{"RS256"} })

	pubDER, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	confused := sign(t, jwt.SigningMethodHS256, pubPEM, "rsa-1", goodClaims())
	confusedDER := sign(t, jwt.SigningMethodHS256, pubDER, "", goodClaims())
	big := goodClaims()
	big["padding"] = strings.Repeat("x", maxTokenLen)
	noKid := goodClaims()

	const (
		badSig      = "invalid credential: jwt: bad signature"
		notAllowed  = "invalid credential: jwt: algorithm not allowed"
		doesNotFit  = "invalid credential: jwt: key does not fit the algorithm"
		algMismatch = "invalid credential: jwt: key algorithm mismatch"
	)
	tests := []struct {
		name  string
		j     *JWT
		token string
		want  string
	}{
		{"ok", withHS, good, ""},
		{"ok/no-kid", withHS, sign(t, jwt.SigningMethodES256, keys["ES256"].key, "", noKid), ""},
		{"ok/jwk-without-alg", withHS, sign(t, jwt.SigningMethodRS256, rsaKey, "rsa-no-alg", goodClaims()), ""},
		{"fail/tampered-header", withHS, b64json(t, map[string]any{"alg": "RS256", "kid": "rsa-1", "typ": "at+jwt"}) + "." + c + "." + s, badSig},
		{"fail/tampered-header-alg-switch", withHS, b64json(t, map[string]any{"alg": "RS512", "kid": "rsa-1"}) + "." + c + "." + s, notAllowed},
		{"fail/tampered-claims", withHS, h + "." + b64json(t, with(goodClaims(), "sub", "mallory")) + "." + s, badSig},
		{"fail/tampered-claims-exp", withHS, h + "." + b64json(t, with(goodClaims(), "exp", testNow.Add(24*time.Hour).Unix())) + "." + s, badSig},
		{"fail/tampered-signature", withHS, h + "." + c + "." + flipFirst(s), badSig},
		{"fail/truncated-signature", withHS, h + "." + c + "." + s[:len(s)/8*4], badSig},
		{"fail/stripped-signature", withHS, h + "." + c + ".", badSig},
		{"fail/signature-of-other-token", withHS, h + "." + c + "." + sigOf(t, signWith(t, "RS256", with(goodClaims(), "sub", "bob"))), badSig},
		{"fail/hs-rs-confusion-pem", withHS, confused, badSig},
		{"fail/hs-rs-confusion-der", withHS, confusedDER, badSig},
		{"fail/hs-rs-confusion-without-secret", jwksOnly, confused, notAllowed},
		{"fail/hs256-with-jwks-oct-key", withHS, sign(t, jwt.SigningMethodHS256, octSecret, "oct-1", goodClaims()), badSig},
		{"fail/hs256-jwks-only", jwksOnly, signWith(t, "HS256", goodClaims()), notAllowed},
		{"fail/rs256-with-ec-kid", withHS, sign(t, jwt.SigningMethodRS256, rsaKey, "ec-1", goodClaims()), algMismatch},
		{"fail/es256-with-rsa-kid", withHS, sign(t, jwt.SigningMethodES256, keys["ES256"].key, "rsa-no-alg", goodClaims()), doesNotFit},
		{"fail/es384-disallowed", withHS, sign(t, jwt.SigningMethodES384, p384, "", goodClaims()), notAllowed},
		{"fail/jwk-alg-mismatch", withHS, sign(t, jwt.SigningMethodRS256, pinned, "pinned-ps256", goodClaims()), algMismatch},
		{"fail/jwk-use-enc", withHS, sign(t, jwt.SigningMethodRS256, encKey, "rsa-enc", goodClaims()), doesNotFit},
		{"fail/jwk-oct-as-rs256", withHS, sign(t, jwt.SigningMethodRS256, rsaKey, "oct-1", goodClaims()), doesNotFit},
		{"fail/rsa-key-too-small", withHS, sign(t, jwt.SigningMethodRS256, small, "rsa-1024", goodClaims()), doesNotFit},
		{"fail/no-kid-unpublished-key", withHS, sign(t, jwt.SigningMethodRS256, pinned, "", goodClaims()), badSig},
		{"fail/disallowed-es256", rsOnly, signWith(t, "ES256", goodClaims()), notAllowed},
		{"fail/disallowed-eddsa", rsOnly, signWith(t, "EdDSA", goodClaims()), notAllowed},
		{"fail/ps256-not-default", withHS, sign(t, jwt.SigningMethodPS256, pinned, "pinned-ps256", goodClaims()), notAllowed},
		{"fail/oversize", withHS, signWith(t, "RS256", big), "invalid credential: jwt: token too large"},
		{"fail/empty-bearer", withHS, "", "invalid credential: jwt: empty bearer token"},
		{"none/api-key", withHS, "gk_notajwt", "no credential"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := tc.j.Authenticate(bearer(tc.token))
			if got := errText(t, err); got != tc.want {
				t.Fatalf("error = %q, want %q", got, tc.want)
			}
			if tc.want == "" && (id == nil || id.Agent != "alice") {
				t.Errorf("identity = %+v, want agent alice", id)
			}
			if tc.want != "" && id != nil {
				t.Errorf("refused, yet identity %+v", id)
			}
		})
	}
}

func TestJWTHeaders(t *testing.T) {
	j := newTestJWT(t, nil, true, nil)
	token := signWith(t, "HS256", goodClaims())
	tests := []struct {
		name   string
		header map[string][]string
		want   string
	}{
		{"ok", map[string][]string{"Authorization": {"Bearer " + token}}, ""},
		{"ok/scheme-case", map[string][]string{"Authorization": {"bearer " + token}}, ""},
		{"none/no-header", nil, "no credential"},
		{"none/basic", map[string][]string{"Authorization": {"Basic YWxpY2U6cHc="}}, "no credential"},
		{"none/x-api-key", map[string][]string{"X-Api-Key": {token}}, "no credential"},
		{"fail/two-headers", map[string][]string{"Authorization": {"Bearer " + token, "Bearer " + token}}, "invalid credential: jwt: several Authorization headers"},
		{"fail/trailing-junk", map[string][]string{"Authorization": {"Bearer " + token + " x"}}, "invalid credential: jwt: malformed bearer token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := bearer("")
			r.Header = tc.header
			_, err := j.Authenticate(r)
			if got := errText(t, err); got != tc.want {
				t.Errorf("error = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMintHS256(t *testing.T) {
	j := newTestJWT(t, nil, true, nil)
	token, err := MintHS256(testSecret, testIssuer, testAudience, "alice", []string{"read", "write"}, time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	id, err := j.Authenticate(bearer(token))
	if err != nil {
		t.Fatal(err)
	}
	want := &Identity{Agent: "alice", Method: "jwt", Subject: "alice", Scopes: []string{"read", "write"}, Expires: testNow.Add(time.Hour)}
	if diff := cmp.Diff(want, id); diff != "" {
		t.Errorf("identity mismatch (-want +got):\n%s", diff)
	}
	_, c, _ := splitJWT(t, token)
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	jti, _ := got["jti"].(string)
	delete(got, "jti")
	now := float64(testNow.Unix())
	wantClaims := map[string]any{
		"iss": testIssuer, "aud": []any{testAudience}, "sub": "alice", "scope": "read write",
		"iat": now, "nbf": now, "exp": now + 3600,
	}
	if diff := cmp.Diff(wantClaims, got); diff != "" {
		t.Errorf("claims mismatch (-want +got):\n%s", diff)
	}
	if len(jti) < 20 {
		t.Errorf("jti = %q, want a random id", jti)
	}
	again, err := MintHS256(testSecret, testIssuer, testAudience, "alice", nil, time.Hour, testNow)
	if err != nil || again == token {
		t.Errorf("a second token is %v / the same as the first: jti is not random", err)
	}

	bad := []struct {
		name   string
		secret string
		sub    string
		scopes []string
		ttl    time.Duration
		want   string
	}{
		{"fail/short-secret", "short", "alice", nil, time.Hour, "at least 32 bytes"},
		{"fail/sub", testSecret.Reveal(), "Alice", nil, time.Hour, "not a valid agent name"},
		{"fail/scope-with-space", testSecret.Reveal(), "alice", []string{"read write"}, time.Hour, "holds a space"},
		{"fail/ttl", testSecret.Reveal(), "alice", nil, 0, "ttl must be positive"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := MintHS256(sensitive.New(tc.secret), testIssuer, testAudience, tc.sub, tc.scopes, tc.ttl, testNow)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// FuzzJWT feeds arbitrary bearer values to a verifier: it must never panic,
// never accept one (nothing here holds the secret), and never echo it.
func FuzzJWT(f *testing.F) {
	j := newTestJWT(f, nil, true, func(o *JWTOptions) { o.Algorithms = []string{"HS256"} })
	for _, line := range readLines(f, "testdata/jwt/forged.txt") {
		f.Add(strings.Split(line, "\t")[2])
	}
	f.Add(sign(f, jwt.SigningMethodHS256, []byte("not-the-secret-not-the-secret-!!"), "", goodClaims()))
	f.Fuzz(func(t *testing.T, token string) {
		if strings.ContainsAny(token, "\r\n\x00") {
			return // not a header value
		}
		id, err := j.Authenticate(bearer(token))
		if err == nil {
			t.Fatalf("accepted a fuzzed token as %+v", id)
		}
		if len(token) > 8 && strings.Contains(err.Error(), token) {
			t.Fatalf("error %q holds the token", err)
		}
	})
}

func splitJWT(t testing.TB, token string) (header, claims, sig string) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("%d parts in a JWT", len(parts))
	}
	return parts[0], parts[1], parts[2]
}

func sigOf(t testing.TB, token string) string {
	_, _, s := splitJWT(t, token)
	return s
}

func b64json(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func with(c map[string]any, k string, v any) map[string]any {
	c[k] = v
	return c
}

// flipFirst changes the signature's first byte, keeping it base64url.
func flipFirst(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}
