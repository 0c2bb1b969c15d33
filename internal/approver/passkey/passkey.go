package passkey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/page"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// Options configure an Approver.
type Options struct {
	// RPID is the WebAuthn relying party id: the page's host name, e.g.
	// "gatekeeper.example.com" ("localhost" for a local page). Keys are
	// bound to it: changing it orphans every registered key.
	RPID string
	// RPOrigins are the origins the page is served on, e.g.
	// "https://gatekeeper.example.com:8443". Assertions from any other
	// origin are refused, and so are POSTs whose Origin header is not one
	// of them.
	RPOrigins []string
	// RPName is what the authenticator shows; "Gatekeeper" if empty.
	RPName string
	Store  CredentialStore
	// EnrollToken lets an operator register one key; empty disables
	// registration. It is spent by the first key it registers (see doc.go).
	EnrollToken sensitive.String
	// Pages shows each request on its approval page, which takes the
	// answers this Approver verifies. Required.
	Pages  *page.Server
	Now    func() time.Time
	Logger *slog.Logger
}

const (
	// challengeTTL bounds a challenge (never beyond its request's Expires)
	// and a registration session.
	challengeTTL = 5 * time.Minute
	// maxRegistrations outstanding at once; each needed the enroll token.
	maxRegistrations = 16
	// minEnrollToken is the shortest enroll token accepted: it is compared
	// in constant time but guessed online, so it must be long.
	minEnrollToken = 16
)

// Approver asks a human to approve or deny a request on its approval
// page, with a passkey or security key registered beforehand. It
// implements approver.Approver and the page's passkey ceremony; Handler
// serves the registration page.
type Approver struct {
	opts   Options
	wa     *webauthn.WebAuthn
	log    *slog.Logger
	now    func() time.Time
	enroll string // hex SHA-256 of the enroll token, "" when registration is off

	// key MACs the challenges this process issues (see doc.go).
	key []byte

	mu sync.Mutex
	// spent challenges' nonces, by request id, with their expiry.
	spent map[string]map[string]time.Time
	regs  map[string]*registration

	// credMu serializes everything that reads a credential and writes it
	// back (sign counter, spending the enroll token), so two answers signed
	// at once cannot both pass the counter check.
	credMu sync.Mutex
}

var _ approver.Approver = (*Approver)(nil)

// New returns an Approver.
func New(opts Options) (*Approver, error) {
	var errs []error
	if opts.RPID == "" {
		errs = append(errs, errors.New("RPID is required"))
	} else if err := protocol.ValidateRPID(opts.RPID); err != nil {
		errs = append(errs, fmt.Errorf("RPID %q: %w", opts.RPID, err))
	}
	if len(opts.RPOrigins) == 0 {
		errs = append(errs, errors.New("at least one RPOrigin is required"))
	}
	for _, o := range opts.RPOrigins {
		if err := checkOrigin(o); err != nil {
			errs = append(errs, err)
		}
	}
	if opts.Store == nil {
		errs = append(errs, errors.New("a credential Store is required"))
	}
	if opts.Pages == nil {
		errs = append(errs, errors.New("the approval Pages are required"))
	}
	if !opts.EnrollToken.IsZero() && len(opts.EnrollToken.Reveal()) < minEnrollToken {
		errs = append(errs, fmt.Errorf("the enroll token must be at least %d characters", minEnrollToken))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	if opts.RPName == "" {
		opts.RPName = "Gatekeeper"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          opts.RPID,
		RPDisplayName: opts.RPName,
		RPOrigins:     opts.RPOrigins,
		// Without user verification a stolen security key approves on a
		// touch; with it, the key also wants its PIN or a biometric.
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationRequired,
		},
		AttestationPreference: protocol.PreferNoAttestation,
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	a := &Approver{
		opts:  opts,
		wa:    wa,
		log:   opts.Logger,
		now:   opts.Now,
		key:   make([]byte, sha256.Size),
		spent: map[string]map[string]time.Time{},
		regs:  map[string]*registration{},
	}
	_, _ = rand.Read(a.key) // never fails (crypto/rand since Go 1.24)
	if !opts.EnrollToken.IsZero() {
		a.enroll = tokenHash(opts.EnrollToken)
	}
	return a, nil
}

// checkOrigin accepts what a browser would send as the page's Origin and
// treat as a secure context: https, or http on localhost.
func checkOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("RPOrigin %q is not an origin (scheme://host[:port])", o)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && u.Hostname() == "localhost":
	default:
		return fmt.Errorf("RPOrigin %q: browsers allow WebAuthn only on https (or http://localhost)", o)
	}
	return nil
}

func tokenHash(s sensitive.String) string {
	sum := sha256.Sum256([]byte(s.Reveal()))
	return hex.EncodeToString(sum[:])
}

// Approve shows req on its approval page and waits until the human answers
// it there with a registered key, req.Expires passes or ctx ends.
func (a *Approver) Approve(ctx context.Context, req access.Request) error {
	p, err := a.opts.Pages.Open(ctx, req, page.Ask{Kind: page.Passkey})
	if err != nil {
		return fmt.Errorf("passkey approval %s: %w", req.ID, err)
	}
	defer a.forget(req.ID)
	err = p.Finish(p.Wait(ctx))
	if ctx.Err() != nil && !errors.Is(err, access.ErrApprovalTimeout) && !errors.Is(err, access.ErrDenied) {
		// The caller stopped waiting: no answer came in time for it.
		return fmt.Errorf("passkey approval %s: %w: %w", req.ID, access.ErrApprovalTimeout, context.Cause(ctx))
	}
	return err
}

// forget drops the spent challenges of a request that ended: its page
// takes no answer any more.
func (a *Approver) forget(reqID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.spent, reqID)
}

// operator is the one WebAuthn user: every registered key belongs to
// whoever may approve. A fixed user handle keeps the credentials of one
// deployment together on an authenticator.
type operator struct{ creds []webauthn.Credential }

var operatorHandle = []byte("gatekeeper-approver")

func (operator) WebAuthnID() []byte                           { return operatorHandle }
func (operator) WebAuthnName() string                         { return "gatekeeper-approver" }
func (operator) WebAuthnDisplayName() string                  { return "Gatekeeper approver" }
func (o operator) WebAuthnCredentials() []webauthn.Credential { return o.creds }

func operatorOf(creds []Credential) operator {
	o := operator{creds: make([]webauthn.Credential, len(creds))}
	for i, c := range creds {
		o.creds[i] = c.webauthn()
	}
	return o
}

func (c Credential) webauthn() webauthn.Credential {
	transports := make([]protocol.AuthenticatorTransport, len(c.Transports))
	for i, t := range c.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID:                c.ID,
		PublicKey:         c.PublicKey,
		AttestationFormat: c.AttestationFormat,
		Transport:         transports,
		Flags: webauthn.CredentialFlags{
			UserPresent:    true,
			UserVerified:   true,
			BackupEligible: c.BackupEligible,
			BackupState:    c.BackupState,
		},
		Authenticator: webauthn.Authenticator{AAGUID: c.AAGUID, SignCount: c.SignCount},
	}
}
