package access

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// spoofs are characters that would make an approver show something other
// than what was asked, with their code points as the refusal names them.
var spoofs = []struct{ r, name string }{
	{"\u202e", "U+202E"}, // right-to-left override
	{"\u202a", "U+202A"}, // left-to-right embedding
	{"\u2066", "U+2066"}, // left-to-right isolate
	{"\u2069", "U+2069"}, // pop directional isolate
	{"\u200b", "U+200B"}, // zero-width space
	{"\u200d", "U+200D"}, // zero-width joiner
	{"\u200f", "U+200F"}, // right-to-left mark
	{"\ufeff", "U+FEFF"}, // byte order mark
	{"\u2060", "U+2060"}, // word joiner
	{"\u2028", "U+2028"}, // line separator
	{"\u2029", "U+2029"}, // paragraph separator
	{"\u00ad", "U+00AD"}, // soft hyphen
	{"\u0085", "U+0085"}, // next line (C1)
	{"\n", "U+000A"},
	{"\x1b", "U+001B"},
	{"\U000e0041", "U+E0041"}, // tag character
	{"\ue000", "U+E000"},      // private use
}

func TestEscalateRefusesHiddenText(t *testing.T) {
	for _, sp := range spoofs {
		t.Run(sp.name, func(t *testing.T) {
			f := newFixture(t)
			if _, err := f.m.Authenticate(t.Context(), agent, passcode); err != nil {
				t.Fatal(err)
			}
			before := f.issuer.issueCount()
			st, err := f.m.Escalate(t.Context(), agent, "rotate the key"+sp.r+"gnirts", nil, passcode)
			if !errors.Is(err, ErrHiddenText) || !strings.Contains(err.Error(), sp.name) {
				t.Fatalf("Escalate() error = %v, want ErrHiddenText naming %s", err, sp.name)
			}
			if st.Tier != Read || f.issuer.issueCount() != before {
				t.Errorf("after the refusal: tier %v, %d approvals, want read and %d", st.Tier, f.issuer.issueCount(), before)
			}
		})
	}
	t.Run("fail/invalid-utf8", func(t *testing.T) {
		f := newFixture(t)
		if _, err := f.m.Authenticate(t.Context(), agent, passcode); err != nil {
			t.Fatal(err)
		}
		if _, err := f.m.Escalate(t.Context(), agent, "rotate \xff the key", nil, passcode); !errors.Is(err, ErrHiddenText) {
			t.Fatalf("Escalate() error = %v, want ErrHiddenText", err)
		}
	})
	t.Run("ok/plain-unicode", func(t *testing.T) {
		f := newFixture(t)
		if _, err := f.m.Authenticate(t.Context(), agent, passcode); err != nil {
			t.Fatal(err)
		}
		if _, err := f.m.Escalate(t.Context(), agent, "rotate the key — clé, ключ, 鍵, مفتاح", nil, passcode); err != nil {
			t.Fatalf("Escalate() error = %v", err)
		}
	})
}

func TestOnceRefusesHiddenText(t *testing.T) {
	f := newFixture(t)
	if _, err := f.m.Authenticate(t.Context(), agent, passcode); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Escalate(t.Context(), agent, "rotate", nil, passcode); err != nil {
		t.Fatal(err)
	}
	before := f.issuer.issueCount()
	ran := false
	err := f.m.Once(t.Context(), agent, "clean up\u202e", "destroy_secret x versions 1", []string{"x"}, passcode, func(sensitive.String) error {
		ran = true
		return nil
	})
	if !errors.Is(err, ErrHiddenText) || ran || f.issuer.issueCount() != before {
		t.Fatalf("Once() = %v, ran %v, %d approvals (want ErrHiddenText, not run, %d)", err, ran, f.issuer.issueCount(), before)
	}
}

// TestApproveRefusesHiddenTrigger: the triggering call and the paths are
// shown to the human too; approve refuses them whoever built them.
func TestApproveRefusesHiddenTrigger(t *testing.T) {
	f := newFixture(t)
	if _, err := f.m.ForRead(t.Context(), agent, "read_secret db\u2066/password"); !errors.Is(err, ErrHiddenText) {
		t.Fatalf("ForRead() error = %v, want ErrHiddenText", err)
	}
	if n := f.issuer.issueCount(); n != 0 {
		t.Errorf("approvals = %d, want 0", n)
	}
}

func TestVisible(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text, é, 鍵", "plain text, é, 鍵"},
		{"a\u202eb", `a\u202Eb`},
		{"x\u200b\ufeffy", `x\u200B\uFEFFy`},
		{"line\u2028two\nthree", `line\u2028two\u000Athree`},
		{"tag\U000e0041", `tag\U000E0041`},
		{"bad\xffbyte", `bad\xFFbyte`},
		{`already \u202E`, `already \u202E`},
	} {
		if got := Visible(tc.in); got != tc.want {
			t.Errorf("Visible(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, sp := range spoofs {
		if got := Visible("a" + sp.r + "b"); strings.Contains(got, sp.r) {
			t.Errorf("Visible keeps %s: %q", sp.name, got)
		}
	}
}

func FuzzVisible(f *testing.F) {
	for _, sp := range spoofs {
		f.Add("reason " + sp.r + " text")
	}
	f.Add("bad\xffbyte")
	f.Fuzz(func(t *testing.T, s string) {
		got := Visible(s)
		if !utf8.ValidString(got) || strings.IndexFunc(got, Misleading) >= 0 {
			t.Errorf("Visible(%q) = %q still has a misleading character", s, got)
		}
		if checkShown("reason", got) != nil {
			t.Errorf("checkShown refuses Visible(%q) = %q", s, got)
		}
		if checkShown("reason", s) == nil && got != s {
			t.Errorf("Visible changed accepted text %q to %q", s, got)
		}
	})
}
