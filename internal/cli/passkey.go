package cli

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/url"
	"os"

	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/page"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/passkey"
	"github.com/gatekeeper-mcp/gatekeeper/internal/config"
)

// newPasskey builds the passkey approver on the approval page, which then
// also serves registration.
func newPasskey(cfg config.Config, pages *page.Server, logger *slog.Logger) (approver.Approver, check, error) {
	public := pages.BaseURL()
	u, _ := url.Parse(public) // validated by page.New
	rpID := cfg.Approval.Passkey.RPID
	if rpID == "" {
		rpID = u.Hostname()
	}
	store, err := passkey.NewFileStore(cfg.Approval.Passkey.CredentialsFile)
	if err != nil {
		return nil, nil, err
	}
	ap, err := passkey.New(passkey.Options{
		RPID:        rpID,
		RPOrigins:   []string{u.Scheme + "://" + u.Host},
		RPName:      "Gatekeeper",
		Store:       store,
		EnrollToken: cfg.PasskeyEnrollToken,
		Pages:       pages,
		Logger:      logger,
	})
	if err != nil {
		return nil, nil, err
	}
	pages.UsePasskey(ap, ap.Handler())
	logger.Info("passkey registration", "url", public+"/register")
	return ap, passkeyReady(store, public), nil
}

// passkeyReady: ready once the operator has registered a passkey to answer
// with.
func passkeyReady(store *passkey.FileStore, public string) check {
	return func(ctx context.Context) error {
		creds, err := store.Credentials(ctx)
		if err == nil && len(creds) == 0 {
			err = fmt.Errorf("no passkey registered yet: open %s/register with the enroll token", public)
		}
		return err
	}
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
