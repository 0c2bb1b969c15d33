package passkey

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
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
	// Notify tells the human that a request waits at link. It runs in its
	// own goroutine and its ctx ends when the request does. May be nil.
	// Approve also hands the link to approver.ShowLink.
	Notify func(ctx context.Context, link string, req access.Request)
	// BaseURL is where links point, e.g. "https://gatekeeper.example.com/passkey"
	// when Handler is mounted under /passkey; RPOrigins[0] if empty.
	BaseURL string
	Now     func() time.Time
	Logger  *slog.Logger
}

const (
	// maxBody bounds every POST body; an assertion or attestation is a few KiB.
	maxBody = 64 << 10
	// challengeTTL bounds a challenge (never beyond its request's Expires)
	// and a registration session.
	challengeTTL = 5 * time.Minute
	// maxChallenges outstanding per request: someone reloading the page
	// many times drops the oldest instead of growing memory.
	maxChallenges = 8
	// maxRegistrations outstanding at once; each needed the enroll token.
	maxRegistrations = 16
	// Answered requests are remembered so that their page can say what
	// happened, for keepAnswered and up to maxAnswered of them.
	keepAnswered = 24 * time.Hour
	maxAnswered  = 1024
	// minEnrollToken is the shortest enroll token accepted: it is compared
	// in constant time but guessed online, so it must be long.
	minEnrollToken = 16
)

// validID is what a request id may be: one path segment, safe in a link.
var validID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// Approver asks a human to approve or deny a request on a web page, with a
// passkey or security key registered beforehand. It implements
// approver.Approver; Handler serves the pages.
type Approver struct {
	opts   Options
	wa     *webauthn.WebAuthn
	log    *slog.Logger
	now    func() time.Time
	enroll string // hex SHA-256 of the enroll token, "" when registration is off
	base   string

	mu       sync.Mutex
	pending  map[string]*pendingRequest
	answered map[string]answer
	regs     map[string]*registration

	// credMu serializes everything that reads a credential and writes it
	// back (sign counter, spending the enroll token), so two answers signed
	// at once cannot both pass the counter check.
	credMu sync.Mutex
}

var _ approver.Approver = (*Approver)(nil)

// outcome is how a request ended.
type outcome int

const (
	approved outcome = iota + 1
	denied
	expired
	withdrawn // the caller stopped waiting
)

func (o outcome) String() string {
	switch o {
	case approved:
		return "approved"
	case denied:
		return "denied"
	case expired:
		return "expired"
	case withdrawn:
		return "withdrawn"
	}
	return "unknown"
}

// pendingRequest is a request waiting for its human.
type pendingRequest struct {
	req    access.Request
	result chan outcome // buffered; receives exactly once
	// challenges issued for this request, by their base64url form.
	challenges map[string]*challenge
}

// answer is what became of a request that is no longer pending.
type answer struct {
	req     access.Request
	outcome outcome
	at      time.Time
	key     string // the registered key's name, for approved and denied
}

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
	if !opts.EnrollToken.IsZero() && len(opts.EnrollToken.Reveal()) < minEnrollToken {
		errs = append(errs, fmt.Errorf("the enroll token must be at least %d characters", minEnrollToken))
	}
	if opts.BaseURL == "" && len(opts.RPOrigins) > 0 {
		opts.BaseURL = opts.RPOrigins[0]
	}
	if u, err := url.Parse(opts.BaseURL); opts.BaseURL != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
		errs = append(errs, fmt.Errorf("BaseURL %q is not an absolute http(s) URL", opts.BaseURL))
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
		opts:     opts,
		wa:       wa,
		log:      opts.Logger,
		now:      opts.Now,
		base:     strings.TrimRight(opts.BaseURL, "/"),
		pending:  map[string]*pendingRequest{},
		answered: map[string]answer{},
		regs:     map[string]*registration{},
	}
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

// Link is the approval page of a request.
func (a *Approver) Link(reqID string) string {
	return a.base + "/approve/" + url.PathEscape(reqID)
}

