package passkey

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"time"
)

// decision is what the human answers; it is part of what the key signs.
type decision string

const (
	approve decision = "approve"
	deny    decision = "deny"
)

func parseDecision(s string) (decision, bool) {
	switch d := decision(s); d {
	case approve, deny:
		return d, true
	}
	return "", false
}

// challengeDomain keeps these challenges apart from any other MAC of the
// same fields.
const challengeDomain = "gatekeeper passkey approval v2"

const (
	// nonceSize is the random part of a challenge: what makes it
	// unpredictable, as WebAuthn requires, and tells two challenges apart.
	nonceSize = 16
	// challengeSize: nonce ‖ expiry (8 bytes) ‖ decision (1) ‖ tag.
	challengeSize = nonceSize + 8 + 1 + sha256.Size
)

// decisionByte is how a decision is written into a challenge.
var decisionByte = map[decision]byte{approve: 'a', deny: 'd'}

func decisionOf(b byte) decision {
	for d, db := range decisionByte {
		if db == b {
			return d
		}
	}
	return ""
}

// challenge is one invitation to answer a request, as its bytes say:
// the server keeps nothing per challenge until it is answered (see doc.go).
type challenge struct {
	nonce    string
	expires  time.Time
	decision decision
}

// issueChallenge returns a fresh challenge for answering d to the request
// reqID with digest, valid until expires: the nonce, the expiry and the
// decision in the clear, and an HMAC under key that binds them to the
// request's id and digest.
func issueChallenge(key []byte, reqID, digest string, d decision, expires time.Time) []byte {
	raw := make([]byte, nonceSize, challengeSize)
	_, _ = rand.Read(raw) // never fails (crypto/rand since Go 1.24)
	raw = binary.BigEndian.AppendUint64(raw, uint64(expires.UnixNano()))
	raw = append(raw, decisionByte[d])
	return append(raw, challengeTag(key, raw, reqID, digest)...)
}

// openChallenge returns the challenge raw carries if this server issued it
// for the request reqID with digest; ok is false for anything else (never
// issued, another request, a changed digest, altered bytes).
func openChallenge(key, raw []byte, reqID, digest string) (challenge, bool) {
	if len(raw) != challengeSize {
		return challenge{}, false
	}
	body, tag := raw[:challengeSize-sha256.Size], raw[challengeSize-sha256.Size:]
	if !hmac.Equal(tag, challengeTag(key, body, reqID, digest)) {
		return challenge{}, false
	}
	d := decisionOf(body[len(body)-1])
	if d == "" {
		return challenge{}, false
	}
	return challenge{
		nonce:    string(body[:nonceSize]),
		expires:  time.Unix(0, int64(binary.BigEndian.Uint64(body[nonceSize:]))), //nolint:gosec // G115: our own UnixNano, under the HMAC just checked
		decision: d,
	}, true
}

// challengeTag is the HMAC-SHA256 under key of the domain, the challenge's
// clear part, the request id and its digest, each length-prefixed so that
// no two different inputs MAC the same bytes.
func challengeTag(key, body []byte, reqID, digest string) []byte {
	m := hmac.New(sha256.New, key)
	for _, field := range [][]byte{[]byte(challengeDomain), body, []byte(reqID), []byte(digest)} {
		writeField(m, field)
	}
	return m.Sum(nil)
}

func writeField(h hash.Hash, b []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b))) //nolint:gosec // G115: challenge fields are far below 4 GiB
	h.Write(n[:])
	h.Write(b)
}
