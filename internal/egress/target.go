package egress

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// maxURLLen bounds a URL, as most servers do.
const maxURLLen = 8 << 10

// target is a URL in the one spelling Gatekeeper requests: an http(s)
// scheme, a canonical host, a numeric port, and a path and query that are
// already escaped and mean the same to every reader.
type target struct {
	scheme string
	// host is a lower-case DNS name or a canonical IP address (no brackets).
	host string
	// ip is the address when host is an IP literal.
	ip   netip.Addr
	port uint16
	// explicitPort: the URL names its port, so the Host header does too.
	explicitPort bool
	path, query  string
}

// parseTarget reads a URL and refuses everything that could make two
// readers (the allowlist, the resolver, the server) disagree on where it
// goes. The error never quotes the path or query, which may hold a secret.
func parseTarget(raw string) (target, error) {
	if len(raw) > maxURLLen {
		return target{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalidURL, maxURLLen)
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c >= 0x7f {
			return target{}, fmt.Errorf("%w: it holds a space, a control or a non-ASCII character at byte %d: percent-encode it in a path or query, and write a host in punycode (xn--…)", ErrInvalidURL, i+1)
		}
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	scheme = strings.ToLower(scheme)
	if !ok || (scheme != "https" && scheme != "http") {
		return target{}, fmt.Errorf("%w: it must start with https:// or http://", ErrInvalidURL)
	}
	if strings.Contains(rest, "#") {
		return target{}, fmt.Errorf("%w: it has a fragment (#…), which is never sent; leave it out", ErrInvalidURL)
	}
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	t := target{scheme: scheme}
	if err := t.setAuthority(rest[:end]); err != nil {
		return target{}, err
	}
	t.path, t.query, _ = strings.Cut(rest[end:], "?")
	if t.path == "" {
		t.path = "/"
	}
	if err := checkPath(t.path); err != nil {
		return target{}, fmt.Errorf("%w: the path %w", ErrInvalidURL, err)
	}
	if err := checkEscaped(t.query, "/?"); err != nil {
		return target{}, fmt.Errorf("%w: the query %w", ErrInvalidURL, err)
	}
	// Go's reading of the result must be ours, byte for byte.
	u, err := url.Parse(t.String())
	if err != nil || u.Scheme != t.scheme || u.Host != t.hostHeader() || u.EscapedPath() != t.path || u.RawQuery != t.query || u.User != nil {
		return target{}, fmt.Errorf("%w: it does not have one unambiguous reading", ErrInvalidURL)
	}
	return t, nil
}

// setAuthority reads host[:port]. No user information: a credential goes in
// a header, with a placeholder. No percent-encoding, backslash or trailing
// dot: every spelling of a host but the canonical one is refused, so the
// allowlist compares what will be resolved.
func (t *target) setAuthority(a string) error {
	switch {
	case a == "":
		return fmt.Errorf("%w: it has no host", ErrInvalidURL)
	case strings.Contains(a, "@"):
		return fmt.Errorf("%w: user information (user:password@) is not allowed; send a credential in a header with a placeholder", ErrInvalidURL)
	case strings.ContainsAny(a, "%\\"):
		return fmt.Errorf("%w: the host may not be percent-encoded or hold a backslash", ErrInvalidURL)
	}
	host, port := a, ""
	if strings.HasPrefix(a, "[") {
		i := strings.IndexByte(a, ']')
		if i < 0 {
			return fmt.Errorf("%w: an IPv6 address has no closing ]", ErrInvalidURL)
		}
		host, port = a[1:i], a[i+1:]
		if port != "" && !strings.HasPrefix(port, ":") {
			return fmt.Errorf("%w: only :port may follow an IPv6 address", ErrInvalidURL)
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() || ip.Zone() != "" || ip.String() != host {
			return fmt.Errorf("%w: %q is not an IPv6 address in canonical form (lower case, shortest, no zone)", ErrInvalidURL, host)
		}
		t.host, t.ip = host, ip
	} else {
		if strings.Count(a, ":") > 1 {
			return fmt.Errorf("%w: an IPv6 address must be in brackets", ErrInvalidURL)
		}
		if i := strings.IndexByte(a, ':'); i >= 0 {
			host, port = a[:i], a[i:]
		}
		if err := t.setHost(strings.ToLower(host)); err != nil {
			return err
		}
	}
	if port == "" {
		t.port = 443
		if t.scheme == "http" {
			t.port = 80
		}
		return nil
	}
	digits := port[1:]
	n, err := strconv.ParseUint(digits, 10, 16)
	if err != nil || n == 0 || digits[0] == '0' {
		return fmt.Errorf("%w: the port must be a number from 1 to 65535 without leading zeros", ErrInvalidURL)
	}
	t.port, t.explicitPort = uint16(n), true
	return nil
}

// setHost accepts a canonical IPv4 address or a DNS name of ASCII letters,
// digits and hyphens whose last label starts with a letter. That last rule
// refuses every other way of writing an IPv4 address that some resolver
// would accept: 127.1, 0x7f.0.0.1, 2130706433, 017700000001, 127.0.0.01.
func (t *target) setHost(h string) error {
	if ip, err := netip.ParseAddr(h); err == nil {
		if !ip.Is4() || ip.String() != h {
			return fmt.Errorf("%w: %q is not a canonical IPv4 address", ErrInvalidURL, h)
		}
		t.host, t.ip = h, ip
		return nil
	}
	if err := checkDNSName(h); err != nil {
		return fmt.Errorf("%w: the host %w", ErrInvalidURL, err)
	}
	t.host = h
	return nil
}

func checkDNSName(h string) error {
	switch {
	case strings.HasSuffix(h, "."):
		return errors.New("may not end in a dot")
	case len(h) > 253:
		return errors.New("is longer than 253 characters")
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("%q is not a DNS name (labels of 1 to 63 letters, digits and inner hyphens)", h)
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return fmt.Errorf("%q is not a DNS name of ASCII letters, digits and hyphens (write an international name in punycode)", h)
			}
		}
	}
	if last := labels[len(labels)-1]; last[0] < 'a' || last[0] > 'z' {
		return fmt.Errorf("%q is neither a canonical IP address nor a DNS name (its last label must start with a letter)", h)
	}
	return nil
}