// Approve shows req on its page, notifies the human, and waits until they
// answer with a registered key, req.Expires passes or ctx ends.
func (a *Approver) Approve(ctx context.Context, req access.Request) error {
	if !validID.MatchString(req.ID) {
		return fmt.Errorf("passkey approval: request id %q is not 1-128 letters, digits, '-' or '_'", req.ID)
	}
	if req.Digest == "" || req.Expires.IsZero() {
		return fmt.Errorf("passkey approval %s: the request has no digest or no expiry", req.ID)
	}
	now := a.now()
	p := &pendingRequest{req: req, result: make(chan outcome, 1), challenges: map[string]*challenge{}}

	a.mu.Lock()
	_, isPending := a.pending[req.ID]
	_, isAnswered := a.answered[req.ID]
	if isPending || isAnswered {
		a.mu.Unlock()
		return fmt.Errorf("passkey approval %s: this request was already asked", req.ID)
	}
	if !now.Before(req.Expires) {
		a.remember(req.ID, answer{req: req, outcome: expired, at: now})
		a.mu.Unlock()
		return a.result(ctx, req, expired)
	}
	a.pending[req.ID] = p
	a.mu.Unlock()

	a.log.Info("passkey approval waiting", "request", req.ID, "principal", req.Principal, "tier", req.Tier, "expires", req.Expires)
	nctx, cancel := context.WithCancel(ctx)
	defer cancel()
	link := a.Link(req.ID)
	if a.opts.Notify != nil {
		go a.opts.Notify(nctx, link, req)
	}
	// The waiting caller may show the link too (an MCP URL elicitation).
	go approver.ShowLink(nctx, link, req)

	timer := time.NewTimer(req.Expires.Sub(now))
	defer timer.Stop()
	var o outcome
	select {
	case o = <-p.result:
	case <-timer.C:
		o, _ = a.finish(req.ID, expired, "")
	case <-ctx.Done():
		o, _ = a.finish(req.ID, withdrawn, "")
	}
	return a.result(ctx, req, o)
}

func (a *Approver) result(ctx context.Context, req access.Request, o outcome) error {
	switch o {
	case approved:
		return nil
	case denied:
		return fmt.Errorf("passkey approval %s: %w", req.ID, access.ErrDenied)
	case withdrawn:
		return fmt.Errorf("passkey approval %s: %w: %w", req.ID, access.ErrApprovalTimeout, context.Cause(ctx))
	default:
		return fmt.Errorf("passkey approval %s: no answer before %s: %w",
			req.ID, req.Expires.UTC().Format(time.RFC3339), access.ErrApprovalTimeout)
	}
}

// finish ends a pending request with o, unless it ended already (or its
// time is up, which makes o "expired"). It returns how the request ended
// and whether o is what ended it.
func (a *Approver) finish(id string, o outcome, key string) (outcome, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.pending[id]
	if p == nil {
		return a.answered[id].outcome, false
	}
	if (o == approved || o == denied) && !a.now().Before(p.req.Expires) {
		a.endLocked(p, expired, "")
		return expired, false
	}
	a.endLocked(p, o, key)
	return o, true
}

func (a *Approver) endLocked(p *pendingRequest, o outcome, key string) {
	delete(a.pending, p.req.ID)
	a.remember(p.req.ID, answer{req: p.req, outcome: o, at: a.now(), key: key})
	p.result <- o
	a.log.Info("passkey approval ended", "request", p.req.ID, "outcome", o, "key", key)
}

// remember records an ended request and forgets the oldest ones. Called
// with mu held.
func (a *Approver) remember(id string, ans answer) {
	a.answered[id] = ans
	var oldest string
	for k, v := range a.answered {
		if ans.at.Sub(v.at) > keepAnswered {
			delete(a.answered, k)
			continue
		}
		if oldest == "" || v.at.Before(a.answered[oldest].at) {
			oldest = k
		}
	}
	if len(a.answered) > maxAnswered {
		delete(a.answered, oldest)
	}
}

// lookup returns the pending request id (expiring it first if its time is
// up) or, if it is not pending, what became of it.
func (a *Approver) lookup(id string) (req access.Request, pending bool, ans answer, found bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p := a.pending[id]; p != nil {
		if a.now().Before(p.req.Expires) {
			return p.req, true, answer{}, true
		}
		a.endLocked(p, expired, "")
	}
	ans, found = a.answered[id]
	return ans.req, false, ans, found
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
