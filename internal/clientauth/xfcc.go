package clientauth

import (
	"errors"
	"strings"
)

// The X-Forwarded-Client-Cert header, in Envoy's format:
//
//	By=spiffe://proxy;Hash=…;Subject="CN=alice,O=acme";URI=spiffe://td/agent/alice,Hash=…
//
// Elements are separated by ',' and describe one client certificate each;
// an element's pairs are separated by ';'. A value holding ',', ';' or '='
// is double-quoted, and inside quotes a backslash escapes the next
// character. Envoy does not otherwise escape a Subject: it is the RFC 4514
// (RFC 2253) string OpenSSL prints, whose own backslash escapes (\, \" \\)
// are kept in the value and undone by commonName. Keeping them there is
// what stops a subject like O=x\,CN=alice from reading as CN=alice.
//
// The parser is strict — no spaces around separators, no empty elements, a
// quote only at the start of a value — because anything it does not
// understand is refused, never guessed at.

var errXFCC = errors.New("malformed identity header")

// xfccPair is one key=value of an element. Values are kept raw (quotes
// removed, escapes kept).
type xfccPair struct{ key, value string }

// xfccElement is the identity one proxy hop saw.
type xfccElement []xfccPair

// parseXFCC splits a header value into elements.
func parseXFCC(s string) ([]xfccElement, error) {
	var (
		out []xfccElement
		cur xfccElement
		i   int
	)
	for {
		start := i
		for i < len(s) && keyChar(s[i]) {
			i++
		}
		if i == start || i == len(s) || s[i] != '=' {
			return nil, errXFCC
		}
		key := s[start:i]
		i++
		var value string
		if i < len(s) && s[i] == '"' {
			i++
			start = i
			for i < len(s) && s[i] != '"' {
				if s[i] == '\\' {
					i++ // the escaped character cannot end the value
				}
				i++
			}
			if i >= len(s) {
				return nil, errXFCC // unterminated
			}
			value = s[start:i]
			i++ // closing quote
		} else {
			start = i
			for i < len(s) && s[i] != ';' && s[i] != ',' {
				if s[i] == '"' {
					return nil, errXFCC
				}
				i++
			}
			value = s[start:i]
		}
		cur = append(cur, xfccPair{key: key, value: value})
		if i == len(s) {
			return append(out, cur), nil
		}
		switch s[i] {
		case ';':
		case ',':
			out, cur = append(out, cur), nil
		default:
			return nil, errXFCC // text after a closing quote
		}
		i++
		if i == len(s) {
			return nil, errXFCC // trailing separator
		}
	}
}

func keyChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// certNames is what identifies a client certificate: its URI SANs and its
// subject's common name.
type certNames struct {
	uris []string
	cn   string
}

// names reads an element's URI and Subject. URI and DNS (and By) may repeat
// — Envoy writes one pair per SAN, and "URI=" with an empty value when
// there is none — but a second Subject, Hash, Cert or Chain is refused: two
// claims about one certificate cannot both be true.
func (e xfccElement) names() (certNames, error) {
	var (
		n    certNames
		seen = map[string]bool{}
	)
	for _, p := range e {
		key := strings.ToLower(p.key)
		switch key {
		case "uri":
			if p.value != "" {
				n.uris = append(n.uris, p.value)
			}
		case "by", "dns":
		case "subject", "hash", "cert", "chain":
			if seen[key] {
				return certNames{}, errXFCC
			}
			seen[key] = true
			if key == "subject" {
				cn, err := commonName(p.value)
				if err != nil {
					return certNames{}, err
				}
				n.cn = cn
			}
		}
	}
	return n, nil
}

// commonName returns the CN of an RFC 4514 distinguished name ("" when it
// has none) with escapes undone. A name with several CNs is refused, as is
// anything it cannot read exactly: quoted values, bad escapes, empty types.
func commonName(dn string) (string, error) {
	var (
		cn    string
		found bool
		i     int
	)
	for i < len(dn) {
		eq := strings.IndexByte(dn[i:], '=')
		if eq < 0 {
			return "", errXFCC
		}
		typ := strings.TrimSpace(dn[i : i+eq])
		i += eq + 1
		var v strings.Builder
		for i < len(dn) && dn[i] != ',' && dn[i] != '+' {
			c := dn[i]
			switch {
			case c == '"':
				return "", errXFCC
			case c != '\\':
				v.WriteByte(c)
				i++
			case i+1 < len(dn) && strings.IndexByte(`,+"\<>;= #`, dn[i+1]) >= 0:
				v.WriteByte(dn[i+1])
				i += 2
			case i+2 < len(dn) && hexDigit(dn[i+1]) && hexDigit(dn[i+2]):
				v.WriteByte(unhex(dn[i+1])<<4 | unhex(dn[i+2]))
				i += 3
			default:
				return "", errXFCC
			}
		}
		if typ == "" || strings.ContainsAny(typ, "\\\"") {
			return "", errXFCC
		}
		if strings.EqualFold(typ, "CN") || typ == "2.5.4.3" {
			if found {
				return "", errXFCC
			}
			cn, found = v.String(), true
		}
		if i < len(dn) {
			i++ // ',' or '+'
			if i == len(dn) {
				return "", errXFCC
			}
		}
	}
	return cn, nil
}

func hexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
