package execsecret

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/secretuse"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// R is the marker of a secret without a name.
const R = sensitive.Redacted

func TestCaptureText(t *testing.T) {
	const secret = "Zq9#Xw2!Lp-secret"
	r := secretuse.NewRedactor([]secretuse.Secret{{Value: sensitive.New(secret)}})
	tests := []struct {
		name      string
		buf       string
		overflow  bool
		max       int
		want      string
		truncated bool
	}{
		{"ok/fits", "a" + secret, false, 100, "a" + R, false},
		{"ok/secret-across-the-cut", strings.Repeat("a", 8) + secret + "tail", false, 12, "aaaaaaaa[RED", true},
		{"ok/partial-at-capture-end", "aaa" + secret[:9], true, 100, "aaa", true},
		{"ok/partial-hex-at-capture-end", "aaa" + hex.EncodeToString([]byte(secret))[:9], true, 100, "aaa", true},
		{"ok/partial-without-overflow-is-output", "aaa" + secret[:9], false, 100, "aaa" + secret[:9], false},
		{"ok/utf8-not-split", "aé", false, 2, "a", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &capture{buf: []byte(tc.buf), overflow: tc.overflow}
			got, _, truncated := c.text(r, tc.max)
			if got != tc.want || truncated != tc.truncated {
				t.Errorf("text() = %q, %v; want %q, %v", got, truncated, tc.want, tc.truncated)
			}
		})
	}
}

func TestCaptureDrainsPastLimit(t *testing.T) {
	c := &capture{limit: 10}
	c.readFrom(bytes.NewReader(bytes.Repeat([]byte("x"), 100_000)))
	if len(c.buf) != 10 || !c.overflow {
		t.Errorf("captured %d bytes, overflow %v; want 10, true", len(c.buf), c.overflow)
	}
}
