package egress_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/egress"
	"github.com/gatekeeper-mcp/gatekeeper/internal/egress/egresstest"
)

const token = "tok-canary-9f8e7d6c"

// seen records what a test server received.
type seen struct {
	mu   sync.Mutex
	reqs []*http.Request
	body []string
}

func (s *seen) add(r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, r)
	s.body = append(s.body, string(b))
}

func (s *seen) last() (*http.Request, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		return nil, ""
	}
	return s.reqs[len(s.reqs)-1], s.body[len(s.body)-1]
}

func TestDo(t *testing.T) {
	var got seen
	srv := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.add(r)
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Header().Set("X-Echo", r.Header.Get("Authorization"))
		_, _ = fmt.Fprintf(w, "%s %s", r.Method, r.URL.RequestURI())
	}))
	n := egresstest.NewNet(map[string][]netip.Addr{"example.com": {netip.MustParseAddr("127.0.0.1")}})
	port := srv.Listener.Addr().String()[len("127.0.0.1:"):]
	c, err := egress.New(egress.Options{
		Destinations: []egress.Destination{
			{URL: srv.URL + "/api/", Methods: []string{"GET", "POST"}, AllowPrivate: true},
			{URL: "https://example.com:" + port + "/", AllowPrivate: true},
		},
		RootCAs: roots(srv.Server), Resolve: n.Resolve, Dial: n.Dial,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"Authorization": {"Bearer " + token}}
	tests := []struct {
		name, method, url, body string
		status                  int
		want                    string
	}{
		{"ok/get", "GET", srv.URL + "/api/x?q=1", "", 200, "GET /api/x?q=1"},
		{"ok/post", "POST", srv.URL + "/api/x", `{"a":1}`, 200, "POST /api/x"},
		{"ok/by-name", "GET", "https://example.com:" + port + "/y", "", 200, "GET /y"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.Do(t.Context(), "ci", egress.Request{Method: tc.method, URL: tc.url, Header: h, Body: []byte(tc.body)})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != tc.status || string(resp.Body) != tc.want || resp.Header.Get("X-Echo") != "Bearer "+token {
				t.Errorf("Do = %d %q %v", resp.Status, resp.Body, resp.Header)
			}
			r, body := got.last()
			if body != tc.body || r.Header.Get("Accept-Encoding") != "gzip" {
				t.Errorf("server got body %q, Accept-Encoding %q", body, r.Header.Get("Accept-Encoding"))
			}
		})
	}
	if n.Lookups() != 1 {
		t.Errorf("%d lookups, want 1", n.Lookups())
	}
}

