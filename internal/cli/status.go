package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/config"
	"github.com/gatekeeper-mcp/gatekeeper/internal/statuspage"
)

// statusEvents is how many audit events the status page shows.
const statusEvents = 100

// statusFeed is the status page's share of the audit stream: a recorder
// that keeps the last events. Both are nil when the page is off.
func statusFeed(cfg config.Config) (*statuspage.Recent, []access.Recorder) {
	if !cfg.StatusEnabled() {
		return nil, nil
	}
	r := statuspage.NewRecent(statusEvents)
	return r, []access.Recorder{r}
}

// startStatusPage serves the operator's status page on its own listener
// (loopback unless TLS is configured, like the approval page), opened now
// so that a bad address fails at start. It runs until ctx ends or stop is
// called; stop waits for it. Off (stop does nothing) without an operator
// token. reload, if set, is the page's Reload button.
func startStatusPage(ctx context.Context, cfg config.Config, c *core, recent *statuspage.Recent, reload func(context.Context) error, stdout io.Writer) (stop func(), err error) {
	if !cfg.StatusEnabled() {
		return func() {}, nil
	}
	st := cfg.Status
	ln, scheme, err := listen("the status page", st.Listen, st.TLSCertFile, st.TLSKeyFile)
	if err != nil {
		return nil, err
	}
	origins := statusOrigins(st.PublicURL, scheme, ln.Addr().(*net.TCPAddr))
	page, err := statuspage.New(statuspage.Options{
		Access:        c.access,
		OperatorToken: st.OperatorToken,
		Origins:       origins,
		Secure:        scheme == "https",
		Recent:        recent,
		ApprovalLink:  c.pages.Link,
		Audit:         c.audit,
		SessionTTL:    st.SessionTTL,
		Reload:        reload,
		Logger:        c.logger.With("component", "status"),
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	srv := pageServer(page.Handler(), c.logger)
	c.logger.Info("status page", "url", origins[0])
	fmt.Fprintf(stdout, "gatekeeper: status page on %s\n", origins[0])

	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := serveUntil(sctx, srv, ln); err != nil {
			c.logger.Error("the status page stopped", "err", err)
		}
	}()
	return sync.OnceFunc(func() { cancel(); <-done }), nil
}

// statusOrigins are the origins the operator's browser may use: the public
// URL's, or else the loopback listener's own, under its address and under
// localhost.
func statusOrigins(public, scheme string, addr *net.TCPAddr) []string {
	if public != "" {
		u, _ := url.Parse(public) // validated with the configuration
		return []string{u.Scheme + "://" + u.Host}
	}
	port := strconv.Itoa(addr.Port)
	origins := []string{scheme + "://" + net.JoinHostPort(addr.IP.String(), port)}
	if addr.IP.IsLoopback() {
		origins = append(origins, scheme+"://"+net.JoinHostPort("localhost", port))
	}
	return origins
}

// serveUntil serves on ln until ctx ends, then shuts down gracefully.
func serveUntil(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
