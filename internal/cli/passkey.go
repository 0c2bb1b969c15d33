package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/passkey"
	"github.com/gatekeeper-mcp/gatekeeper/internal/config"
)

// newPasskey builds the passkey approver and the server of its page, on its
// own listener (loopback unless TLS is configured), opened now so that a
// bad address fails at start.
func newPasskey(cfg config.Config, logger *slog.Logger) (approver.Approver, background, check, error) {
	p := cfg.Approval.Passkey
	ln, err := net.Listen("tcp", p.Listen)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("listening on %s: %w", p.Listen, err)
	}
	scheme := "http"
	if p.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(p.TLSCertFile, p.TLSKeyFile)
		if err != nil {
			ln.Close()
			return nil, nil, nil, fmt.Errorf("loading the approval page's TLS certificate: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	public := p.PublicURL
	if public == "" {
		// WebAuthn needs a secure context: localhost is one, 127.0.0.1 is not.
		public = fmt.Sprintf("%s://localhost:%d", scheme, ln.Addr().(*net.TCPAddr).Port)
	}
	u, _ := url.Parse(public) // validated with the configuration
	rpID := p.RPID
	if rpID == "" {
		rpID = u.Hostname()
	}
	store, err := passkey.NewFileStore(p.CredentialsFile)
	if err != nil {
		ln.Close()
		return nil, nil, nil, err
	}
	var notify func(context.Context, string, access.Request)
	if n := cfg.Approval.Notify; n.WebhookURL != "" {
		notify = (&passkey.Webhook{URL: n.WebhookURL, Kind: n.Kind, Logger: logger}).Notify
	}
	ap, err := passkey.New(passkey.Options{
		RPID:        rpID,
		RPOrigins:   []string{u.Scheme + "://" + u.Host},
		RPName:      "Gatekeeper",
		Store:       store,
		EnrollToken: cfg.PasskeyEnrollToken,
		Notify:      notify,
		BaseURL:     public,
		Logger:      logger,
	})
	if err != nil {
		ln.Close()
		return nil, nil, nil, err
	}
	srv := &http.Server{
		Handler:           ap.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("passkey approval page", "url", public, "register", public+"/register")
	run := func(ctx context.Context) error {
		if err := serveUntil(ctx, srv, ln); err != nil {
			return fmt.Errorf("the approval page: %w", err)
		}
		return nil
	}
	// Ready once the operator has registered a passkey to answer with.
	ready := func(ctx context.Context) error {
		creds, err := store.Credentials(ctx)
		if err == nil && len(creds) == 0 {
			err = fmt.Errorf("no passkey registered yet: open %s/register with the enroll token", public)
		}
		return err
	}
	return ap, run, ready, nil
}

// certPool reads a PEM bundle; "" means nil (the default roots).
func certPool(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the CA bundle %s holds no PEM certificate", path)
	}
	return pool, nil
}
