// Package egress sends HTTP(S) requests on an agent's behalf to the
// destinations an operator allowed, and nowhere else. It backs the
// http_request tool; it knows nothing of MCP, Vault or placeholders: it
// receives a request whose secrets are already substituted, and returns the
// response in clear for the caller to redact.
//
// A tool that makes requests for a model is the textbook server-side request
// forgery: a prompt injection needs only one URL to reach the cloud metadata
// service, an admin port on loopback or a host inside the network, with a
// real credential attached. So everything that can be decided from the
// request alone is refused before any DNS lookup or connection:
//
//   - The URL must be covered by a Destination allowed for the agent: the
//     same scheme, host and port, a path at or under its prefix (at a
//     segment boundary), and one of its methods.
//   - The URL must have one reading: http or https; no user information; a
//     host that is a canonical IP address or a lower-case ASCII DNS name
//     whose last label starts with a letter (so 127.1, 0x7f.0.0.1,
//     2130706433, 017700000001, percent-encoded hosts, a trailing dot,
//     fullwidth dots and other Unicode are refused; international names are
//     written in punycode); a numeric port; an escaped path without dot or
//     empty segments in any spelling; no fragment.
//   - Headers that frame or route the request (Host, Content-Length,
//     Transfer-Encoding, Connection, Upgrade, TE, Trailer, Expect,
//     Keep-Alive, Proxy-*) and Accept-Encoding are Gatekeeper's to set; no
//     name or value may hold a line break or a control character.
//   - Bodies are bounded; GET and HEAD have none.
//
// Then the host is resolved once, and every address it resolves to must be
// one the destination may reach: never a cloud metadata service
// (169.254.169.254, fd00:ec2::254, 100.100.100.200, 169.254.170.2), an
// unspecified, multicast or reserved address; loopback, private (RFC 1918,
// ULA), link-local, CGNAT and documentation ranges only for a destination
// with AllowPrivate. IPv6 spellings of IPv4 addresses (mapped, compatible,
// NAT64, 6to4) are judged as the IPv4 address. The connection goes to
// exactly the addresses checked, through a transport of the request's own
// that dials nothing else, so DNS rebinding cannot switch it; TLS verifies
// the certificate against the host name. Proxy environment variables are
// never used.
//
// Redirects are followed by hand, at most MaxRedirects, each hop checked
// like the first request, DNS included. Credentials and the headers that
// carry a secret are not sent to another origin, and a 307/308 that would
// resend a body holding a secret to another origin is refused.
//
// Time and sizes are bounded: the whole exchange by the timeout, the dial,
// the TLS handshake and the response headers by their own; response
// headers to 64 KiB; a response body larger than the limit (by its
// Content-Length or as it streams, after the transport's own
// decompression) is refused, and none of it is returned.
//
// Errors name the class (ErrNotAllowed, ErrBlockedAddress, …) and the
// origin as configured, never a path, query, header value, body or
// Location, and never the text of a network error, any of which may hold
// or echo a secret.
package egress
