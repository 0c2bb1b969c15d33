// Package paths validates the secret paths an agent names. Agents address
// secrets relative to their prefix; anything that could step outside it, or
// change what the request to Vault means, is refused here, before Vault is
// asked anything.
package paths

import (
	"errors"
	"fmt"
	"strings"
)

const (
	MaxLen        = 512
	MaxSegments   = 32
	MaxSegmentLen = 128
)

// ErrInvalid is the class of every error Parse returns.
var ErrInvalid = errors.New("invalid path")

// Parse checks an agent-supplied path and returns it cleaned of a trailing
// slash. With allowRoot, the empty path (the prefix itself) is accepted, as
// list_secrets needs; a secret's own path never is.
//
// Accepted: segments of ASCII letters, digits and . _ - @ + = , : joined by
// single slashes. Refused: absolute paths, "." and ".." segments, empty
// segments, percent signs (so no encoded traversal), backslashes, control
// characters, spaces, non-ASCII, glob and query characters, over-long input.
func Parse(p string, allowRoot bool) (string, error) {
	if len(p) > MaxLen {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxLen)
	}
	if strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("%w: must be relative, without a leading /", ErrInvalid)
	}
	if allowRoot {
		p = strings.TrimSuffix(p, "/")
	}
	if p == "" {
		if allowRoot {
			return "", nil
		}
		return "", fmt.Errorf("%w: empty", ErrInvalid)
	}
	segs := strings.Split(p, "/")
	if len(segs) > MaxSegments {
		return "", fmt.Errorf("%w: more than %d segments", ErrInvalid, MaxSegments)
	}
	for i, s := range segs {
		if err := segment(s); err != nil {
			return "", fmt.Errorf("%w: segment %d %w", ErrInvalid, i+1, err)
		}
	}
	return p, nil
}

func segment(s string) error {
	switch {
	case s == "":
		return errors.New("is empty")
	case s == "." || s == "..":
		return errors.New("is a relative reference")
	case len(s) > MaxSegmentLen:
		return fmt.Errorf("is longer than %d bytes", MaxSegmentLen)
	}
	for i := 0; i < len(s); i++ {
		if !allowed(s[i]) {
			return fmt.Errorf("has a character that is not allowed at byte %d (allowed: letters, digits and . _ - @ + = , :)", i+1)
		}
	}
	return nil
}

func allowed(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("._-@+=,:", c) >= 0
}
