package audit

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// MinKeyBytes is the shortest audit key accepted, after base64 decoding:
// 32 bytes, the size of an HMAC-SHA256 output (RFC 2104 advises a key no
// shorter than it; a longer one adds nothing once random).
const MinKeyBytes = 32

// MakeKey tells an operator how to make a key.
const MakeKey = "make one with: head -c 32 /dev/urandom | base64 > audit.key"

// ErrKey means an audit key is missing, not base64, or too short.
var ErrKey = errors.New("bad audit key")

// ParseKey decodes an audit key: base64 text (standard or URL alphabet,
// padded or not), surrounding space ignored, at least MinKeyBytes once
// decoded. The key text is never part of an error.
func ParseKey(text string) (sensitive.String, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return sensitive.String{}, fmt.Errorf("%w: empty (%s)", ErrKey, MakeKey)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(text)
		if err != nil {
			continue
		}
		if len(b) < MinKeyBytes {
			return sensitive.String{}, fmt.Errorf("%w: %d bytes, at least %d needed (%s)", ErrKey, len(b), MinKeyBytes, MakeKey)
		}
		return sensitive.New(string(b)), nil
	}
	return sensitive.String{}, fmt.Errorf("%w: not base64 (%s)", ErrKey, MakeKey)
}
