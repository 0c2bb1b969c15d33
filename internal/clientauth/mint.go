package clientauth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// MintHS256 signs a token that a JWT method with the same secret, issuer
// and audience accepts: for `gatekeeper token` in development and for
// agents without an IdP. It sets iss, aud, sub, iat, nbf, exp, a random jti
// and "scope" as a space-separated string. It checks its inputs the way the
// verifier will, so it never mints a token that would only be refused later.
func MintHS256(secret sensitive.String, issuer, audience, sub string, scopes []string, ttl time.Duration, now time.Time) (string, error) {
	var errs []error
	if len(secret.Reveal()) < minSecretLen {
		errs = append(errs, fmt.Errorf("minting a JWT: the HS256 secret must be at least %d bytes", minSecretLen))
	}
	if issuer == "" || audience == "" {
		errs = append(errs, errors.New("minting a JWT: issuer and audience are required"))
	}
	if !ValidAgent(sub) {
		errs = append(errs, fmt.Errorf("minting a JWT: %q is not a valid agent name", sub))
	}
	for _, s := range scopes {
		if !validScope(s) {
			errs = append(errs, fmt.Errorf("minting a JWT: scope %q is empty or holds a space", s))
		}
	}
	if ttl <= 0 {
		errs = append(errs, errors.New("minting a JWT: ttl must be positive"))
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", fmt.Errorf("minting a JWT: %w", err)
	}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Audience:  jwt.ClaimStrings{audience},
			Subject:   sub,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			ID:        base64.RawURLEncoding.EncodeToString(jti),
		},
		Scope: strings.Join(scopes, " "),
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret.Reveal()))
	if err != nil {
		return "", fmt.Errorf("minting a JWT: %w", err)
	}
	return signed, nil
}
