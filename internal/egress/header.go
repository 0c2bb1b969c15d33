package egress

import (
	"fmt"
	"net/http"
	"strings"
)

// Bounds of the headers an agent sets.
const (
	MaxHeaders        = 32
	maxHeaderValueLen = 8 << 10
)

// forbiddenHeaders are set by Gatekeeper's transport, or change how the
// request is framed or routed: an agent setting them could smuggle a second
// request, reach another virtual host than the allowlist checked, or turn
// off the transport's own decompression (Accept-Encoding), which lets the
// redactor see the plain body.
var forbiddenHeaders = []string{
	"Accept-Encoding", "Connection", "Content-Length", "Expect", "Host", "Keep-Alive",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// CheckHeaderName refuses a name that is not an HTTP token, or one the
// agent may not set. Names are not secret and may be quoted.
func CheckHeaderName(name string) error {
	if name == "" || len(name) > 256 {
		return fmt.Errorf("%w: a header name must be 1 to 256 characters", ErrInvalidHeader)
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return fmt.Errorf("%w: %q is not a valid header name", ErrInvalidHeader, name)
		}
	}
	canon := http.CanonicalHeaderKey(name)
	for _, f := range forbiddenHeaders {
		if canon == f {
			return fmt.Errorf("%w: %s is set by Gatekeeper, not by you", ErrInvalidHeader, canon)
		}
	}
	if strings.HasPrefix(canon, "Proxy-") {
		return fmt.Errorf("%w: Proxy-* headers are not sent", ErrInvalidHeader)
	}
	return nil
}

// checkHeaderValue refuses a value that could end the header: CR, LF, NUL
// or any other control character but tab. The error names the header,
// never the value, which may hold a secret.
func checkHeaderValue(name, v string) error {
	if len(v) > maxHeaderValueLen {
		return fmt.Errorf("%w: the value of %s is longer than %d bytes", ErrInvalidHeader, name, maxHeaderValueLen)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return fmt.Errorf("%w: the value of %s holds a line break or control character", ErrInvalidHeader, name)
		}
	}
	return nil
}

func isTokenChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// checkHeaders checks every header of a request.
func checkHeaders(h http.Header) error {
	if len(h) > MaxHeaders {
		return fmt.Errorf("%w: more than %d headers", ErrInvalidHeader, MaxHeaders)
	}
	for name, values := range h {
		if err := CheckHeaderName(name); err != nil {
			return err
		}
		if len(values) != 1 {
			return fmt.Errorf("%w: %s is given %d times", ErrInvalidHeader, name, len(values))
		}
		if err := checkHeaderValue(name, values[0]); err != nil {
			return err
		}
	}
	return nil
}
