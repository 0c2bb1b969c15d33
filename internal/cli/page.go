package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/page"
	"github.com/gatekeeper-mcp/gatekeeper/internal/config"
)

// approvalPage is the approval listener: every pending approval's page
// (and passkey registration), on a listener of its own, opened now so
// that a bad address fails at start.
type approvalPage struct {
	*page.Server
	run background
	// abandon closes the listener of a page that will never run.
	abandon func()
}

// newApprovalPage opens the page's listener. Over stdio, each link is also
// announced on stderr, the one place the user of a stdio server may look.
func newApprovalPage(cfg config.Config, stdio bool, stderr io.Writer, logger *slog.Logger) (*approvalPage, error) {
	p := cfg.ApprovalPage()
	ln, scheme, err := listen("the approval page", p.Listen, p.TLSCertFile, p.TLSKeyFile)
	if err != nil {
		return nil, err
	}
	public := p.PublicURL
	if public == "" {
		// WebAuthn needs a secure context: localhost is one, 127.0.0.1 is not.
		public = fmt.Sprintf("%s://localhost:%d", scheme, ln.Addr().(*net.TCPAddr).Port)
	}
	opts := page.Options{BaseURL: public, Logger: logger}
	if n := cfg.Approval.Notify; n.WebhookURL != "" {
		opts.Notify = (&page.Webhook{URL: n.WebhookURL, Kind: n.Kind, Logger: logger}).Notify
	}
	if stdio {
		opts.Announce = func(link string, req access.Request) {
			fmt.Fprintf(stderr, "gatekeeper: %s asks for %s access (request %s, digest %s). Answer it at %s\n",
				access.Visible(string(req.Principal)), req.Tier, req.ID, approver.ShortDigest(req.Digest), link)
		}
	}
	pages, err := page.New(opts)
	if err != nil {
		ln.Close()
		return nil, err
	}
	srv := pageServer(pages.Handler(), logger)
	logger.Info("approval page", "url", public)
	run := func(ctx context.Context) error {
		if err := serveUntil(ctx, srv, ln); err != nil {
			return fmt.Errorf("the approval page: %w", err)
		}
		return nil
	}
	return &approvalPage{Server: pages, run: run, abandon: func() { ln.Close() }}, nil
}

// listen opens a page's listener, with TLS when a certificate is given,
// and says its scheme.
func listen(what, addr, certFile, keyFile string) (net.Listener, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("%s: listening on %s: %w", what, addr, err)
	}
	if certFile == "" {
		return ln, "http", nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		ln.Close()
		return nil, "", fmt.Errorf("%s: loading the TLS certificate: %w", what, err)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), "https", nil
}

// pageServer serves a page a human opens (the approval page, the status
// page), every timeout set; the write timeout is above what any of their
// requests waits for (a code's verdict 20s, a revocation 20s).
func pageServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}
