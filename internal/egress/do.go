package egress

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
)

// hop is one request of a chain of redirects.
type hop struct {
	method string
	t      target
	header http.Header
	body   []byte
}

// Do sends r for agent and returns the response. Before any connection it
// checks what Check checks; then it resolves the host once, refuses the
// request if any address the name resolves to is one the destination may
// not reach, and connects to exactly the addresses it checked (so a DNS
// answer that changes between check and use changes nothing). Redirects
// are followed only within the allowlist, each hop checked like the first,
// at most MaxRedirects. The whole exchange is bounded by the timeout; a
// response larger than the limit is refused and none of it returned.
func (c *Client) Do(ctx context.Context, agent string, r Request) (*Response, error) {
	t, _, err := c.check(agent, r)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cur := hop{method: r.Method, t: t, header: r.Header.Clone(), body: r.Body}
	if cur.header == nil {
		cur.header = http.Header{}
	}
	pinned := map[string][]netip.Addr{} // each host is resolved once per request
	for redirects := 0; ; redirects++ {
		d, err := c.match(agent, cur.method, cur.t)
		if err != nil {
			if redirects > 0 {
				return nil, fmt.Errorf("%w: a redirect led off the allowlist: %w", ErrRedirect, err)
			}
			return nil, err
		}
		addrs, err := c.addresses(ctx, cur.t, d.conf.AllowPrivate, pinned)
		if err != nil {
			return nil, err
		}
		resp, err := c.roundTrip(ctx, cur, addrs)
		if err != nil {
			return nil, err
		}
		// The origin is an allowed destination's: it holds no secret.
		c.logger.DebugContext(ctx, "http_request answered", "origin", cur.t.origin(), "method", cur.method, "status", resp.StatusCode, "redirects", redirects)
		if loc := resp.Header.Get("Location"); isRedirect(resp.StatusCode) && loc != "" {
			_ = resp.Body.Close()
			if redirects == MaxRedirects {
				return nil, fmt.Errorf("%w: more than %d redirects", ErrRedirect, MaxRedirects)
			}
			if cur, err = next(cur, resp.StatusCode, loc, r); err != nil {
				return nil, err
			}
			continue
		}
		body, err := c.readBody(ctx, resp, cur.t)
		if err != nil {
			return nil, err
		}
		return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body, Redirects: redirects, Origin: cur.t.origin()}, nil
	}
}

// addresses returns where t's host may be reached: the IP literal itself,
// or every address the name resolves to, each checked. One refused
// address refuses them all: an answer that mixes public and internal
// addresses is how rebinding attacks start.
func (c *Client) addresses(ctx context.Context, t target, allowPrivate bool, pinned map[string][]netip.Addr) ([]netip.Addr, error) {
	addrs, ok := pinned[t.host]
	if !ok {
		if t.ip.IsValid() {
			addrs = []netip.Addr{t.ip}
		} else {
			var err error
			if addrs, err = c.resolve(ctx, t.host); err != nil {
				return nil, netError(ctx, err, t.origin(), c.timeout)
			}
			if len(addrs) == 0 {
				return nil, fmt.Errorf("%w: the host of %s does not resolve", ErrUnreachable, t.origin())
			}
		}
		pinned[t.host] = addrs
	}
	for _, a := range addrs {
		if err := reachable(t, a, allowPrivate); err != nil {
			return nil, err
		}
	}
	return addrs, nil
}

// reachable refuses an address of t's host that the destination may not
// reach.
func reachable(t target, a netip.Addr, allowPrivate bool) error {
	switch rc, what := classify(a); {
	case rc == never, rc == private && !allowPrivate:
		via := ""
		if !t.ip.IsValid() {
			via = " (through DNS)"
		}
		return fmt.Errorf("%w: %s is %s%s, which this destination may not reach", ErrBlockedAddress, t.origin(), what, via)
	}
	return nil
}

