package egress_test

import (
	"compress/gzip"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/egress"
	"github.com/gatekeeper-mcp/gatekeeper/internal/egress/egresstest"
)

// TestAttackURLs runs every URL of the corpus: each is refused with its
// class, by Check and by Do, and not one DNS lookup or connection is made.
func TestAttackURLs(t *testing.T) {
	n := egresstest.NewNet(map[string][]netip.Addr{})
	c, err := egress.New(egress.Options{Destinations: egresstest.Destinations(t), Resolve: n.Resolve, Dial: n.Dial})
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range egresstest.URLs(t) {
		t.Run(fmt.Sprintf("fail/%03d", i+1), func(t *testing.T) {
			r := egress.Request{Method: "GET", URL: tc.URL}
			if err := c.Check("ci", r); !errors.Is(err, tc.Want) {
				t.Errorf("Check(%q) = %v, want %v", tc.URL, err, tc.Want)
			}
			resp, err := c.Do(t.Context(), "ci", r)
			if !errors.Is(err, tc.Want) || resp != nil {
				t.Errorf("Do(%q) = %v, %v; want %v", tc.URL, resp, err, tc.Want)
			}
		})
	}
	if n.Lookups() != 0 || n.Dials() != 0 {
		t.Errorf("%d lookups and %d dials for requests that were all refused", n.Lookups(), n.Dials())
	}
}

// TestAttackDNS: names that pass every check before DNS and resolve to an
// address the destination may not reach are refused after the one lookup,
// before any connection.
func TestAttackDNS(t *testing.T) {
	cases := egresstest.DNS(t)
	answers := map[string][]netip.Addr{}
	var dests []egress.Destination
	for _, tc := range cases {
		answers[tc.Host] = tc.Addrs
		dests = append(dests, egress.Destination{URL: "https://" + tc.Host + "/"})
	}
	n := egresstest.NewNet(answers)
	c, err := egress.New(egress.Options{Destinations: dests, Resolve: n.Resolve, Dial: n.Dial})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run("fail/"+tc.Host, func(t *testing.T) {
			before := n.Lookups()
			resp, err := c.Do(t.Context(), "ci", egress.Request{Method: "GET", URL: "https://" + tc.Host + "/x"})
			if !errors.Is(err, egress.ErrBlockedAddress) || resp != nil {
				t.Errorf("Do = %v, %v; want ErrBlockedAddress", resp, err)
			}
			if got := n.Lookups() - before; got != 1 {
				t.Errorf("%d lookups, want 1", got)
			}
		})
	}
	if n.Dials() != 0 {
		t.Errorf("%d dials for requests that were all refused", n.Dials())
	}
}

// counted is a real TLS server that counts the connections it accepts.
type counted struct {
	*httptest.Server
	conns atomic.Int64
}

func newCounted(t *testing.T, h http.Handler) *counted {
	t.Helper()
	c := &counted{Server: httptest.NewUnstartedServer(h)}
	c.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes the tests make fail on purpose
	c.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.conns.Add(1)
		}
	}
	c.StartTLS()
	t.Cleanup(c.Close)
	return c
}

func roots(srv *httptest.Server) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(srv.Certificate())
	return p
}

// TestAttackRedirects: an allowed destination that redirects off the
// allowlist, to an internal address, or to a URL with any trick is not
// followed; the other listener never sees a connection.
func TestAttackRedirects(t *testing.T) {
	cases := egresstest.Redirects(t)
	other := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("reached")) }))
	var self *counted
	self = newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var i int
		_, _ = fmt.Sscanf(r.URL.Query().Get("case"), "%d", &i)
		loc := strings.NewReplacer("{other}", other.Listener.Addr().String(), "{self}", self.Listener.Addr().String()).Replace(cases[i].Location)
		w.Header().Set("Location", loc)
		w.WriteHeader(cases[i].Status)
	}))
	n := egresstest.NewNet(nil)
	c, err := egress.New(egress.Options{
		Destinations: []egress.Destination{{URL: self.URL + "/api/", Methods: []string{"GET", "POST"}, AllowPrivate: true}},
		RootCAs:      roots(self.Server), Resolve: n.Resolve, Dial: n.Dial,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("fail/%02d-%d", i, tc.Status), func(t *testing.T) {
			before := n.Dials()
			resp, err := c.Do(t.Context(), "ci", egress.Request{Method: "GET", URL: fmt.Sprintf("%s/api/start?case=%d", self.URL, i)})
			if !errors.Is(err, egress.ErrRedirect) || resp != nil {
				t.Errorf("Location %q: Do = %v, %v; want ErrRedirect", tc.Location, resp, err)
			}
			if got := n.Dials() - before; got != 1 {
				t.Errorf("Location %q: %d dials, want 1 (the allowed destination only)", tc.Location, got)
			}
		})
	}
	if got := other.conns.Load(); got != 0 {
		t.Errorf("the other listener accepted %d connections", got)
	}
	if n.Lookups() != 0 {
		t.Errorf("%d DNS lookups", n.Lookups())
	}
}

// TestAttackOversized: a response larger than the limit, by its
// Content-Length, as it streams, or once decompressed, is refused and none
// of it returned.
func TestAttackOversized(t *testing.T) {
	const limit = 4096
	srv := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/content-length":
			w.Header().Set("Content-Length", fmt.Sprint(limit+1))
			_, _ = w.Write(make([]byte, limit+1))
		case "/stream":
			for range limit/512 + 1 {
				_, _ = w.Write(make([]byte, 512))
				w.(http.Flusher).Flush()
			}
		case "/gzip-bomb":
			w.Header().Set("Content-Encoding", "gzip")
			gz := gzip.NewWriter(w)
			_, _ = gz.Write(make([]byte, 1<<20))
			_ = gz.Close()
		case "/exact":
			_, _ = w.Write(make([]byte, limit))
		case "/lying-length":
			w.Header().Set("Content-Length", "10")
			_, _ = w.Write([]byte("0123456789"))
		}
	}))
	c, err := egress.New(egress.Options{
		Destinations:     []egress.Destination{{URL: srv.URL + "/", AllowPrivate: true}},
		RootCAs:          roots(srv.Server),
		MaxResponseBytes: limit,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/content-length", "/stream", "/gzip-bomb"} {
		t.Run("fail"+path, func(t *testing.T) {
			resp, err := c.Do(t.Context(), "ci", egress.Request{Method: "GET", URL: srv.URL + path})
			if !errors.Is(err, egress.ErrTooLarge) || resp != nil {
				t.Errorf("Do(%s) = %v, %v; want ErrTooLarge and nothing returned", path, resp, err)
			}
		})
	}
	t.Run("ok/exact", func(t *testing.T) {
		resp, err := c.Do(t.Context(), "ci", egress.Request{Method: "GET", URL: srv.URL + "/exact"})
		if err != nil || len(resp.Body) != limit {
			t.Errorf("Do(/exact) = %v; want %d bytes", err, limit)
		}
	})
}
