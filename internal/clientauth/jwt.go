package clientauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// JWTOptions configures bearer JWTs. Issuer, Audience and at least one key
// source (HS256Secret, JWKSURL or OIDCIssuer) are required.
type JWTOptions struct {
	// HS256Secret is a shared secret of at least 32 bytes, for tokens that
	// `gatekeeper token` mints. Only HS256 tokens are checked against it.
	HS256Secret sensitive.String
	// JWKSURL serves the IdP's public keys. Set it or OIDCIssuer, not both.
	JWKSURL string
	// OIDCIssuer is discovered at start: its jwks_uri gives the keys.
	OIDCIssuer string
	// Issuer is the required "iss"; it defaults to OIDCIssuer.
	Issuer string
	// Audience must be one of the token's "aud" values.
	Audience string
	// Algorithms allowed; by default RS256, ES256 and EdDSA when there is a
	// JWKS, and HS256 when there is a secret. "none" is never allowed.
	Algorithms []string
	// Leeway for clock skew on exp, nbf and iat: 0 means 30s, at most 60s.
	Leeway time.Duration
	// MaxLifetime bounds how long a token may be valid: exp - iat, or
	// exp - now when there is no iat. 0 means DefaultMaxLifetime. An IdP
	// that mints tokens for months hands out standing credentials.
	MaxLifetime time.Duration
	// HTTPClient fetches discovery and JWKS; nil means one with a 10s timeout.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger gets JWKS refresh failures; nil discards them.
	Logger *slog.Logger
}

// DefaultMaxLifetime is JWTOptions.MaxLifetime's default.
const DefaultMaxLifetime = 24 * time.Hour

const (
	defaultLeeway = 30 * time.Second
	maxLeeway     = 60 * time.Second
	minSecretLen  = 32
	// maxTokenLen is far above what an IdP issues (a few KiB with groups)
	// and bounds the work an unauthenticated caller can ask of us.
	maxTokenLen = 16 << 10
)

// JWT authenticates "Authorization: Bearer <jwt>".
//
// The algorithm is pinned before any key is chosen: the token's "alg" must
// be allowed, an HS256 token is only checked against the shared secret and
// any other only against a JWKS key of the matching kind (and, if the JWK
// names an "alg", that one). So an RS256 public key can never serve as an
// HMAC secret, "none" never verifies, and a JWK cannot be used for an
// algorithm it was not published for.
type JWT struct {
	secret   sensitive.String
	keys     *keySet // nil without a JWKS
	issuer   string
	audience string
	allowed  []string
	leeway   time.Duration
	lifetime time.Duration
	now      func() time.Time
	cache    *tokenCache // see jwtcache.go
}

// NewJWT checks opts and, when keys are remote, fetches them (after OIDC
// discovery if OIDCIssuer is set); it fails if they cannot be fetched. ctx
// bounds those fetches and the life of the hourly JWKS refresh, so pass the
// server's context, not a request's.
func NewJWT(ctx context.Context, opts JWTOptions) (*JWT, error) {
	if opts.Issuer == "" {
		opts.Issuer = opts.OIDCIssuer
	}
	if opts.Leeway == 0 {
		opts.Leeway = defaultLeeway
	}
	if opts.MaxLifetime == 0 {
		opts.MaxLifetime = DefaultMaxLifetime
	}
	remote := opts.JWKSURL != "" || opts.OIDCIssuer != ""
	if opts.Algorithms == nil {
		if remote {
			opts.Algorithms = []string{"RS256", "ES256", "EdDSA"}
		}
		if !opts.HS256Secret.IsZero() {
			opts.Algorithms = append(opts.Algorithms, "HS256")
		}
	}
	if err := opts.check(remote); err != nil {
		return nil, err
	}
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: fetchTimeout}
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	j := &JWT{
		secret:   opts.HS256Secret,
		issuer:   opts.Issuer,
		audience: opts.Audience,
		allowed:  slices.Clone(opts.Algorithms),
		leeway:   opts.Leeway,
		lifetime: opts.MaxLifetime,
		now:      opts.Now,
		cache:    newTokenCache(),
	}
	if j.now == nil {
		j.now = time.Now
	}
	if remote {
		jwksURL := opts.JWKSURL
		if opts.OIDCIssuer != "" {
			var err error
			if jwksURL, err = discover(ctx, client, opts.OIDCIssuer); err != nil {
				return nil, err
			}
		}
		ks, err := newKeySet(ctx, jwksURL, client, logger)
		if err != nil {
			return nil, err
		}
		j.keys = ks
	}
	return j, nil
}

