package clientauth

import (
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// cached reports how many verified tokens j holds.
func cached(j *JWT) int {
	j.cache.mu.Lock()
	defer j.cache.mu.Unlock()
	return len(j.cache.entries)
}

// TestJWTCacheKeyRotation: agents keep calling while the IdP rotates its
// key out. Tokens of the withdrawn key are refused from the refresh on,
// cached or not, and tokens of the new key are accepted.
func TestJWTCacheKeyRotation(t *testing.T) {
	p := newIDP(t, defaultJWKS(t)...)
	j := newTestJWT(t, p, false, nil)
	old := signWith(t, "RS256", goodClaims())
	if _, err := j.Authenticate(bearer(old)); err != nil {
		t.Fatal(err)
	}
	if got := cached(j); got != 1 {
		t.Fatalf("%d tokens cached after one verified, want 1", got)
	}

	rotated, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	fresh := sign(t, jwt.SigningMethodRS256, rotated, "rsa-2", goodClaims())
	// Calls in flight while the key changes (their answers depend on
	// timing; under -race they check the cache's locking).
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { _, _ = j.Authenticate(bearer(old)) })
	}
	p.setKeys(jwk(t, &rotated.PublicKey, "rsa-2", "RS256", jwkset.UseSig))
	// The first token naming the new kid makes the verifier refresh.
	if _, err := j.Authenticate(bearer(fresh)); err != nil {
		t.Fatalf("token of the rotated-in key: %v", err)
	}
	wg.Wait()
	for range 3 {
		_, err := j.Authenticate(bearer(old))
		if got := errText(t, err); got != "invalid credential: jwt: unknown key id" {
			t.Fatalf("token of the withdrawn key after the refresh: error = %q", got)
		}
	}
	if _, err := j.Authenticate(bearer(fresh)); err != nil {
		t.Errorf("token of the rotated-in key, again: %v", err)
	}
}

// TestJWTCacheKeyReplacedUnderSameKid: an IdP that publishes another key
// under the same kid withdraws the old one too.
func TestJWTCacheKeyReplacedUnderSameKid(t *testing.T) {
	p := newIDP(t, defaultJWKS(t)...)
	var now time.Time
	j := newTestJWT(t, p, false, func(o *JWTOptions) {
		now = testNow
		o.Now = func() time.Time { return now }
	})
	old := signWith(t, "RS256", goodClaims())
	if _, err := j.Authenticate(bearer(old)); err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p.setKeys(jwk(t, &other.PublicKey, "rsa-1", "RS256", jwkset.UseSig))
	// A kid the cache does not hold makes it refresh (the hourly refresh
	// would too).
	_, _ = j.Authenticate(bearer(sign(t, jwt.SigningMethodRS256, other, "unknown", goodClaims())))
	_, err = j.Authenticate(bearer(old))
	if got := errText(t, err); got != "invalid credential: jwt: bad signature" {
		t.Errorf("token of the replaced key: error = %q", got)
	}
	if got := cached(j); got != 0 {
		t.Errorf("%d tokens cached, want 0", got)
	}
}

// TestJWTCacheExpiry: a cached token is honoured until its exp, then goes
// through the full check, which allows the leeway and then refuses it.
func TestJWTCacheExpiry(t *testing.T) {
	now := testNow
	j := newTestJWT(t, nil, true, func(o *JWTOptions) { o.Now = func() time.Time { return now } })
	exp := testNow.Add(10 * time.Minute)
	token := signWith(t, "HS256", goodClaims())
	tests := []struct {
		name   string
		at     time.Time
		want   string
		cached int
	}{
		{"ok/first", testNow, "", 1},
		{"ok/cached", exp.Add(-time.Second), "", 1},
		{"ok/past exp, within the leeway", exp.Add(time.Second), "", 0},
		{"fail/expired", exp.Add(defaultLeeway), "invalid credential: jwt: expired", 0},
	}
	for _, tt := range tests {
		now = tt.at
		id, err := j.Authenticate(bearer(token))
		if got := errText(t, err); got != tt.want {
			t.Fatalf("%s: error = %q, want %q", tt.name, got, tt.want)
		}
		if err == nil && (id.Agent != "alice" || !id.Expires.Equal(exp)) {
			t.Errorf("%s: identity %+v", tt.name, id)
		}
		if got := cached(j); got != tt.cached {
			t.Errorf("%s: %d tokens cached, want %d", tt.name, got, tt.cached)
		}
	}
}

// TestJWTCacheHandsOutCopies: a caller that trims its identity's scopes
// (as the HTTP server does to an agent's ceiling) changes no other
// caller's.
func TestJWTCacheHandsOutCopies(t *testing.T) {
	j := newTestJWT(t, nil, true, nil)
	token := signWith(t, "HS256", with(goodClaims(), "scope", "read write"))
	for range 2 {
		id, err := j.Authenticate(bearer(token))
		if err != nil {
			t.Fatal(err)
		}
		if len(id.Scopes) != 2 || id.Scopes[0] != "read" || id.Scopes[1] != "write" {
			t.Fatalf("scopes %v, want [read write]", id.Scopes)
		}
		id.Scopes[0] = "admin"
	}
}

// TestJWTCacheNoKidNotCached: a JWKS token without a kid names no one key,
// so none can be checked on a hit: it is verified every time.
func TestJWTCacheNoKidNotCached(t *testing.T) {
	p := newIDP(t, defaultJWKS(t)...)
	j := newTestJWT(t, p, false, nil)
	s := testKeys()["ES256"]
	if _, err := j.Authenticate(bearer(sign(t, s.method, s.key, "", goodClaims()))); err != nil {
		t.Fatal(err)
	}
	if got := cached(j); got != 0 {
		t.Errorf("%d tokens cached, want 0", got)
	}
}

// TestJWTCacheBounded: a full cache makes room, and never grows past its
// bound.
func TestJWTCacheBounded(t *testing.T) {
	c := newTokenCache()
	for i := range maxCachedTokens + 10 {
		var sum [32]byte
		sum[0], sum[1], sum[2] = byte(i), byte(i>>8), byte(i>>16)
		c.store(sum, verifiedToken{expires: testNow.Add(time.Minute)}, testNow)
		if len(c.entries) > maxCachedTokens {
			t.Fatalf("%d entries after %d stores, bound %d", len(c.entries), i+1, maxCachedTokens)
		}
	}
}