// checkPath accepts an escaped absolute path without dot segments and empty
// segments in any spelling: "/a/../b", "/a/%2e%2e/b" and "/a/..%2fb" could
// each be read as leaving a path prefix by some server.
func checkPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return errors.New("must start with /")
	}
	if err := checkEscaped(p, "/"); err != nil {
		return err
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		if s == "" && i != len(segs)-1 {
			return errors.New("has an empty segment (//)")
		}
		dec, _ := url.PathUnescape(s) // checked by checkEscaped
		for piece := range strings.FieldsFuncSeq(dec, func(r rune) bool { return r == '/' || r == '\\' }) {
			if piece == "." || piece == ".." {
				return errors.New("has a dot segment (. or .., in any spelling)")
			}
		}
		if dec == "." || dec == ".." {
			return errors.New("has a dot segment (. or .., in any spelling)")
		}
	}
	return nil
}

// checkEscaped accepts RFC 3986 path characters, extra, and valid
// percent-escapes of anything but a control character: an escaped CR, LF
// or NUL is a line break or a string end to a server that unescapes.
func checkEscaped(s, extra string) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return fmt.Errorf("has an invalid percent-escape at byte %d", i+1)
			}
			if d := unhex(s[i+1])<<4 | unhex(s[i+2]); d < ' ' || d == 0x7f {
				return fmt.Errorf("has an escaped control character at byte %d", i+1)
			}
			i += 2
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			strings.IndexByte("-._~!$&'()*+,;=:@", c) >= 0, strings.IndexByte(extra, c) >= 0:
		default:
			return fmt.Errorf("has a character that must be percent-encoded at byte %d", i+1)
		}
	}
	return nil
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// hostHeader is host[:port] as the URL and the Host header carry it.
func (t target) hostHeader() string {
	h := t.host
	if t.ip.Is6() {
		h = "[" + h + "]"
	}
	if t.explicitPort {
		h += ":" + strconv.Itoa(int(t.port))
	}
	return h
}

// dialAddr is host:port as the transport asks to dial it.
func (t target) dialAddr() string { return net.JoinHostPort(t.host, strconv.Itoa(int(t.port))) }

// Origin is scheme://host:port, always with the port: what errors and the
// audit log name. It holds no secret (placeholders cannot stand there).
func (t target) origin() string {
	h := t.host
	if t.ip.Is6() {
		h = "[" + h + "]"
	}
	return t.scheme + "://" + h + ":" + strconv.Itoa(int(t.port))
}

// String is the whole URL. It may hold secret values: it goes to the
// request and nowhere else.
func (t target) String() string {
	s := t.scheme + "://" + t.hostHeader() + t.path
	if t.query != "" {
		s += "?" + t.query
	}
	return s
}

// Origin returns scheme://host:port of a URL, for the audit log and
// messages, or "" if the URL does not parse.
func Origin(raw string) string {
	t, err := parseTarget(raw)
	if err != nil {
		return ""
	}
	return t.origin()
}
