package clientauth

import (
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// TestJWKSRefresh: a key the IdP adds after start is picked up by the first
// token naming it; after that, unknown kids are refused without asking the
// IdP again, however many arrive.
func TestJWKSRefresh(t *testing.T) {
	p := newIDP(t, defaultJWKS(t)...)
	j := newTestJWT(t, p, false, nil)
	if got := p.jwksHits.Load(); got != 1 {
		t.Fatalf("JWKS fetched %d times at start, want 1", got)
	}

	rotated, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p.setKeys(append(defaultJWKS(t), jwk(t, &rotated.PublicKey, "rsa-2", "RS256", jwkset.UseSig))...)
	id, err := j.Authenticate(bearer(sign(t, jwt.SigningMethodRS256, rotated, "rsa-2", goodClaims())))
	if err != nil || id.Agent != "alice" {
		t.Fatalf("token with the rotated-in key: %v, %+v", err, id)
	}
	if got := p.jwksHits.Load(); got != 2 {
		t.Fatalf("JWKS fetched %d times, want 2 (start and one refresh)", got)
	}

	ghost := sign(t, jwt.SigningMethodRS256, rotated, "ghost", goodClaims())
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			_, err := j.Authenticate(bearer(ghost))
			if got := errText(t, err); got != "invalid credential: jwt: unknown key id" {
				t.Errorf("unknown kid: error = %q", got)
			}
		})
	}
	wg.Wait()
	if got := p.jwksHits.Load(); got != 2 {
		t.Errorf("JWKS fetched %d times after a flood of unknown kids, want still 2", got)
	}
	// The known keys still work while refreshes are held back.
	if _, err := j.Authenticate(bearer(signWith(t, "RS256", goodClaims()))); err != nil {
		t.Errorf("known key after the flood: %v", err)
	}
}

// TestJWKSRefreshRateLimited: the one early refresh is spent on a kid that
// stays unknown; a key added after it waits for the limit (or the hourly
// refresh) and is refused meanwhile.
func TestJWKSRefreshRateLimited(t *testing.T) {
	p := newIDP(t, defaultJWKS(t)...)
	j := newTestJWT(t, p, false, nil)
	rotated, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, err = j.Authenticate(bearer(sign(t, jwt.SigningMethodRS256, rotated, "ghost", goodClaims())))
	if got := errText(t, err); got != "invalid credential: jwt: unknown key id" {
		t.Fatalf("unknown kid: error = %q", got)
	}
	if got := p.jwksHits.Load(); got != 2 {
		t.Fatalf("JWKS fetched %d times, want 2 (start and one refresh)", got)
	}
	p.setKeys(append(defaultJWKS(t), jwk(t, &rotated.PublicKey, "rsa-2", "RS256", jwkset.UseSig))...)
	_, err = j.Authenticate(bearer(sign(t, jwt.SigningMethodRS256, rotated, "rsa-2", goodClaims())))
	if got := errText(t, err); got != "invalid credential: jwt: unknown key id" {
		t.Errorf("kid added within the limit: error = %q, want unknown key id", got)
	}
	if got := p.jwksHits.Load(); got != 2 {
		t.Errorf("JWKS fetched %d times, want still 2", got)
	}
}

func TestOIDCDiscovery(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string // part of NewJWT's error; "" for ok
	}{
		{"ok", `{"issuer":"{url}","jwks_uri":"{url}/jwks"}`, ""},
		{"fail/issuer-mismatch", `{"issuer":"https://evil.example","jwks_uri":"{url}/jwks"}`, `names issuer "https://evil.example"`},
		{"fail/issuer-trailing-slash", `{"issuer":"{url}/","jwks_uri":"{url}/jwks"}`, "names issuer"},
		{"fail/no-jwks-uri", `{"issuer":"{url}"}`, "no jwks_uri"},
		{"fail/jwks-uri-plain-http", `{"issuer":"{url}","jwks_uri":"http://idp.example/jwks"}`, "must be https"},
		{"fail/jwks-unreachable", `{"issuer":"{url}","jwks_uri":"{url}/missing"}`, "fetching JWKS"},
		{"fail/not-json", `<html>`, "decoding"},
		{"fail/no-document", ``, "404"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newIDP(t, defaultJWKS(t)...)
			p.discovery = tc.doc
			j, err := NewJWT(t.Context(), JWTOptions{
				OIDCIssuer: p.srv.URL,
				Audience:   testAudience,
				HTTPClient: p.srv.Client(),
				Now:        func() time.Time { return testNow },
			})
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("NewJWT error = %v, want one saying %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// The issuer defaults to the OIDC issuer.
			id, err := j.Authenticate(bearer(signWith(t, "EdDSA", with(goodClaims(), "iss", p.srv.URL))))
			if err != nil || id.Agent != "alice" {
				t.Fatalf("token from the discovered issuer: %v, %+v", err, id)
			}
			_, err = j.Authenticate(bearer(signWith(t, "EdDSA", goodClaims())))
			if got := errText(t, err); got != "invalid credential: jwt: wrong issuer" {
				t.Errorf("token from another issuer: error = %q", got)
			}
		})
	}
}

