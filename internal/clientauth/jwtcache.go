package clientauth

import (
	"context"
	"crypto"
	"crypto/sha256"
	"slices"
	"sync"
	"time"
)

// Verified tokens are remembered by their SHA-256 digest until their exp,
// so an agent's next request costs a hash and a lookup instead of parsing
// and verifying the same JWT again (about a tenth of the CPU of a read
// over HTTP). What the cache may not do is outlive the trust it was built
// on:
//
//   - An entry is used only before the token's exp; from then on the token
//     goes through the full check again, which refuses it past the leeway.
//   - A token verified with a JWKS key is honoured from the cache only
//     while that key id still names the same key (checked on every hit,
//     through keySet.key, so a refresh that drops or replaces the key ends
//     the entry at once). Tokens without a kid are not cached: which of the
//     candidate keys verified them is not known.
//   - HS256 entries belong to the JWT that holds the secret. A reload with
//     another secret builds another JWT, and its empty cache.
//
// Only tokens that passed every check are stored, so the cache cannot be
// filled by a caller without valid tokens; it is bounded all the same.
const maxCachedTokens = 10_000

// verifiedToken is a token that passed every check.
type verifiedToken struct {
	id      Identity
	expires time.Time        // the token's exp
	key     crypto.PublicKey // the JWKS key that verified it; nil for HS256
	alg     string
	kid     string
}

// tokenCache maps token digests to verified tokens.
type tokenCache struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]verifiedToken
}

func newTokenCache() *tokenCache {
	return &tokenCache{entries: map[[sha256.Size]byte]verifiedToken{}}
}

// lookup returns the identity of a cached token that may still be honoured
// at now, a copy the caller may change. An entry that may not is dropped.
func (c *tokenCache) lookup(ctx context.Context, sum [sha256.Size]byte, now time.Time, keys *keySet) (*Identity, bool) {
	c.mu.Lock()
	v, ok := c.entries[sum]
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	if !now.Before(v.expires) || v.key != nil && !stillPublished(ctx, keys, v) {
		c.mu.Lock()
		delete(c.entries, sum)
		c.mu.Unlock()
		return nil, false
	}
	id := v.id
	id.Scopes = slices.Clone(id.Scopes)
	return &id, true
}

// stillPublished reports whether the key v was verified with is still the
// one its kid names in keys.
func stillPublished(ctx context.Context, keys *keySet, v verifiedToken) bool {
	if keys == nil {
		return false
	}
	k, err := keys.key(ctx, v.alg, v.kid)
	if err != nil {
		return false
	}
	pub, ok := k.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(v.key)
}

// store remembers v under sum, unless it is past its exp (it is in its
// leeway). When the cache is full, expired entries go first and then
// arbitrary ones, down to seven eighths of the bound, so a full cache is
// swept once per many stores, not on each.
func (c *tokenCache) store(sum [sha256.Size]byte, v verifiedToken, now time.Time) {
	if !now.Before(v.expires) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCachedTokens {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < maxCachedTokens*7/8 {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[sum] = v
}