func TestDoRefusesBeforeConnecting(t *testing.T) {
	n := egresstest.NewNet(nil)
	c, err := egress.New(egress.Options{
		Destinations: []egress.Destination{{URL: "https://api.example.com/", Methods: []string{"GET", "POST"}, Agents: []string{"ci"}}},
		Resolve:      n.Resolve, Dial: n.Dial, MaxRequestBytes: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		agent string
		r     egress.Request
		want  error
	}{
		{"fail/other-agent", "builder", egress.Request{Method: "GET", URL: "https://api.example.com/"}, egress.ErrNotAllowed},
		{"fail/method", "ci", egress.Request{Method: "DELETE", URL: "https://api.example.com/"}, egress.ErrNotAllowed},
		{"fail/unknown-method", "ci", egress.Request{Method: "CONNECT", URL: "https://api.example.com/"}, egress.ErrNotAllowed},
		{"fail/lower-case-method", "ci", egress.Request{Method: "get", URL: "https://api.example.com/"}, egress.ErrNotAllowed},
		{"fail/body-on-get", "ci", egress.Request{Method: "GET", URL: "https://api.example.com/", Body: []byte("x")}, egress.ErrNotAllowed},
		{"fail/body-too-large", "ci", egress.Request{Method: "POST", URL: "https://api.example.com/", Body: []byte("01234567890")}, egress.ErrTooLarge},
		{"fail/crlf-value", "ci", egress.Request{Method: "GET", URL: "https://api.example.com/", Header: http.Header{"X-T": {token + "\r\nHost: evil"}}}, egress.ErrInvalidHeader},
		{"fail/lf-value", "ci", egress.Request{Method: "GET", URL: "https://api.example.com/", Header: http.Header{"X-T": {token + "\nb"}}}, egress.ErrInvalidHeader},
		{"fail/nul-value", "ci", egress.Request{Method: "GET", URL: "https://api.example.com/", Header: http.Header{"X-T": {token + "\x00b"}}}, egress.ErrInvalidHeader},
		{"fail/bad-name", "ci", egress.Request{Method: "GET", URL: "https://api.example.com/", Header: http.Header{"X T": {"a"}}}, egress.ErrInvalidHeader},
		{"fail/twice", "ci", egress.Request{Method: "GET", URL: "https://api.example.com/", Header: http.Header{"X-T": {"a", "b"}}}, egress.ErrInvalidHeader},
	}
	for _, name := range []string{"Host", "host", "Content-Length", "Transfer-Encoding", "Connection", "Upgrade", "TE", "Trailer", "Proxy-Authorization", "Proxy-Connection", "Accept-Encoding", "Expect", "Keep-Alive"} {
		tests = append(tests, struct {
			name  string
			agent string
			r     egress.Request
			want  error
		}{"fail/header-" + name, "ci", egress.Request{Method: "GET", URL: "https://api.example.com/", Header: http.Header{name: {"x"}}}, egress.ErrInvalidHeader})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.Do(t.Context(), tc.agent, tc.r)
			if !errors.Is(err, tc.want) || resp != nil {
				t.Errorf("Do = %v, %v; want %v", resp, err, tc.want)
			}
			for _, v := range tc.r.Header {
				if len(v[0]) > 5 && strings.Contains(err.Error(), v[0][:6]) {
					t.Errorf("error %q quotes a header value", err)
				}
			}
		})
	}
	if n.Lookups() != 0 || n.Dials() != 0 {
		t.Errorf("%d lookups, %d dials", n.Lookups(), n.Dials())
	}
}

