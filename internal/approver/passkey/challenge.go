package passkey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"hash"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
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

// challengeDomain keeps these challenges apart from any other hash of the
// same fields.
const challengeDomain = "gatekeeper passkey approval v1"

// nonceSize is the random part of a challenge: what makes it unpredictable,
// as WebAuthn requires, while the rest binds it to one answer.
const nonceSize = 32

// bindChallenge is the WebAuthn challenge for answering d to one request:
// SHA-256 over the domain, a random nonce, the request id, its digest and
// the decision, each length-prefixed so that no two different inputs hash
// the same bytes. The authenticator signs the challenge (inside
// clientDataJSON), so a signed answer names its request, the request's
// content and the decision; the nonce makes it single-use once the server
// forgets it.
func bindChallenge(nonce []byte, reqID, digest string, d decision) []byte {
	h := sha256.New()
	for _, field := range [][]byte{[]byte(challengeDomain), nonce, []byte(reqID), []byte(digest), []byte(d)} {
		writeField(h, field)
	}
	return h.Sum(nil)
}

func writeField(h hash.Hash, b []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	h.Write(n[:])
	h.Write(b)
}

// challenge is one outstanding invitation to answer a request: issued by
// begin, consumed (whatever the outcome) by the first finish that names it.
type challenge struct {
	nonce    []byte
	decision decision
	expires  time.Time
	session  webauthn.SessionData
}

// newChallenge returns a fresh challenge record and the challenge bytes
// for answering d to the request reqID with digest.
func newChallenge(reqID, digest string, d decision, expires time.Time) (*challenge, []byte) {
	nonce := make([]byte, nonceSize)
	_, _ = rand.Read(nonce) // never fails (crypto/rand since Go 1.24)
	return &challenge{nonce: nonce, decision: d, expires: expires}, bindChallenge(nonce, reqID, digest, d)
}

// binds reports whether got is this record's challenge for answering d to
// the request reqID with digest.
func (c *challenge) binds(got []byte, reqID, digest string, d decision) bool {
	want := bindChallenge(c.nonce, reqID, digest, d)
	return d == c.decision && subtle.ConstantTimeCompare(want, got) == 1
}
