package clientauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Remote keys: a JWKS fetched once at start (NewJWT fails if it cannot be,
// so a wrong URL shows at start and not as every token refused), refreshed
// every hour, and refreshed early when a token names a key id the cache does
// not hold — that is how a key the IdP rotated in is picked up.
//
// An unknown kid costs the IdP a request, and kids are chosen by whoever
// sends the token, so early refreshes are rate-limited to one per
// unknownKIDEvery. While the limit holds, a token with an unknown kid is
// refused at once: a flood of made-up kids makes at most one request a
// minute and ties up no goroutines waiting.
const (
	fetchTimeout    = 10 * time.Second
	refreshInterval = time.Hour
	unknownKIDEvery = time.Minute
	maxDiscovery    = 1 << 20
)

// asymmetric lists the JWKS algorithms and the key each one needs. The key
// type is checked here, not left to the signature code, so a JWK's kind can
// never be chosen by the token: an HS256 token is never checked against a
// JWKS key (an "oct" JWK is never used at all), an ES256 token only against a
// P-256 key, and RSA keys under 2048 bits are not used.
var asymmetric = map[string]func(crypto.PublicKey) bool{
	"RS256": rsaKey, "RS384": rsaKey, "RS512": rsaKey,
	"PS256": rsaKey, "PS384": rsaKey, "PS512": rsaKey,
	"ES256": ecKey(elliptic.P256()),
	"ES384": ecKey(elliptic.P384()),
	"ES512": ecKey(elliptic.P521()),
	"EdDSA": func(k crypto.PublicKey) bool { _, ok := k.(ed25519.PublicKey); return ok },
}

func rsaKey(k crypto.PublicKey) bool {
	r, ok := k.(*rsa.PublicKey)
	return ok && r.N.BitLen() >= 2048
}

func ecKey(c elliptic.Curve) func(crypto.PublicKey) bool {
	return func(k crypto.PublicKey) bool {
		e, ok := k.(*ecdsa.PublicKey)
		return ok && e.Curve == c
	}
}

// keySet holds the verification keys of one JWKS URL.
type keySet struct {
	storage jwkset.Storage
	logger  *slog.Logger
}

// newKeySet fetches jwksURL. ctx bounds the first fetch and the life of the
// background refresh.
func newKeySet(ctx context.Context, jwksURL string, client *http.Client, logger *slog.Logger) (_ *keySet, err error) {
	// The refresh goroutine starts before the first fetch; if that fetch
	// fails, stop it rather than leave it running for nothing.
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		if err != nil {
			cancel()
		}
	}()
	failFirst := false
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{jwksURL}, keyfunc.Override{
		Client:                    client,
		HTTPTimeout:               fetchTimeout,
		NoErrorReturnFirstHTTPReq: &failFirst,
		RefreshInterval:           refreshInterval,
		RefreshUnknownKID:         rate.NewLimiter(rate.Every(unknownKIDEvery), 1),
		// The wait also bounds the refresh request itself. A reservation
		// further off than this is refused at once instead of waited for.
		RateLimitWaitMax: fetchTimeout,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				logger.WarnContext(ctx, "refreshing JWKS failed; keeping the keys held", "url", u, "err", err)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("fetching JWKS %s: %w", jwksURL, err)
	}
	return &keySet{storage: kf.Storage(), logger: logger}, nil
}

// key returns the key(s) a token signed with alg and naming kid may be
// checked against, or a refusal.
func (s *keySet) key(ctx context.Context, alg, kid string) (any, error) {
	if kid == "" {
		// No kid: any key of the right kind may have signed it, as in
		// go-oidc. Every candidate already fits alg, so trying them all
		// cannot mix algorithms.
		all, err := s.storage.KeyReadAll(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading JWKS cache: %w", err)
		}
		var keys []jwt.VerificationKey
		for _, k := range all {
			if pub, ok := usable(k, alg); ok {
				keys = append(keys, pub)
			}
		}
		if len(keys) == 0 {
			return nil, refuse("jwt: no key for the algorithm")
		}
		return jwt.VerificationKeySet{Keys: keys}, nil
	}
	k, err := s.storage.KeyRead(ctx, kid)
	if err != nil {
		// Not found, even after a refresh, or the refresh was rate-limited
		// or failed. The caller learns only that the kid is unknown.
		s.logger.DebugContext(ctx, "JWT names a key not in the JWKS", "err", err)
		return nil, refuse("jwt: unknown key id")
	}
	if a := k.Marshal().ALG; a != "" && string(a) != alg {
		return nil, refuse("jwt: key algorithm mismatch")
	}
	pub, ok := usable(k, alg)
	if !ok {
		return nil, refuse("jwt: key does not fit the algorithm")
	}
	return pub, nil
}

// usable returns k's public key if k may verify a signature made with alg:
// a signing key ("use" absent or "sig", "key_ops" absent or with "verify"),
// whose "alg", if given, is alg, and whose kind alg needs.
func usable(k jwkset.JWK, alg string) (crypto.PublicKey, bool) {
	m := k.Marshal()
	if m.USE != "" && m.USE != jwkset.UseSig {
		return nil, false
	}
	if len(m.KEYOPS) > 0 && !slices.Contains(m.KEYOPS, jwkset.KeyOpsVerify) {
		return nil, false
	}
	if m.ALG != "" && string(m.ALG) != alg {
		return nil, false
	}
	var pub crypto.PublicKey = k.Key()
	if p, ok := pub.(interface{ Public() crypto.PublicKey }); ok {
		pub = p.Public() // a JWKS that (wrongly) publishes a private key
	}
	fits, known := asymmetric[alg]
	if !known || !fits(pub) {
		return nil, false
	}
	return pub, true
}

// discover reads issuer's OpenID Provider metadata and returns its jwks_uri.
// The document's issuer must be exactly the configured one (OpenID Connect
// Discovery §4.3), or a document served elsewhere could name other keys.
func discover(ctx context.Context, client *http.Client, issuer string) (string, error) {
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("OIDC discovery %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("OIDC discovery: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("OIDC discovery %s: status %s", u, resp.Status)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxDiscovery)).Decode(&doc); err != nil {
		return "", fmt.Errorf("OIDC discovery %s: decoding: %w", u, err)
	}
	switch {
	case doc.Issuer != issuer:
		return "", fmt.Errorf("OIDC discovery %s: document names issuer %q, not %q", u, doc.Issuer, issuer)
	case doc.JWKSURI == "":
		return "", fmt.Errorf("OIDC discovery %s: no jwks_uri", u)
	}
	if err := checkKeyURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("OIDC discovery %s: jwks_uri: %w", u, err)
	}
	return doc.JWKSURI, nil
}

// checkKeyURL accepts https URLs, and http only to a loopback address (a
// local IdP in development). Keys fetched in the clear could be swapped on
// the way, and whoever swaps them can mint any agent's identity.
func checkKeyURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			return nil
		}
	}
	return fmt.Errorf("%q must be https (http only to a loopback address)", raw)
}
