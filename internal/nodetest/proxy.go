package nodetest

import (
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"
)

// AuthProxy starts a reverse proxy on 127.0.0.1 that sets header to value on
// every request and forwards it to target, and returns the proxy's URL for
// target: same path and query, the proxy's host. It is for clients that
// cannot send an auth header, such as the conformance CLI.
//
// It is otherwise transparent: Host and Origin reach the server exactly as
// the client sent them (the dns-rebinding-protection scenario sends hostile
// ones that the server must see and refuse), no X-Forwarded-* headers are
// added, and responses are flushed as they arrive so SSE streams work. The
// proxy closes at test cleanup.
func AuthProxy(t testing.TB, target string, header, value string) (proxyURL string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		t.Fatalf("nodetest: AuthProxy target %q is not an absolute URL", target)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil // never via $HTTP_PROXY
	transport.ResponseHeaderTimeout = 30 * time.Second

	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme = u.Scheme
			r.Out.URL.Host = u.Host
			r.Out.Host = r.In.Host // Rewrite would otherwise send target's host
			r.Out.Header.Set(header, value)
		},
		Transport:     transport,
		FlushInterval: -1,
		ErrorLog:      log.New(testWriter{t}, "nodetest: AuthProxy: ", 0),
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("nodetest: AuthProxy: %v", err)
	}
	srv := httptest.NewUnstartedServer(proxy)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Config.ReadHeaderTimeout = 10 * time.Second
	srv.Config.IdleTimeout = time.Minute
	srv.Start()
	t.Cleanup(func() {
		srv.CloseClientConnections() // SSE streams a client left open
		srv.Close()
		transport.CloseIdleConnections()
	})

	out := *u
	out.Host = ln.Addr().String()
	return out.String()
}

// testWriter sends a logger's lines to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