func TestNewJWTOptions(t *testing.T) {
	p := newIDP(t, defaultJWKS(t)...)
	tests := []struct {
		name string
		edit func(*JWTOptions)
		want []string // parts of the error; nil for ok
	}{
		{"ok/secret-only", func(o *JWTOptions) { o.JWKSURL, o.HTTPClient = "", nil }, nil},
		{"ok/jwks-only", func(o *JWTOptions) { o.HS256Secret = sensitive.String{} }, nil},
		{"ok/leeway-60s", func(o *JWTOptions) { o.Leeway = 60 * time.Second }, nil},
		{"fail/no-issuer", func(o *JWTOptions) { o.Issuer = "" }, []string{"issuer is required"}},
		{"fail/no-audience", func(o *JWTOptions) { o.Audience = "" }, []string{"audience is required"}},
		{"fail/short-secret", func(o *JWTOptions) { o.HS256Secret = sensitive.New("too-short-secret") }, []string{"at least 32 bytes"}},
		{"fail/no-keys", func(o *JWTOptions) { o.HS256Secret, o.JWKSURL = sensitive.String{}, "" }, []string{"no keys"}},
		{"fail/jwks-and-oidc", func(o *JWTOptions) { o.OIDCIssuer, o.Issuer = p.srv.URL, p.srv.URL }, []string{"not both"}},
		{"fail/issuer-not-oidc-issuer", func(o *JWTOptions) { o.JWKSURL, o.OIDCIssuer = "", p.srv.URL }, []string{"differs from the OIDC issuer"}},
		{"fail/leeway-too-long", func(o *JWTOptions) { o.Leeway = 61 * time.Second }, []string{"leeway"}},
		{"fail/leeway-negative", func(o *JWTOptions) { o.Leeway = -time.Second }, []string{"leeway"}},
		{"fail/max-lifetime-negative", func(o *JWTOptions) { o.MaxLifetime = -time.Hour }, []string{"max lifetime"}},
		{"fail/alg-none", func(o *JWTOptions) { o.Algorithms = []string{"RS256", "none"} }, []string{`algorithm "none" is not supported`}},
		{"fail/alg-hs512", func(o *JWTOptions) { o.Algorithms = []string{"HS512"} }, []string{`algorithm "HS512" is not supported`}},
		{"fail/hs256-without-secret", func(o *JWTOptions) { o.HS256Secret, o.Algorithms = sensitive.String{}, []string{"HS256"} }, []string{"HS256 needs an HS256 secret"}},
		{"fail/rs256-without-jwks", func(o *JWTOptions) { o.JWKSURL, o.Algorithms = "", []string{"RS256"} }, []string{"RS256 needs a JWKS URL"}},
		{"fail/no-algorithms", func(o *JWTOptions) { o.Algorithms = []string{} }, []string{"no algorithms allowed"}},
		{"fail/plain-http-jwks", func(o *JWTOptions) { o.JWKSURL = "http://idp.example/jwks" }, []string{"must be https"}},
		{"fail/every-problem-at-once", func(o *JWTOptions) { o.Issuer, o.Audience, o.Leeway = "", "", time.Hour }, []string{"issuer is required", "audience is required", "leeway"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := JWTOptions{
				HS256Secret: testSecret, JWKSURL: p.srv.URL + "/jwks", HTTPClient: p.srv.Client(),
				Issuer: testIssuer, Audience: testAudience,
			}
			tc.edit(&opts)
			_, err := NewJWT(t.Context(), opts)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("NewJWT: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("NewJWT accepted the options")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if s := opts.HS256Secret.Reveal(); s != "" && strings.Contains(err.Error(), s) {
				t.Errorf("error %q holds the secret", err)
			}
		})
	}
}

// TestJWTLocalHTTP: plain http is allowed to a loopback IdP (development).
func TestJWTLocalHTTP(t *testing.T) {
	if err := checkKeyURL("http://127.0.0.1:8080/jwks"); err != nil {
		t.Errorf("loopback http refused: %v", err)
	}
	if err := checkKeyURL("http://localhost/jwks"); err != nil {
		t.Errorf("localhost http refused: %v", err)
	}
	for _, u := range []string{"http://10.0.0.1/jwks", "http://127.0.0.1.evil.example/jwks", "ftp://idp.example/jwks", "/jwks"} {
		if err := checkKeyURL(u); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
	if err := checkKeyURL(string([]byte{0x7f})); err == nil {
		t.Error("a control character accepted as a URL")
	}
}