// check returns every problem with opts at once.
func (o JWTOptions) check(remote bool) error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf("jwt: "+format, args...)) }
	secret := !o.HS256Secret.IsZero()
	if o.Issuer == "" {
		add("issuer is required")
	}
	if o.OIDCIssuer != "" && o.Issuer != o.OIDCIssuer {
		add("issuer %q differs from the OIDC issuer %q", o.Issuer, o.OIDCIssuer)
	}
	if o.Audience == "" {
		add("audience is required")
	}
	if secret && len(o.HS256Secret.Reveal()) < minSecretLen {
		add("the HS256 secret must be at least %d bytes", minSecretLen)
	}
	switch {
	case o.JWKSURL != "" && o.OIDCIssuer != "":
		add("set a JWKS URL or an OIDC issuer, not both")
	case !remote && !secret:
		add("no keys: set an HS256 secret, a JWKS URL or an OIDC issuer")
	}
	for name, u := range map[string]string{"JWKS URL": o.JWKSURL, "OIDC issuer": o.OIDCIssuer} {
		if u != "" {
			if err := checkKeyURL(u); err != nil {
				add("%s: %v", name, err)
			}
		}
	}
	if o.Leeway < 0 || o.Leeway > maxLeeway {
		add("leeway must be between 0 and %s (got %s)", maxLeeway, o.Leeway)
	}
	if o.MaxLifetime < 0 {
		add("max lifetime must not be negative (got %s)", o.MaxLifetime)
	}
	if len(o.Algorithms) == 0 {
		add("no algorithms allowed")
	}
	for _, alg := range o.Algorithms {
		_, asym := asymmetric[alg]
		switch {
		case alg == "HS256" && !secret:
			add("algorithm HS256 needs an HS256 secret")
		case asym && !remote:
			add("algorithm %s needs a JWKS URL or an OIDC issuer", alg)
		case alg != "HS256" && !asym:
			add("algorithm %q is not supported", alg)
		}
	}
	return errors.Join(errs...)
}

// Name returns "jwt".
func (*JWT) Name() string { return "jwt" }

// claims are the claims Gatekeeper reads; others are ignored.
type claims struct {
	jwt.RegisteredClaims
	Scope  string   `json:"scope,omitempty"`  // space-separated (RFC 8693)
	Scopes []string `json:"scopes,omitempty"` // array, as some IdPs send
}

// Authenticate checks a bearer JWT. A bearer value that is not JWT-shaped
// is ErrNoCredential (it may be an API key); once it is JWT-shaped, every
// problem is a refusal.
func (j *JWT) Authenticate(r *http.Request) (*Identity, error) {
	token, err := bearerToken(r, "jwt")
	if err != nil {
		return nil, err
	}
	if !jwtShaped(token) {
		return nil, ErrNoCredential
	}
	if len(token) > maxTokenLen {
		return nil, refuse("jwt: token too large")
	}
	sum := sha256.Sum256([]byte(token))
	if id, ok := j.cache.lookup(r.Context(), sum, j.now(), j.keys); ok {
		return id, nil
	}
	h, err := readHeader(token)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(j.allowed, h.alg) {
		return nil, refuse("jwt: algorithm not allowed")
	}
	var (
		c    claims
		used any // the key that verified the signature
	)
	keyfunc := j.keyfunc(r.Context(), h)
	_, err = jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (k any, err error) {
		k, err = keyfunc(t)
		used = k
		return k, err
	},
		jwt.WithValidMethods([]string{h.alg}), // the alg checked above, and only it
		jwt.WithStrictDecoding(),
		jwt.WithoutClaimsValidation(), // done by check, for precise reasons
	)
	if err != nil {
		return nil, parseRefusal(err)
	}
	if err := checkClaimNames(token); err != nil {
		return nil, err
	}
	if err := j.check(&c); err != nil {
		return nil, err
	}
	scopes, err := tokenScopes(&c)
	if err != nil {
		return nil, err
	}
	id := Identity{
		Agent:   c.Subject,
		Method:  "jwt",
		Subject: c.Subject,
		Scopes:  scopes,
		Expires: c.ExpiresAt.Time,
	}
	switch key := used.(type) {
	case []byte: // the HS256 secret
		j.cache.store(sum, verifiedToken{id: id, expires: id.Expires}, j.now())
	case jwt.VerificationKeySet: // no kid: not cached (see jwtcache.go)
	default: // the JWKS key its kid names
		j.cache.store(sum, verifiedToken{id: id, expires: id.Expires, key: key, alg: h.alg, kid: h.kid}, j.now())
	}
	out := id
	out.Scopes = slices.Clone(scopes)
	return &out, nil
}

// keyfunc returns the one key source the pinned algorithm may use.
func (j *JWT) keyfunc(ctx context.Context, h header) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		switch {
		case t.Method.Alg() != h.alg: // cannot happen: WithValidMethods
			return nil, refuse("jwt: algorithm not allowed")
		case h.alg == "HS256" && !j.secret.IsZero():
			return []byte(j.secret.Reveal()), nil
		case h.alg != "HS256" && j.keys != nil:
			return j.keys.key(ctx, h.alg, h.kid)
		}
		return nil, refuse("jwt: algorithm not allowed")
	}
}

// header holds the JOSE header fields read before verification.
type header struct{ alg, kid string }

