package access

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrHiddenText: text the human is shown to approve a request holds a
// character that would show them something other than what was asked.
var ErrHiddenText = errors.New("text shown to the approver has a hidden or control character")

// Misleading reports whether r would change how the text around it looks
// or hide itself when a Duo push, a chat message, a terminal or a web page
// renders it: control characters (C0, C1), format characters (bidi
// embeddings, overrides and isolates, zero-width spaces and joiners, the
// byte order mark, word joiners, ...), the line and paragraph separators,
// private-use and surrogate code points, and the replacement of invalid
// UTF-8.
func Misleading(r rune) bool {
	return r == utf8.RuneError || unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs, unicode.Zl, unicode.Zp)
}

// checkShown refuses text an approver shows the human (a reason, the
// triggering call, a path) if it holds a misleading character, naming the
// first one by its code point.
func checkShown(field, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrHiddenText, field)
	}
	for i, r := range s {
		if Misleading(r) {
			return fmt.Errorf("%w: %s has %U at byte %d; use plain text", ErrHiddenText, field, r, i+1)
		}
	}
	return nil
}

// checkRequest checks everything an approval request shows that its caller
// chose.
func checkRequest(reason, trigger string, paths []string) error {
	if err := checkShown("reason", reason); err != nil {
		return err
	}
	if err := checkShown("the triggering call", trigger); err != nil {
		return err
	}
	for _, p := range paths {
		if err := checkShown("a path", p); err != nil {
			return err
		}
	}
	return nil
}

// Visible returns s with every misleading character written as an escape
// (\u202E, \U000E0041), so that whoever reads it sees each one. Every
// place that shows a request to a human uses it, on top of the refusal at
// the access model: a request read back from shared state, or a name from
// a credential, is shown as it is.
func Visible(s string) string {
	if strings.IndexFunc(s, Misleading) < 0 && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02X`, s[0])
		case r > 0xFFFF && Misleading(r):
			fmt.Fprintf(&b, `\U%08X`, r)
		case Misleading(r):
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteString(s[:n])
		}
		s = s[n:]
	}
	return b.String()
}
