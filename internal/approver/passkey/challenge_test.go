package passkey

import (
	"bytes"
	"testing"
	"time"
)

func TestChallenge(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	exp := time.Unix(1_800_000_000, 0)
	raw := issueChallenge(key, "apr_1", "digest", approve, exp)
	if len(raw) != challengeSize {
		t.Fatalf("challenge is %d bytes, want %d", len(raw), challengeSize)
	}
	if raw2 := issueChallenge(key, "apr_1", "digest", approve, exp); bytes.Equal(raw[:nonceSize], raw2[:nonceSize]) {
		t.Fatal("two challenges for the same answer have the same nonce: it is not random")
	}
	ch, ok := openChallenge(key, raw, "apr_1", "digest")
	if !ok || ch.decision != approve || !ch.expires.Equal(exp) || ch.nonce != string(raw[:nonceSize]) {
		t.Fatalf("openChallenge = %+v, %v", ch, ok)
	}
	if ch, ok := openChallenge(key, issueChallenge(key, "apr_1", "digest", deny, exp), "apr_1", "digest"); !ok || ch.decision != deny {
		t.Fatalf("deny challenge opens as %+v, %v", ch, ok)
	}
	flipped := func(i int) []byte {
		b := bytes.Clone(raw)
		b[i] ^= 1
		return b
	}
	for _, tc := range []struct {
		name       string
		key, raw   []byte
		id, digest string
	}{
		{"fail/other-key", bytes.Repeat([]byte{8}, 32), raw, "apr_1", "digest"},
		{"fail/other-request", key, raw, "apr_2", "digest"},
		{"fail/changed-digest", key, raw, "apr_1", "digest2"},
		// Length prefixes: moving bytes between fields changes the MAC.
		{"fail/shifted-field", key, raw, "apr_1d", "igest"},
		{"fail/altered-nonce", key, flipped(0), "apr_1", "digest"},
		{"fail/altered-expiry", key, flipped(nonceSize + 7), "apr_1", "digest"},
		{"fail/altered-decision", key, flipped(nonceSize + 8), "apr_1", "digest"},
		{"fail/altered-tag", key, flipped(challengeSize - 1), "apr_1", "digest"},
		{"fail/truncated", key, raw[:challengeSize-1], "apr_1", "digest"},
		{"fail/empty", key, nil, "apr_1", "digest"},
	} {
		if ch, ok := openChallenge(tc.key, tc.raw, tc.id, tc.digest); ok {
			t.Errorf("%s: openChallenge = %+v, true", tc.name, ch)
		}
	}
}

func FuzzOpenChallenge(f *testing.F) {
	key := bytes.Repeat([]byte{7}, 32)
	f.Add(issueChallenge(key, "apr_1", "digest", deny, time.Unix(1_800_000_000, 0)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		ch, ok := openChallenge(key, raw, "apr_1", "digest")
		if ok && (len(raw) != challengeSize || (ch.decision != approve && ch.decision != deny)) {
			t.Errorf("openChallenge(%x) = %+v, true", raw, ch)
		}
	})
}

func FuzzParseDecision(f *testing.F) {
	for _, s := range []string{"approve", "deny", "", "Approve", "approve\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseDecision(s)
		if ok != (s == "approve" || s == "deny") || (ok && string(d) != s) {
			t.Errorf("parseDecision(%q) = %q, %v", s, d, ok)
		}
	})
}
