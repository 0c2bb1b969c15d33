package passkey

import (
	"bytes"
	"testing"
	"time"
)

func TestBindChallenge(t *testing.T) {
	nonce := bytes.Repeat([]byte{7}, nonceSize)
	base := bindChallenge(nonce, "apr_1", "digest", approve)
	if len(base) != 32 {
		t.Fatalf("challenge is %d bytes, want 32", len(base))
	}
	if !bytes.Equal(base, bindChallenge(nonce, "apr_1", "digest", approve)) {
		t.Fatal("the same inputs give different challenges")
	}
	other := bytes.Repeat([]byte{8}, nonceSize)
	for name, c := range map[string][]byte{
		"other nonce":    bindChallenge(other, "apr_1", "digest", approve),
		"other request":  bindChallenge(nonce, "apr_2", "digest", approve),
		"other digest":   bindChallenge(nonce, "apr_1", "digest2", approve),
		"other decision": bindChallenge(nonce, "apr_1", "digest", deny),
		// Length prefixes: moving bytes between fields changes the hash.
		"shifted field": bindChallenge(nonce, "apr_1d", "igest", approve),
		"shifted nonce": bindChallenge(nonce[:nonceSize-1], "\x07apr_1", "digest", approve),
	} {
		if bytes.Equal(base, c) {
			t.Errorf("%s gives the same challenge", name)
		}
	}
}

func TestChallengeBinds(t *testing.T) {
	exp := time.Now().Add(time.Minute)
	ch, raw := newChallenge("apr_1", "digest", approve, exp)
	ch2, raw2 := newChallenge("apr_1", "digest", approve, exp)
	if bytes.Equal(raw, raw2) || bytes.Equal(ch.nonce, ch2.nonce) {
		t.Fatal("two challenges for the same answer are equal: the nonce is not random")
	}
	for _, tc := range []struct {
		name   string
		got    []byte
		id     string
		digest string
		d      decision
		want   bool
	}{
		{"ok", raw, "apr_1", "digest", approve, true},
		{"fail/other-decision", raw, "apr_1", "digest", deny, false},
		{"fail/other-request", raw, "apr_2", "digest", approve, false},
		{"fail/changed-digest", raw, "apr_1", "digest2", approve, false},
		{"fail/other-challenge", raw2, "apr_1", "digest", approve, false},
		{"fail/truncated", raw[:16], "apr_1", "digest", approve, false},
	} {
		if got := ch.binds(tc.got, tc.id, tc.digest, tc.d); got != tc.want {
			t.Errorf("%s: binds = %v, want %v", tc.name, got, tc.want)
		}
	}
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