// roundTrip sends one hop over a transport of its own, which can dial
// nothing but the checked addresses of this hop's host and port, uses no
// proxy, whatever the environment says, and keeps no connection.
func (c *Client) roundTrip(ctx context.Context, h hop, addrs []netip.Addr) (*http.Response, error) {
	want := h.t.dialAddr()
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, _, address string) (net.Conn, error) {
			if address != want {
				return nil, fmt.Errorf("dialing %s while sending to %s", address, want)
			}
			var errs []error
			for _, a := range addrs {
				conn, err := c.dial(ctx, "tcp", netip.AddrPortFrom(a, h.t.port).String())
				if err == nil {
					return conn, nil
				}
				errs = append(errs, err)
			}
			return nil, errors.Join(errs...)
		},
		TLSClientConfig:        &tls.Config{RootCAs: c.roots, ServerName: h.t.host, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    tlsHandshakeTimeout,
		ResponseHeaderTimeout:  c.timeout,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		DisableKeepAlives:      true,
		ForceAttemptHTTP2:      true,
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, h.method, h.t.String(), bytes.NewReader(h.body))
	if err != nil {
		return nil, fmt.Errorf("%w: building the request to %s", ErrInvalidURL, h.t.origin())
	}
	if len(h.body) == 0 {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	req.Header = h.header
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return nil, netError(ctx, err, h.t.origin(), c.timeout)
	}
	return resp, nil
}

// readBody reads the whole body, or refuses it past the limit: a response
// the model would get only part of is not returned at all.
func (c *Client) readBody(ctx context.Context, resp *http.Response, t target) ([]byte, error) {
	defer func() { _ = resp.Body.Close() }()
	if resp.ContentLength > c.maxResponse {
		return nil, fmt.Errorf("%w: the response of %s is %d bytes, more than the %d allowed", ErrTooLarge, t.origin(), resp.ContentLength, c.maxResponse)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxResponse+1))
	if int64(len(body)) > c.maxResponse {
		return nil, fmt.Errorf("%w: the response of %s is more than the %d bytes allowed", ErrTooLarge, t.origin(), c.maxResponse)
	}
	if err != nil {
		return nil, netError(ctx, err, t.origin(), c.timeout)
	}
	return body, nil
}

func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// next is the hop a redirect leads to, as a browser would follow it: 303,
// and 301/302 after a POST, become a GET without a body; 307 and 308 keep
// method and body. Headers that carry a secret, and credentials, are not
// sent to another origin, and a body that carries one is not sent there
// either. The Location is never quoted: it may echo a secret.
func next(cur hop, status int, loc string, orig Request) (hop, error) {
	ref, err := url.Parse(loc)
	if err != nil {
		return hop{}, fmt.Errorf("%w: %s redirected to a URL that does not parse", ErrRedirect, cur.t.origin())
	}
	base, err := url.Parse(cur.t.String())
	if err != nil { // cannot happen: cur was parsed before; the text could hold a secret
		return hop{}, fmt.Errorf("%w: resolving a redirect of %s", ErrRedirect, cur.t.origin())
	}
	u := base.ResolveReference(ref)
	u.Fragment, u.RawFragment = "", ""
	t, err := parseTarget(u.String())
	if err != nil {
		// Not wrapped: the reason may quote the redirect's host, which the
		// server chose and which could echo a secret.
		return hop{}, fmt.Errorf("%w: %s redirected to a URL Gatekeeper does not follow (not a canonical http(s) URL)", ErrRedirect, cur.t.origin())
	}
	n := hop{method: cur.method, t: t, header: cur.header.Clone(), body: cur.body}
	if status == http.StatusSeeOther && cur.method != "HEAD" ||
		(status == http.StatusMovedPermanently || status == http.StatusFound) && cur.method == "POST" {
		n.method, n.body = "GET", nil
		n.header.Del("Content-Type")
	}
	if t.origin() != cur.t.origin() {
		for _, name := range append([]string{"Authorization", "Cookie", "Proxy-Authorization"}, orig.SecretHeaders...) {
			n.header.Del(name)
		}
		if len(n.body) > 0 && orig.SecretBody {
			return hop{}, fmt.Errorf("%w: %s redirected to another origin with a %d, which would send the body and its secret there", ErrRedirect, cur.t.origin(), status)
		}
	}
	return n, nil
}
