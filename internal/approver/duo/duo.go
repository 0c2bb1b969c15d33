package duo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	duoapi "github.com/duosecurity/duo_api_golang"
	"github.com/duosecurity/duo_api_golang/authapi"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// Defaults.
const (
	DefaultPollEvery   = time.Second
	DefaultCallTimeout = 15 * time.Second
)

// Options configure an Approver.
type Options struct {
	// Host is the Auth API hostname, e.g. api-XXXXXXXX.duosecurity.com
	// (host[:port], no scheme).
	Host           string
	IntegrationKey string
	SecretKey      sensitive.String
	// Username is the Duo username of the human who approves for an agent;
	// "" means nobody does, and the request fails.
	Username func(access.Principal) string
	// PollEvery is the least time between the starts of two auth_status
	// calls (default 1s). The first is made at once: Duo holds it until
	// the push is answered, so this only spaces out the calls when Duo
	// answers "waiting" (after its own hold time).
	PollEvery time.Duration
	// CallTimeout bounds each HTTP call to Duo (default 15s).
	CallTimeout time.Duration
	// RootCAs replaces the CAs the official client pins for Duo's API; nil
	// keeps the pinned set. Only tests (and TLS-inspecting proxies) need it.
	RootCAs *x509.CertPool
	Logger  *slog.Logger
	Now     func() time.Time // nil means time.Now
}

// Approver asks for approvals with Duo pushes. It implements
// approver.Approver and is safe for concurrent use.
type Approver struct {
	opts Options
	// api is the official client as configured; each call works on a copy
	// whose HTTP client carries that call's context (the client itself
	// takes none).
	api       *duoapi.DuoApi
	transport *http.Transport
}

var _ approver.Approver = (*Approver)(nil)

// New checks opts and returns an Approver. It makes no call to Duo; Check does.
func New(opts Options) (*Approver, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("duo: %w", err)
	}
	if opts.PollEvery == 0 {
		opts.PollEvery = DefaultPollEvery
	}
	if opts.CallTimeout == 0 {
		opts.CallTimeout = DefaultCallTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &Approver{opts: opts}
	// The client builds the transport that pins Duo's CAs; keep it, so
	// the per-call HTTP clients reuse it (and its connections).
	a.api = duoapi.NewDuoApi(opts.IntegrationKey, opts.SecretKey.Reveal(), opts.Host, "gatekeeper",
		duoapi.SetTransport(func(tr *http.Transport) {
			if opts.RootCAs != nil {
				tr.TLSClientConfig.RootCAs = opts.RootCAs
			}
			tr.TLSClientConfig.MinVersion = tls.VersionTLS12
			tr.TLSHandshakeTimeout = 10 * time.Second
			tr.IdleConnTimeout = 90 * time.Second
			a.transport = tr
		}))
	return a, nil
}

func (o Options) validate() error {
	var errs []error
	if o.Host == "" {
		errs = append(errs, errors.New("missing Host"))
	} else if strings.ContainsAny(o.Host, "/ ") {
		errs = append(errs, fmt.Errorf("host %q: want a hostname, without scheme or path", o.Host))
	}
	if o.IntegrationKey == "" {
		errs = append(errs, errors.New("missing IntegrationKey"))
	}
	if o.SecretKey.IsZero() {
		errs = append(errs, errors.New("missing SecretKey"))
	}
	if o.Username == nil {
		errs = append(errs, errors.New("missing Username"))
	}
	if o.PollEvery < 0 || o.CallTimeout < 0 {
		errs = append(errs, errors.New("negative PollEvery or CallTimeout"))
	}
	return errors.Join(errs...)
}

// Check makes a signed call (/auth/v2/check): it fails when Duo is
// unreachable or refuses the keys or this host's clock.
func (a *Approver) Check(ctx context.Context) error {
	res, err := do(ctx, a, (*authapi.AuthApi).Check)
	if err != nil {
		return fmt.Errorf("duo check: %w", err)
	}
	return statError("check", &res.StatResult)
}

// Approve sends req to the approving human's phone and waits for the answer.
func (a *Approver) Approve(ctx context.Context, req access.Request) error {
	user := a.opts.Username(req.Principal)
	if user == "" {
		return fmt.Errorf("duo: no Duo user approves for agent %s", req.Principal)
	}
	if req.Expires.IsZero() {
		return fmt.Errorf("duo: approval %s has no expiry", req.ID)
	}
	info, err := pushInfo(approver.Describe(req))
	if err != nil {
		return fmt.Errorf("duo: approval %s: %w", req.ID, err)
	}
	left := req.Expires.Sub(a.opts.Now())
	if left <= 0 {
		return fmt.Errorf("duo: approval %s: %w before the push was sent", req.ID, access.ErrApprovalTimeout)
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, left)
	defer cancel()
	w := &wait{a: a, req: req, parent: parent, ctx: ctx, user: user}

	if err := w.preauth(); err != nil {
		return err
	}
	txid, err := w.push(info)
	if err != nil {
		return err
	}
	log := a.opts.Logger.With("approval", req.ID, "principal", string(req.Principal), "duo_user", user, "txid", txid)
	log.Info("duo push sent", "tier", req.Tier.String(), "expires", req.Expires)
	log.Debug("duo push content", "pushinfo", info)
	err = w.poll(txid)
	switch {
	case err == nil:
		log.Info("duo push approved")
	case errors.Is(err, access.ErrDenied):
		log.Info("duo push denied", "error", err)
	case errors.Is(err, access.ErrApprovalTimeout):
		log.Info("duo push timed out", "error", err)
	default:
		log.Warn("duo push failed", "error", err)
	}
	return err
}

