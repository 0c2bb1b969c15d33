package page

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// Kind is how the human answers on a page.
type Kind int

const (
	// Code: a code field (an authenticator app's TOTP code).
	Code Kind = iota + 1
	// Elsewhere: the answer is given elsewhere (a push on a phone, a
	// terminal prompt); the page says where and shows the outcome.
	Elsewhere
	// Passkey: Approve and Deny, each signed with a registered passkey.
	Passkey
)

// Ask is what a page asks of the human.
type Ask struct {
	Kind Kind
	// Where tells the human where to answer (Elsewhere), or what else to
	// do besides typing the code (a push to approve as well).
	Where string
}

// Outcome is how a page's request ended.
type Outcome int

const (
	open Outcome = iota
	Approved
	Denied
	Expired
	Withdrawn // the caller stopped waiting
	Failed    // the approval could not be completed (Vault refused, …)
)

func (o Outcome) String() string {
	switch o {
	case open:
		return "pending"
	case Approved:
		return "approved"
	case Denied:
		return "denied"
	case Expired:
		return "expired"
	case Withdrawn:
		return "withdrawn"
	}
	return "failed"
}

// outcomeOf classifies an approval's result as its page shows it.
func outcomeOf(err error) Outcome {
	switch {
	case err == nil:
		return Approved
	case errors.Is(err, access.ErrDenied):
		return Denied
	case errors.Is(err, access.ErrApprovalTimeout), errors.Is(err, context.DeadlineExceeded):
		return Expired
	case errors.Is(err, context.Canceled):
		return Withdrawn
	}
	return Failed
}

// Pending is one request's page, from Open until Finish and remembered
// for a while after.
type Pending struct {
	s     *Server
	token string
	req   access.Request // without the passcode
	ask   Ask

	codes   chan sensitive.String // holds at most the one code being checked
	decided chan struct{}         // closed when the human decided on the page
	over    chan struct{}         // closed when the page saw the request expire
	stop    context.CancelFunc    // ends the link's delivery

	// Under s.mu.
	decision decision
	by       string // the passkey that signed the decision
	checking bool   // a code is with the approver
	attempts int
	notice   string
	changed  chan struct{} // closed and replaced on every change
	outcome  Outcome
	endedAt  time.Time
}

type decision int

const (
	undecided decision = iota
	approve
	deny
)

// Open gives req its page and sends the link on every road: the notifier,
// the waiting MCP client (approver.ShowLink) and the announcer. The caller
// must Finish it. ctx carries the client's link handler; the deliveries
// end with the page.
func (s *Server) Open(ctx context.Context, req access.Request, ask Ask) (*Pending, error) {
	switch {
	case req.ID == "" || req.Digest == "" || req.Expires.IsZero():
		return nil, fmt.Errorf("%w: %s has no id, digest or expiry", ErrBadRequest, req.ID)
	case ask.Kind < Code || ask.Kind > Passkey:
		return nil, fmt.Errorf("%w: unknown kind %d", ErrBadRequest, ask.Kind)
	case ask.Kind == Passkey && s.ceremony() == nil:
		return nil, fmt.Errorf("%w: no passkey ceremony is configured", ErrBadRequest)
	}
	if !s.now().Before(req.Expires) {
		return nil, fmt.Errorf("approval %s: expired before it was asked: %w", req.ID, access.ErrApprovalTimeout)
	}
	req.Passcode = sensitive.String{} // a page never holds one
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand since Go 1.24)
	p := &Pending{
		s: s, token: base64.RawURLEncoding.EncodeToString(b), req: req, ask: ask,
		codes: make(chan sensitive.String, 1), decided: make(chan struct{}), over: make(chan struct{}), changed: make(chan struct{}),
	}
	s.mu.Lock()
	if _, ok := s.byID[req.ID]; ok {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %s was asked already", ErrBadRequest, req.ID)
	}
	s.prune()
	s.byToken[p.token] = p
	s.byID[req.ID] = p.token
	s.open[asker{req.Principal, req.Tier}] = p
	s.mu.Unlock()

	link := s.link(p.token)
	nctx, stop := context.WithCancel(ctx)
	p.stop = stop
	s.log.Info("approval page open", "request", req.ID, "principal", req.Principal, "tier", req.Tier, "expires", req.Expires)
	if s.opts.Notify != nil {
		go s.opts.Notify(nctx, link, req)
	}
	go approver.ShowLink(nctx, approver.Link{URL: link, Answer: ask.Kind != Elsewhere}, req)
	if s.opts.Announce != nil {
		s.opts.Announce(link, req)
	}
	return p, nil
}

// Link is the page's address.
func (p *Pending) Link() string { return p.s.link(p.token) }