// A redirect within the allowlist is followed; to another origin, the
// headers that carry a secret and the credentials stay behind, and a body
// that carries one is not resent.
func TestDoRedirects(t *testing.T) {
	var atB seen
	b := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		atB.add(r)
		_, _ = fmt.Fprintf(w, "B %s", r.Method)
	}))
	a := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/same":
			http.Redirect(w, r, "/api/final", http.StatusFound)
		case "/api/final":
			_, _ = fmt.Fprintf(w, "A final %s %s", r.Header.Get("X-Token"), r.Header.Get("Authorization"))
		case "/api/loop":
			http.Redirect(w, r, "/api/loop", http.StatusFound)
		default:
			status := 307
			_, _ = fmt.Sscanf(r.URL.Query().Get("status"), "%d", &status)
			http.Redirect(w, r, b.URL+"/api/b", status)
		}
	}))
	c, err := egress.New(egress.Options{
		Destinations: []egress.Destination{
			{URL: a.URL + "/api/", Methods: []string{"GET", "POST"}, AllowPrivate: true},
			{URL: b.URL + "/api/", Methods: []string{"GET", "POST"}, AllowPrivate: true},
		},
		RootCAs: roots(a.Server),
	})
	if err != nil {
		t.Fatal(err)
	}
	h := func() http.Header {
		return http.Header{"X-Token": {token}, "Authorization": {"Bearer " + token}, "X-Plain": {"kept"}}
	}
	t.Run("ok/same-origin-keeps-headers", func(t *testing.T) {
		resp, err := c.Do(t.Context(), "ci", egress.Request{Method: "GET", URL: a.URL + "/api/same", Header: h(), SecretHeaders: []string{"X-Token"}})
		if err != nil || string(resp.Body) != "A final "+token+" Bearer "+token || resp.Redirects != 1 {
			t.Errorf("Do = %v, %v", resp, err)
		}
	})
	t.Run("ok/other-origin-drops-secrets", func(t *testing.T) {
		resp, err := c.Do(t.Context(), "ci", egress.Request{Method: "GET", URL: a.URL + "/api/go", Header: h(), SecretHeaders: []string{"X-Token"}})
		if err != nil || string(resp.Body) != "B GET" {
			t.Fatalf("Do = %v, %v", resp, err)
		}
		r, _ := atB.last()
		if r.Header.Get("X-Token") != "" || r.Header.Get("Authorization") != "" || r.Header.Get("X-Plain") != "kept" {
			t.Errorf("B got headers %v", r.Header)
		}
	})
	t.Run("ok/302-post-becomes-get", func(t *testing.T) {
		resp, err := c.Do(t.Context(), "ci", egress.Request{Method: "POST", URL: a.URL + "/api/go?status=302", Body: []byte("secret-body"), SecretBody: true})
		if err != nil || string(resp.Body) != "B GET" {
			t.Fatalf("Do = %v, %v", resp, err)
		}
		if _, body := atB.last(); body != "" {
			t.Errorf("B got the body %q", body)
		}
	})
	t.Run("fail/307-would-resend-secret-body", func(t *testing.T) {
		n := len(atB.reqs)
		_, err := c.Do(t.Context(), "ci", egress.Request{Method: "POST", URL: a.URL + "/api/go?status=307", Body: []byte("secret-body"), SecretBody: true})
		if !errors.Is(err, egress.ErrRedirect) || len(atB.reqs) != n {
			t.Errorf("Do = %v; B got %d requests", err, len(atB.reqs)-n)
		}
	})
	t.Run("ok/307-plain-body-resent", func(t *testing.T) {
		resp, err := c.Do(t.Context(), "ci", egress.Request{Method: "POST", URL: a.URL + "/api/go?status=307", Body: []byte("plain")})
		if _, body := atB.last(); err != nil || string(resp.Body) != "B POST" || body != "plain" {
			t.Errorf("Do = %v, %v; B got %q", resp, err, body)
		}
	})
	t.Run("fail/loop", func(t *testing.T) {
		_, err := c.Do(t.Context(), "ci", egress.Request{Method: "GET", URL: a.URL + "/api/loop"})
		if !errors.Is(err, egress.ErrRedirect) || !strings.Contains(err.Error(), "more than 5 redirects") {
			t.Errorf("Do = %v", err)
		}
	})
}