// wait is one Approve call in progress.
type wait struct {
	a           *Approver
	req         access.Request
	parent, ctx context.Context // ctx also ends at req.Expires
	user        string
}

// preauth refuses early a user to whom no push can be sent or whose push
// nobody would answer.
func (w *wait) preauth() error {
	res, err := do(w.ctx, w.a, func(api *authapi.AuthApi) (*authapi.PreauthResult, error) {
		return api.Preauth(authapi.PreauthUsername(w.user))
	})
	if err != nil {
		return w.callError("preauth", err)
	}
	if err := statError("preauth", &res.StatResult); err != nil {
		return fmt.Errorf("duo: approval %s: %w", w.req.ID, err)
	}
	r := res.Response
	switch r.Result {
	case "auth":
		for _, d := range r.Devices {
			if slices.Contains(d.Capabilities, "push") {
				return nil
			}
		}
		return fmt.Errorf("duo: approval %s: Duo user %s has no device that accepts push", w.req.ID, w.user)
	case "enroll":
		return fmt.Errorf("duo: approval %s: Duo user %s is not enrolled (%s)", w.req.ID, w.user, r.Status_Msg)
	case "deny":
		return fmt.Errorf("duo: approval %s: Duo refuses user %s (%s)", w.req.ID, w.user, r.Status_Msg)
	case "allow":
		// Duo would allow without asking anyone: not an approval.
		return fmt.Errorf("duo: approval %s: Duo user %s bypasses two-factor (%s); Gatekeeper needs a human to answer a push", w.req.ID, w.user, r.Status_Msg)
	}
	return fmt.Errorf("duo: approval %s: unknown preauth result %q", w.req.ID, r.Result)
}

// push sends the push and returns its transaction id.
func (w *wait) push(info string) (string, error) {
	res, err := do(w.ctx, w.a, func(api *authapi.AuthApi) (*authapi.AuthResult, error) {
		return api.Auth("push",
			authapi.AuthUsername(w.user),
			authapi.AuthDevice("auto"),
			authapi.AuthAsync(),
			authapi.AuthType(title(w.req)),
			authapi.AuthPushinfo(info))
	})
	if err != nil {
		return "", w.callError("auth", err)
	}
	if err := statError("auth", &res.StatResult); err != nil {
		return "", fmt.Errorf("duo: approval %s: %w", w.req.ID, err)
	}
	if res.Response.Txid == "" {
		return "", fmt.Errorf("duo: approval %s: Duo returned no transaction id", w.req.ID)
	}
	return res.Response.Txid, nil
}

// poll asks for the push's status until it has an answer. Duo's auth_status
// long-polls: it answers when the push is answered (or, after its own hold
// time, "waiting"), so there is no wait before the first call, and the
// human's tap ends the approval at once.
func (w *wait) poll(txid string) error {
	for {
		start := time.Now()
		res, err := do(w.ctx, w.a, func(api *authapi.AuthApi) (*authapi.AuthStatusResult, error) {
			return api.AuthStatus(txid)
		})
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && w.ctx.Err() == nil {
				// Duo held the call longer than CallTimeout: ask again.
				continue
			}
			return w.callError("auth_status", err)
		}
		if err := statError("auth_status", &res.StatResult); err != nil {
			return fmt.Errorf("duo: approval %s: %w", w.req.ID, err)
		}
		r := res.Response
		// An answer that arrives after req.Expires counts for nothing.
		if w.ctx.Err() != nil || !w.a.opts.Now().Before(w.req.Expires) {
			return w.timeout()
		}
		switch {
		case r.Result == "waiting":
			if err := w.pause(start); err != nil {
				return err
			}
			continue
		case r.Result == "allow" && r.Status == "bypass":
			return fmt.Errorf("duo: approval %s: Duo allowed by bypass, without a human answering", w.req.ID)
		case r.Result == "allow":
			return nil
		case r.Result == "deny" && r.Status == "timeout":
			// Duo gave up on the push; nobody said no.
			return fmt.Errorf("duo: approval %s: %w: the push expired unanswered (%s)", w.req.ID, access.ErrApprovalTimeout, r.Status_Msg)
		case r.Result == "deny":
			return fmt.Errorf("duo: approval %s: %w (Duo status %q: %s)", w.req.ID, access.ErrDenied, r.Status, r.Status_Msg)
		}
		return fmt.Errorf("duo: approval %s: unknown auth_status result %q", w.req.ID, r.Result)
	}
}

// pause waits until PollEvery has passed since start, or ctx ends.
func (w *wait) pause(start time.Time) error {
	d := w.a.opts.PollEvery - time.Since(start)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-w.ctx.Done():
		return w.timeout()
	}
}

// timeout is the error once ctx has ended: the request expired, or the
// caller gave up.
func (w *wait) timeout() error {
	why := "the request expired unanswered"
	if w.parent.Err() != nil {
		why = "the wait was cancelled"
	}
	return fmt.Errorf("duo: approval %s: %w: %s", w.req.ID, access.ErrApprovalTimeout, why)
}

// callError classifies a failed HTTP call: one cut short by ctx is a
// timeout, anything else means Duo could not be asked.
func (w *wait) callError(op string, err error) error {
	if w.ctx.Err() != nil {
		return w.timeout()
	}
	return fmt.Errorf("duo %s: approval %s: %w", op, w.req.ID, err)
}