// Code waits for the next code the human types on the page. It returns an
// error wrapping access.ErrDenied when they press Deny, one wrapping
// access.ErrApprovalTimeout at the request's expiry, or ctx's error.
func (p *Pending) Code(ctx context.Context) (sensitive.String, error) {
	timer := time.NewTimer(p.req.Expires.Sub(p.s.now()))
	defer timer.Stop()
	select {
	case c := <-p.codes:
		return c, nil
	case <-p.decided:
		return sensitive.String{}, p.deniedErr()
	case <-timer.C:
		return sensitive.String{}, p.expiredErr()
	case <-p.over:
		return sensitive.String{}, p.expiredErr()
	case <-ctx.Done():
		return sensitive.String{}, ctx.Err()
	}
}

// Retry tells the human their code was refused, with notice, and reports
// whether they may try again.
func (p *Pending) Retry(notice string) bool {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	p.checking = false
	left := p.s.opts.MaxCodeAttempts - p.attempts
	if left > 0 {
		p.notice = fmt.Sprintf("%s %d %s left.", notice, left, plural(left, "try", "tries"))
	} else {
		p.notice = notice
	}
	p.bump()
	return left > 0
}

// Wait waits until the human decides on the page: Deny (an error wrapping
// access.ErrDenied) or, on a passkey page, a signed Approve (nil). It
// returns an error wrapping access.ErrApprovalTimeout at the request's
// expiry, or ctx's error.
func (p *Pending) Wait(ctx context.Context) error {
	timer := time.NewTimer(p.req.Expires.Sub(p.s.now()))
	defer timer.Stop()
	select {
	case <-p.decided:
		p.s.mu.Lock()
		d := p.decision
		p.s.mu.Unlock()
		if d == approve {
			return nil
		}
		return p.deniedErr()
	case <-timer.C:
		return p.expiredErr()
	case <-p.over:
		return p.expiredErr()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Decided is closed once the human decided on the page; on any page but a
// passkey's, that decision is a Deny.
func (p *Pending) Decided() <-chan struct{} { return p.decided }

// Finish ends the page with the outcome err stands for (nil: approved)
// and stops the link's delivery. It returns the approval's result: err,
// except that a Deny pressed before an approval completed wins over it,
// so the caller must then give back what it obtained. Later calls change
// nothing.
func (p *Pending) Finish(err error) error {
	defer p.stop()
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if p.ended() {
		return err
	}
	if err == nil && p.decision == deny {
		err = p.deniedErrLocked()
	}
	p.outcome, p.endedAt, p.checking = outcomeOf(err), p.s.now(), false
	if k := (asker{p.req.Principal, p.req.Tier}); p.s.open[k] == p {
		delete(p.s.open, k)
	}
	p.bump()
	p.s.log.Info("approval page closed", "outcome", p.outcome, "request", p.req.ID)
	return err
}

func (p *Pending) deniedErr() error {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return p.deniedErrLocked()
}

// deniedErrLocked is deniedErr with s.mu held.
func (p *Pending) deniedErrLocked() error {
	if p.by != "" {
		return fmt.Errorf("approval %s: %w on its page with key %q", p.req.ID, access.ErrDenied, p.by)
	}
	return fmt.Errorf("approval %s: %w on its page", p.req.ID, access.ErrDenied)
}

func (p *Pending) expiredErr() error {
	return fmt.Errorf("approval %s: no answer before %s: %w", p.req.ID, p.req.Expires.UTC().Format(time.RFC3339), access.ErrApprovalTimeout)
}

// expireLocked ends the waits of a request whose expiry the page saw
// first (the approver's timer runs on its own clock). s.mu must be held.
func (p *Pending) expireLocked() {
	select {
	case <-p.over:
	default:
		close(p.over)
	}
}

// ended reports whether Finish ran. Called with s.mu held (or on a nil
// page, which counts as ended).
func (p *Pending) ended() bool { return p == nil || p.outcome != open }

// bump wakes whoever waits for the page to change. s.mu must be held.
func (p *Pending) bump() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// decide records the human's decision on the page, once, while the request
// is open. s.mu must be held.
func (p *Pending) decide(d decision, by string) bool {
	if p.ended() || p.decision != undecided || !p.s.now().Before(p.req.Expires) {
		return false
	}
	p.decision, p.by = d, by
	close(p.decided)
	p.bump()
	return true
}

// prune forgets ended pages older than keepEnded, and the oldest beyond
// maxEnded. s.mu must be held.
func (s *Server) prune() {
	now := s.now()
	var oldest *Pending
	n := 0
	for tok, p := range s.byToken {
		if !p.ended() {
			continue
		}
		if now.Sub(p.endedAt) > keepEnded {
			s.forget(tok, p)
			continue
		}
		n++
		if oldest == nil || p.endedAt.Before(oldest.endedAt) {
			oldest = p
		}
	}
	if n >= maxEnded && oldest != nil {
		s.forget(oldest.token, oldest)
	}
}

func (s *Server) forget(tok string, p *Pending) {
	delete(s.byToken, tok)
	if s.byID[p.req.ID] == tok {
		delete(s.byID, p.req.ID)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