// The host is resolved once per request: a DNS answer that changes after
// the check (rebinding) is never used, not even by a redirect to the same
// host.
func TestDoPinsTheAddress(t *testing.T) {
	srv := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/a" {
			http.Redirect(w, r, "/b", http.StatusFound)
			return
		}
		_, _ = w.Write([]byte("b"))
	}))
	port := srv.Listener.Addr().String()[len("127.0.0.1:"):]
	n := egresstest.NewNet(map[string][]netip.Addr{"example.com": {netip.MustParseAddr("127.0.0.1")}})
	resolve := func(ctx context.Context, host string) ([]netip.Addr, error) {
		a, err := n.Resolve(ctx, host)
		n.Set(host, netip.MustParseAddr("169.254.169.254")) // the next answer rebinds
		return a, err
	}
	c, err := egress.New(egress.Options{
		Destinations: []egress.Destination{{URL: "https://example.com:" + port + "/", AllowPrivate: true}},
		RootCAs:      roots(srv.Server), Resolve: resolve, Dial: n.Dial,
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(t.Context(), "ci", egress.Request{Method: "GET", URL: "https://example.com:" + port + "/a"})
	if err != nil || string(resp.Body) != "b" || n.Lookups() != 1 || n.Dials() != 2 {
		t.Errorf("Do = %v, %v; %d lookups, %d dials; want b, 1 lookup, 2 dials", resp, err, n.Lookups(), n.Dials())
	}
	// A new request asks again, and gets the rebound answer: refused.
	if _, err := c.Do(t.Context(), "ci", egress.Request{Method: "GET", URL: "https://example.com:" + port + "/a"}); !errors.Is(err, egress.ErrBlockedAddress) {
		t.Errorf("second Do = %v, want ErrBlockedAddress", err)
	}
}

// Proxy variables never route a request.
func TestDoIgnoresProxyEnvironment(t *testing.T) {
	proxy := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("proxy")) }))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("direct")) }))
	t.Cleanup(srv.Close)
	for _, v := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"} {
		t.Setenv(v, proxy.URL)
	}
	t.Setenv("NO_PROXY", "")
	c, err := egress.New(egress.Options{Destinations: []egress.Destination{{URL: srv.URL + "/", AllowPrivate: true}}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(t.Context(), "ci", egress.Request{Method: "GET", URL: srv.URL + "/"})
	if err != nil || string(resp.Body) != "direct" || proxy.conns.Load() != 0 {
		t.Errorf("Do = %v, %v; proxy saw %d connections", resp, err, proxy.conns.Load())
	}
}

func TestDoTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	c, err := egress.New(egress.Options{Destinations: []egress.Destination{{URL: srv.URL + "/", AllowPrivate: true}}, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(t.Context(), "ci", egress.Request{Method: "GET", URL: srv.URL + "/"}); !errors.Is(err, egress.ErrTimeout) {
		t.Errorf("Do = %v, want ErrTimeout", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Do(ctx, "ci", egress.Request{Method: "GET", URL: srv.URL + "/"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Do with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestDoUntrustedCertificate(t *testing.T) {
	srv := newCounted(t, http.HandlerFunc(func(_ http.ResponseWriter, _ *http.Request) {}))
	c, err := egress.New(egress.Options{Destinations: []egress.Destination{{URL: srv.URL + "/", AllowPrivate: true}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Do(t.Context(), "ci", egress.Request{Method: "GET", URL: srv.URL + "/"})
	if !errors.Is(err, egress.ErrUnreachable) || !strings.Contains(err.Error(), "trusted CA") {
		t.Errorf("Do = %v, want ErrUnreachable about the CA", err)
	}
}

func TestNew(t *testing.T) {
	_, err := egress.New(egress.Options{Destinations: []egress.Destination{
		{URL: "https://ok.example/"},
		{URL: "https://user@x.example/"},
		{URL: "https://x.example/?q=1"},
		{URL: "ftp://x.example/"},
		{URL: "https://x.example/", Methods: []string{"get", "TRACE"}},
		{URL: "https://x.example/", Agents: []string{""}},
	}, CAFile: "/nonexistent/ca.pem"})
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 6 {
		t.Fatalf("New = %v; want 6 problems", err)
	}
	c, err := egress.New(egress.Options{Destinations: []egress.Destination{
		{URL: "https://a.example/x", Agents: []string{"ci"}},
		{URL: "https://b.example", Methods: []string{"GET", "POST"}},
		{URL: "https://c.example/", Agents: []string{"builder"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"https://a.example/x (GET)", "https://b.example/ (GET, POST)"}, c.Destinations("ci")); diff != "" {
		t.Errorf("Destinations(ci) mismatch (-want +got):\n%s", diff)
	}
	if !c.Allows("ci") || !c.Allows("stdio") {
		t.Error("an agent with a destination for every agent is not allowed")
	}
	only, _ := egress.New(egress.Options{Destinations: []egress.Destination{{URL: "https://c.example/", Agents: []string{"builder"}}}})
	if only.Allows("ci") || !only.Allows("builder") {
		t.Error("Allows does not follow the destinations' agents")
	}
}