// readHeader reads the header with exact (case-sensitive) member names, as
// the jwt package does, so both agree on which "alg" the token names.
func readHeader(token string) (header, error) {
	seg, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	var fields map[string]json.RawMessage
	if err != nil || json.Unmarshal(raw, &fields) != nil {
		return header{}, refuse("jwt: malformed")
	}
	if _, ok := fields["crit"]; ok {
		// RFC 7515 §4.1.11: extensions we do not implement must not be
		// ignored; none are implemented.
		return header{}, refuse("jwt: unsupported critical header")
	}
	var h header
	if json.Unmarshal(fields["alg"], &h.alg) != nil || h.alg == "" {
		return header{}, refuse("jwt: malformed")
	}
	if kid, ok := fields["kid"]; ok && json.Unmarshal(kid, &h.kid) != nil {
		return header{}, refuse("jwt: malformed")
	}
	return h, nil
}

// claimNames are the claims the claims struct reads.
var claimNames = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "scopes"}

// checkClaimNames refuses a token whose claims hold a name that differs
// from one Gatekeeper reads only in case ("Sub", "EXP", "ſub"). Claim
// names are case-sensitive (RFC 7519 §4), but encoding/json fills a struct
// field from a case-insensitive match too, the last one winning: in
// {"sub":"alice","Sub":"bob"} the subject would be bob, so a claim the
// issuer never meant as the subject (a custom, user-set one) could name the
// agent. Found by FuzzJWTClaims.
func checkClaimNames(token string) error {
	_, rest, _ := strings.Cut(token, ".")
	seg, _, _ := strings.Cut(rest, ".")
	raw, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	var fields map[string]json.RawMessage
	if err != nil || json.Unmarshal(raw, &fields) != nil {
		return refuse("jwt: malformed")
	}
	for name := range fields {
		for _, c := range claimNames {
			if name != c && strings.EqualFold(name, c) {
				return refuse("jwt: claim names must match exactly (they are case-sensitive)")
			}
		}
	}
	return nil
}

// parseRefusal turns a jwt parse error into a refusal without its text,
// which may quote parts of the token.
func parseRefusal(err error) error {
	var r *refusal
	switch {
	case errors.As(err, &r):
		return r
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return refuse("jwt: bad signature")
	case errors.Is(err, jwt.ErrTokenMalformed):
		return refuse("jwt: malformed")
	}
	return refuse("jwt: unverifiable")
}

// lastDate is 9999-12-31T23:59:59Z in seconds: no honest token names a
// later (or an earlier than 1970) exp, nbf or iat.
const lastDate = 253402300799

// inRange reports whether d is absent or a date between 1970 and 9999. A
// NumericDate out of that range is not one time.Time can compare: the
// library turns nbf 1E20 into a time whose Add(-leeway) wraps around into
// the past, so such a token was taken as valid already. Found by
// FuzzJWTClaims.
func inRange(d *jwt.NumericDate) bool {
	return d == nil || d.Unix() >= 0 && d.Unix() <= lastDate
}

// check validates the claims of a token whose signature is good. exp is
// required and bounded: a token that never expires, or expires in months,
// is a standing credential.
func (j *JWT) check(c *claims) error {
	now := j.now()
	switch {
	case c.Issuer != j.issuer:
		return refuse("jwt: wrong issuer")
	case !slices.ContainsFunc(c.Audience, func(a string) bool { return a != "" }):
		return refuse("jwt: missing audience")
	case !slices.Contains(c.Audience, j.audience):
		return refuse("jwt: wrong audience")
	case c.ExpiresAt == nil:
		return refuse("jwt: missing exp")
	case !inRange(c.ExpiresAt) || !inRange(c.NotBefore) || !inRange(c.IssuedAt):
		return refuse("jwt: exp, nbf or iat out of range")
	case !now.Before(c.ExpiresAt.Add(j.leeway)):
		return refuse("jwt: expired")
	case c.NotBefore != nil && now.Before(c.NotBefore.Add(-j.leeway)):
		return refuse("jwt: not valid yet")
	case c.IssuedAt != nil && now.Before(c.IssuedAt.Add(-j.leeway)):
		return refuse("jwt: issued in the future")
	case c.IssuedAt != nil && c.ExpiresAt.Sub(c.IssuedAt.Time) > j.lifetime:
		return refuse("jwt: lifetime (exp - iat) longer than the maximum")
	case c.IssuedAt == nil && c.ExpiresAt.Sub(now) > j.lifetime:
		return refuse("jwt: exp further away than the maximum lifetime")
	case c.Subject == "":
		return refuse("jwt: missing sub")
	case !ValidAgent(c.Subject):
		return refuse("jwt: sub is not a valid agent name")
	}
	return nil
}

// tokenScopes merges "scope" and "scopes", in order, without repeats.
func tokenScopes(c *claims) ([]string, error) {
	var out []string
	for _, s := range slices.Concat(strings.Fields(c.Scope), c.Scopes) {
		if !validScope(s) {
			return nil, refuse("jwt: malformed scopes")
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}
