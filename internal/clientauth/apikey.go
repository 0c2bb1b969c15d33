package clientauth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode"
)

// APIKey configures one key. Only its hash is configured, so a config file
// or a memory dump gives nobody a working key; keys are random 256-bit
// values (NewKey), for which a plain SHA-256 is enough — a slow password
// hash guards guessable secrets, and these are not guessable.
type APIKey struct {
	ID      string   // names the key in audit records; never the key
	Agent   string   // the principal the key authenticates as
	SHA256  string   // hex of sha256(key), as HashKey returns it
	Scopes  []string // what the key allows
	Revoked bool     // a revoked key is refused, and said to be revoked
}

// APIKeys authenticates "X-API-Key: <key>" or "Authorization: Bearer <key>".
type APIKeys struct {
	keys []apiKey
}

type apiKey struct {
	APIKey
	hash [sha256.Size]byte
}

// keyPrefix marks Gatekeeper's keys, so that secret scanners and humans
// can tell one from other random strings.
const keyPrefix = "gk_"

// maxKeyLen bounds what is hashed; NewKey's keys are 46 bytes.
const maxKeyLen = 1024

// NewAPIKeys checks keys and returns every problem at once.
func NewAPIKeys(keys []APIKey) (*APIKeys, error) {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(keys) == 0 {
		add("api keys: none configured")
	}
	ids := map[string]bool{}
	hashes := map[[sha256.Size]byte]string{}
	out := make([]apiKey, 0, len(keys))
	for i, k := range keys {
		where := fmt.Sprintf("api key %d %q", i, k.ID)
		if !validKeyID(k.ID) {
			add("%s: id must be 1-128 printable characters without spaces", where)
		} else if ids[k.ID] {
			add("%s: id used twice", where)
		}
		ids[k.ID] = true
		if !ValidAgent(k.Agent) {
			add("%s: agent %q is not a valid agent name", where, k.Agent)
		}
		for _, s := range k.Scopes {
			if !validScope(s) {
				add("%s: scope %q is empty or holds a space", where, s)
			}
		}
		var h [sha256.Size]byte
		raw, err := hex.DecodeString(k.SHA256)
		if err != nil || len(raw) != sha256.Size {
			add("%s: sha256 must be 64 hex digits (the key's hash, never the key)", where)
			continue
		}
		copy(h[:], raw)
		if other, dup := hashes[h]; dup {
			add("%s: same hash as api key %q", where, other)
		}
		hashes[h] = k.ID
		k.Scopes = slices.Clone(k.Scopes)
		out = append(out, apiKey{APIKey: k, hash: h})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &APIKeys{keys: out}, nil
}

// Name returns "api_key".
func (*APIKeys) Name() string { return "api_key" }

// Authenticate looks the presented key up by its hash.
//
// The hash is compared with every configured hash in constant time, and the
// loop never stops early, so the time taken says nothing about whether or
// where a key matched. Comparing hashes rather than keys also means the
// length of the presented key leaks nothing about the real one.
func (k *APIKeys) Authenticate(r *http.Request) (*Identity, error) {
	key, err := presentedKey(r)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(key))
	found := -1
	for i := range k.keys {
		eq := subtle.ConstantTimeCompare(sum[:], k.keys[i].hash[:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 {
		return nil, refuse("api_key: unknown key")
	}
	c := k.keys[found]
	if c.Revoked {
		return nil, refuse("api_key: revoked")
	}
	return &Identity{
		Agent:   c.Agent,
		Method:  "api_key",
		Subject: c.ID,
		Scopes:  slices.Clone(c.Scopes),
	}, nil
}

// presentedKey finds the key in X-API-Key or in a Bearer header. A Bearer
// value shaped like a JWT is not an API key: it is left to the JWT method.
// A key in both headers is refused rather than one of them picked.
func presentedKey(r *http.Request) (string, error) {
	header := r.Header.Values("X-API-Key")
	bearer, err := bearerToken(r, "api_key")
	switch {
	case errors.Is(err, ErrNoCredential) || err == nil && jwtShaped(bearer):
		bearer = ""
	case err != nil:
		return "", err
	}
	var key string
	switch {
	case len(header) > 1 || len(header) == 1 && bearer != "":
		return "", refuse("api_key: several keys presented")
	case len(header) == 1:
		key = header[0]
	case bearer != "":
		key = bearer
	default:
		return "", ErrNoCredential
	}
	switch {
	case key == "":
		return "", refuse("api_key: empty key")
	case len(key) > maxKeyLen:
		return "", refuse("api_key: key too long")
	}
	return key, nil
}

// HashKey returns the hex SHA-256 of key: what APIKey.SHA256 holds.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// NewKey returns a new random API key: "gk_" and 32 random bytes in
// base64url. Give the key to the agent and configure only HashKey(key).
func NewKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating an API key: %w", err)
	}
	return keyPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// validKeyID keeps key ids plain enough to print in audit records and logs.
func validKeyID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if c > unicode.MaxASCII || !unicode.IsPrint(c) || c == ' ' {
			return false
		}
	}
	return true
}

// validScope reports whether s can be one scope: scopes travel as a
// space-separated list in JWTs, so a scope with a space in it would split.
func validScope(s string) bool {
	return s != "" && !strings.ContainsFunc(s, unicode.IsSpace)
}
