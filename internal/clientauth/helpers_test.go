package clientauth

import (
	"bufio"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// Every JWT test runs on this clock; testdata/jwt/claims.json is written
// against it.
var testNow = time.Unix(1_900_000_000, 0)

const (
	testIssuer   = "https://idp.example"
	testAudience = "gatekeeper"
)

var testSecret = sensitive.New("0123456789abcdef0123456789abcdef-test")

// signer is one test key: what signs a token and how the JWKS publishes it.
type signer struct {
	method jwt.SigningMethod
	kid    string
	key    crypto.Signer // nil for HS256
}

func (s signer) pub() crypto.PublicKey { return s.key.Public() }

// testKeys are generated once per test binary: RSA generation is slow.
var testKeys = sync.OnceValue(func() map[string]signer {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return map[string]signer{
		"RS256": {jwt.SigningMethodRS256, "rsa-1", rsaKey},
		"ES256": {jwt.SigningMethodES256, "ec-1", ecKey},
		"EdDSA": {jwt.SigningMethodEdDSA, "ed-1", edKey},
		"HS256": {method: jwt.SigningMethodHS256},
	}
})

// sign signs claims; kid "" leaves the header without one.
func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, claims map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, jwt.MapClaims(claims))
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return s
}

// signWith signs claims with one of testKeys.
func signWith(t testing.TB, alg string, claims map[string]any) string {
	t.Helper()
	s := testKeys()[alg]
	if alg == "HS256" {
		return sign(t, s.method, []byte(testSecret.Reveal()), "", claims)
	}
	return sign(t, s.method, s.key, s.kid, claims)
}

// goodClaims is a claim set every verifier in these tests accepts.
func goodClaims() map[string]any {
	return map[string]any{
		"iss": testIssuer, "aud": testAudience, "sub": "alice",
		"iat": testNow.Unix(), "exp": testNow.Add(10 * time.Minute).Unix(), "scope": "read",
	}
}

// jwk publishes a public key.
func jwk(t testing.TB, pub any, kid, alg string, use jwkset.USE) jwkset.JWKMarshal {
	t.Helper()
	j, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: jwkset.ALG(alg), USE: use},
	})
	if err != nil {
		t.Fatalf("making a JWK: %v", err)
	}
	return j.Marshal()
}

// idp is an identity provider over TLS: a JWKS the test can change and an
// OIDC discovery document.
type idp struct {
	srv      *httptest.Server
	mu       sync.Mutex
	keys     []jwkset.JWKMarshal
	jwksHits atomic.Int32
	// discovery, when set, is served at /.well-known/openid-configuration;
	// "{url}" in it becomes the server's URL.
	discovery string
}

func newIDP(t testing.TB, keys ...jwkset.JWKMarshal) *idp {
	t.Helper()
	p := &idp{keys: keys}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		p.jwksHits.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		_ = json.NewEncoder(w).Encode(jwkset.JWKSMarshal{Keys: p.keys})
	})
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		p.mu.Lock()
		doc := p.discovery
		p.mu.Unlock()
		if doc == "" {
			http.NotFound(w, nil)
			return
		}
		_, _ = w.Write([]byte(strings.ReplaceAll(doc, "{url}", p.srv.URL)))
	})
	p.srv = httptest.NewTLSServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *idp) setKeys(keys ...jwkset.JWKMarshal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = keys
}

// defaultJWKS publishes testKeys as an IdP would, "alg" included.
func defaultJWKS(t testing.TB) []jwkset.JWKMarshal {
	var out []jwkset.JWKMarshal
	for alg, s := range testKeys() {
		if s.key != nil {
			out = append(out, jwk(t, s.pub(), s.kid, alg, jwkset.UseSig))
		}
	}
	return out
}

// newTestJWT returns a verifier for testIssuer/testAudience on testNow with
// keys from p (nil: none) and, when secret, the HS256 secret.
func newTestJWT(t testing.TB, p *idp, secret bool, edit func(*JWTOptions)) *JWT {
	t.Helper()
	opts := JWTOptions{Issuer: testIssuer, Audience: testAudience, Now: func() time.Time { return testNow }}
	if p != nil {
		opts.JWKSURL = p.srv.URL + "/jwks"
		opts.HTTPClient = p.srv.Client()
	}
	if secret {
		opts.HS256Secret = testSecret
	}
	if edit != nil {
		edit(&opts)
	}
	j, err := NewJWT(t.Context(), opts)
	if err != nil {
		t.Fatalf("NewJWT: %v", err)
	}
	return j
}

// bearer is a request carrying token as a bearer credential.
func bearer(token string) *http.Request {
	r := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/mcp", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

// errText is err's text, "no credential" for ErrNoCredential and "" for nil,
// after checking that err is one of the two kinds a Method may return.
func errText(t testing.TB, err error) string {
	t.Helper()
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrNoCredential):
		return "no credential"
	case !errors.Is(err, ErrInvalid):
		t.Errorf("error %q wraps neither ErrNoCredential nor ErrInvalid", err)
	}
	return err.Error()
}

// readLines returns the lines of a testdata file that are not comments.
func readLines(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); !strings.HasPrefix(line, "#") && line != "" {
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s holds no cases", path)
	}
	return out
}
