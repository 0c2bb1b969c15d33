package audit

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

func TestParseKey(t *testing.T) {
	raw := []byte("0123456789abcdef0123456789abcdef")
	tests := []struct {
		name string
		text string
		ok   bool
	}{
		{"ok", base64.StdEncoding.EncodeToString(raw) + "\n", true},
		{"ok/raw-std", base64.RawStdEncoding.EncodeToString(append(raw, 0xfb)), true},
		{"ok/url", base64.URLEncoding.EncodeToString(append(raw, 0xfb, 0xff)), true},
		{"ok/hex-text-decodes-as-base64", strings.Repeat("ab12", 16), true},
		{"fail/empty", "  \n", false},
		{"fail/short", base64.StdEncoding.EncodeToString(raw[:31]), false},
		{"fail/not-base64", "this is a passphrase, not a key!!!!!!!!!!!!!", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseKey(tt.text)
			if tt.ok {
				if err != nil || len(k.Reveal()) < MinKeyBytes {
					t.Errorf("ParseKey = %d bytes, %v", len(k.Reveal()), err)
				}
				return
			}
			if !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), "head -c 32 /dev/urandom | base64") {
				t.Errorf("ParseKey = %v, want ErrKey saying how to make a key", err)
			}
			if strings.TrimSpace(tt.text) != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.text)) {
				t.Errorf("the error shows the key text: %v", err)
			}
		})
	}
}

func TestSealThenParse(t *testing.T) {
	c := newChain(testKey(t), Head{})
	enc := []byte(`{"event":"tool.call","outcome":"ok","detail":"a \"quoted\" ,\"mac\":\"x\"}"}`)
	line, next := c.seal(nil, enc)
	r, err := ParseLine(line)
	if err != nil {
		t.Fatalf("ParseLine(%s): %v", line, err)
	}
	if r.Seq != 1 || r.Prev != Genesis || r.MAC != next.MAC || !c.check(r) {
		t.Errorf("record = %+v, head = %+v", r, next)
	}
	if !bytes.HasPrefix(line, r.Signed) || len(line)-len(r.Signed) != tailLen {
		t.Errorf("signed part is not the line up to the mac")
	}
	c.head = next
	line2, next2 := c.seal(nil, enc)
	r2, err := ParseLine(line2)
	if err != nil || r2.Seq != 2 || r2.Prev != next.MAC || next2.MAC != r2.MAC {
		t.Errorf("second record = %+v, %v", r2, err)
	}
	other := newChain(sensitive.New("another key, thirty-two bytes long"), Head{})
	if other.check(r) {
		t.Error("a record verifies under another key")
	}
}

// TestParseLineRejects runs the attack strings kept in testdata.
func TestParseLineRejects(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "bad_lines.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		if r, err := ParseLine([]byte(line)); err == nil {
			t.Errorf("ParseLine(%s) = %+v, want an error", line, r)
		}
	}
}
