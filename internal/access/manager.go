package access

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/clock"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// Issuer obtains and ends the Vault tokens behind grants.
type Issuer interface {
	// Issue asks a human to approve req and returns a token for req.Tier.
	// held is the token of the tier below (empty for Read): write access is
	// earned from read access.
	Issue(ctx context.Context, req Request, held sensitive.String) (Issued, error)
	// Revoke ends a token in Vault.
	Revoke(ctx context.Context, token sensitive.String) error
	// Check returns ErrTokenInvalid for a token Vault no longer honours.
	Check(ctx context.Context, token sensitive.String) error
}

// Recorder receives audit events. An error means the event could not be
// recorded: a decision that would grant access must then not take effect
// (audit.ErrUnavailable).
type Recorder interface {
	Record(ctx context.Context, e audit.Event) error
}

// Options configure a Manager. Issuer is required.
type Options struct {
	Issuer          Issuer
	Audit           Recorder
	Clock           clock.Clock
	Logger          *slog.Logger
	Scope           string        // the paths every grant covers, for the approver and the audit log
	ReadTTL         time.Duration // default 4h
	WriteTTL        time.Duration // default 15m
	ApprovalTimeout time.Duration // default 2m
	RevokeTimeout   time.Duration // default 10s, for revocations nobody waits on
	// PolicyFor gives a principal its own scope and TTLs; zero fields take
	// the values above. Nil: everyone gets those.
	PolicyFor func(Principal) Policy
	// DenialCooldown is how long after a human denies a request no new
	// request for that principal and tier reaches them. Default 1m;
	// negative: none.
	DenialCooldown time.Duration
	// ApprovalLimit is asked before a new approval would reach the human;
	// refusing returns how long until one may. Joining an approval already
	// running is never limited. Nil: no limit.
	ApprovalLimit func(Principal) (retryAfter time.Duration, ok bool)
	// AcceptPasscode lets a caller pass the human's code on (the agent's
	// passcode argument): the operator's opt-in fallback. Off, a passcode
	// is refused with ErrPasscodeRefused before anything is asked: the
	// human answers on Gatekeeper's approval page instead, so the code
	// never passes through the agent.
	AcceptPasscode bool
	// Shared, if set, is where this replica shares grants and pending
	// approvals with the others (shared.go). Nil: this process alone,
	// everything in memory.
	Shared        Shared
	SharedOptions SharedOptions
}

// Policy is what one principal's grants look like.
type Policy struct {
	Scope      string
	ReadTTL    time.Duration
	WriteTTL   time.Duration
	DestroyTTL time.Duration // the one-shot token's life; default 2m
}

// DefaultDestroyTTL bounds a one-shot destroy token.
const DefaultDestroyTTL = 2 * time.Minute

const (
	DefaultReadTTL         = 4 * time.Hour
	DefaultWriteTTL        = 15 * time.Minute
	DefaultApprovalTimeout = 2 * time.Minute
	defaultRevokeTimeout   = 10 * time.Second
	DefaultDenialCooldown  = time.Minute
)

// Manager holds every principal's grants and pending approvals.
type Manager struct {
	opts Options

	// flights is cancelled by Close so that pending approvals end.
	flights context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu         sync.Mutex
	closed     bool
	principals map[Principal]*principalState

	// Shared mode only: the heartbeat (replicas.go).
	beatMu   sync.Mutex
	beatStop func() bool
}

type principalState struct {
	grants  [Write + 1]*Grant
	pending [Destroy + 1]*flight
	// coolUntil: after a denial, no new request reaches the human before.
	coolUntil [Destroy + 1]time.Time
	// autoSpent is set when a read started an approval that did not
	// succeed; further reads do not ask the human again until the agent
	// calls Authenticate. Reads renew the read tier at most once per expiry.
	autoSpent bool
	// revoked[t]: an operator ended p's access at tier t. Until a new grant
	// at t (or the agent's own release or logout), a call that needs t is
	// told so (ErrRevoked), not only to ask again.
	revoked [Write + 1]bool

	// Shared mode only (cache.go): when each tier was last revalidated
	// against the store (zero: never, or the store did not answer), the
	// slot version seen or written last, and approvals that other
	// replicas run. sync lets one revalidation of a principal run at a
	// time; reloads counts them, so that callers queued behind one take
	// its answer.
	checked [Write + 1]time.Time
	version [Destroy + 1]int64
	remote  [Write + 1]*Claim
	sync    sync.Mutex
	reloads [Write + 1]uint64 // reads of the store begun, under sync
}

// New returns a Manager. It panics if opts.Issuer is nil.
func New(opts Options) *Manager {
	if opts.Issuer == nil {
		panic("access.New: nil Issuer")
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Audit == nil {
		opts.Audit = (*audit.Log)(nil)
	}
	if opts.ReadTTL <= 0 {
		opts.ReadTTL = DefaultReadTTL
	}
	if opts.WriteTTL <= 0 {
		opts.WriteTTL = DefaultWriteTTL
	}
	if opts.ApprovalTimeout <= 0 {
		opts.ApprovalTimeout = DefaultApprovalTimeout
	}
	if opts.RevokeTimeout <= 0 {
		opts.RevokeTimeout = defaultRevokeTimeout
	}
	if opts.DenialCooldown == 0 {
		opts.DenialCooldown = DefaultDenialCooldown
	}
	if opts.Shared != nil {
		opts.SharedOptions.defaults()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{opts: opts, flights: ctx, cancel: cancel, principals: map[Principal]*principalState{}}
}

// policy is p's scope and TTLs, defaults filled in.
func (m *Manager) policy(p Principal) Policy {
	var pol Policy
	if m.opts.PolicyFor != nil {
		pol = m.opts.PolicyFor(p)
	}
	if pol.Scope == "" {
		pol.Scope = m.opts.Scope
	}
	if pol.ReadTTL <= 0 {
		pol.ReadTTL = m.opts.ReadTTL
	}
	if pol.WriteTTL <= 0 {
		pol.WriteTTL = m.opts.WriteTTL
	}
	if pol.DestroyTTL <= 0 {
		pol.DestroyTTL = DefaultDestroyTTL
	}
	return pol
}

func (pol Policy) ttl(t Tier) time.Duration {
	switch t {
	case Write:
		return pol.WriteTTL
	case Destroy:
		return pol.DestroyTTL
	}
	return pol.ReadTTL
}

// state returns p's state, creating it. m.mu must be held.
func (m *Manager) state(p Principal) *principalState {
	st, ok := m.principals[p]
	if !ok {
		st = &principalState{}
		m.principals[p] = st
	}
	return st
}

// Authenticate gives p read access: the live grant if there is one, else a
// new approval. Calling it again while access is live asks nobody.
func (m *Manager) Authenticate(ctx context.Context, p Principal, passcode sensitive.String) (Status, error) {
	if err := m.passcodeAllowed(passcode); err != nil {
		return m.Status(p), err
	}
	if err := m.refresh(ctx, p, Read, false); err != nil {
		return m.Status(p), err
	}
	if m.live(p, Read) == nil {
		if _, err := m.approve(ctx, p, Read, "session access", "authenticate", nil, passcode); err != nil {
			return m.Status(p), err
		}
	}
	return m.Status(p), nil
}

// Escalate gives p write access for a task, to all of its folder or, with
// paths, only to those secrets (or folders ending in "/"). It needs live
// read access and a reason, both shown to the approving human. It never
// happens by itself; a live write grant that already covers the paths asks
// nobody.
func (m *Manager) Escalate(ctx context.Context, p Principal, reason string, paths []string, passcode sensitive.String) (Status, error) {
	if reason == "" {
		return m.Status(p), ErrReasonRequired
	}
	if err := checkShown("reason", reason); err != nil {
		return m.Status(p), err
	}
	if err := m.passcodeAllowed(passcode); err != nil {
		return m.Status(p), err
	}
	// Both tiers: write is earned from a live read grant.
	if err := m.refresh(ctx, p, Read, true); err != nil {
		return m.Status(p), err
	}
	if g := m.live(p, Write); g != nil && coversAll(g.Paths, paths) {
		return m.Status(p), nil
	}
	g, err := m.approve(ctx, p, Write, reason, "escalate", paths, passcode)
	if err == nil && !coversAll(g.Paths, paths) {
		// Joined an approval already pending for other paths.
		err = ErrPathNotGranted
	}
	return m.Status(p), err
}

// passcodeAllowed refuses a passcode the caller passed on, unless the
// operator accepts them (Options.AcceptPasscode), and one that cannot be a
// code: either before the approval rate limit or Vault sees it.
func (m *Manager) passcodeAllowed(passcode sensitive.String) error {
	switch {
	case passcode.IsZero():
		return nil
	case !m.opts.AcceptPasscode:
		return ErrPasscodeRefused
	case !WellFormedPasscode(passcode.Reveal()):
		return ErrPasscodeMalformed
	}
	return nil
}

// coversAll reports whether a grant narrowed to granted covers a request
// for want (empty want: the whole folder).
func coversAll(granted, want []string) bool {
	if len(want) == 0 {
		return len(granted) == 0
	}
	for _, w := range want {
		if !covers(granted, w) {
			return false
		}
	}
	return true
}

// autoReason is the reason of a read approval that a read started.
const autoReason = "read access, started by a read"

// ForRead returns the grant whose token p reads with: write if live, else
// read. With neither, it starts one read approval (the human answers it on
// its page, or a push). If that approval does not succeed, later reads
// return ErrNotAuthenticated until Authenticate.
func (m *Manager) ForRead(ctx context.Context, p Principal, trigger string) (*Grant, error) {
	if err := m.refresh(ctx, p, Read, false); err != nil {
		return nil, err
	}
	if g := m.live(p, Read); g != nil {
		return g, nil
	}
	m.mu.Lock()
	st := m.state(p)
	spent, revoked := st.autoSpent, st.revoked[Read]
	m.mu.Unlock()
	switch {
	case spent && revoked:
		return nil, revokedErr(Read)
	case spent:
		return nil, ErrNotAuthenticated
	}
	// If the approval does not succeed, run spends the renewal, whether or
	// not this caller still waits for it.
	return m.approve(ctx, p, Read, autoReason, trigger, nil, sensitive.String{})
}

// ForWrite returns p's live write grant for path, or ErrWriteRequired (a
// write never escalates by itself), or ErrPathNotGranted when the grant is
// narrowed to other paths.
func (m *Manager) ForWrite(p Principal, path string) (*Grant, error) {
	if err := m.refreshQuietly(p, Write, false); err != nil {
		return nil, err
	}
	g := m.live(p, Write)
	switch {
	case g == nil && m.revokedAt(p, Write):
		return nil, revokedErr(Write)
	case g == nil:
		return nil, ErrWriteRequired
	case !covers(g.Paths, path):
		return nil, ErrPathNotGranted
	}
	return g, nil
}

// revokedAt reports whether an operator ended p's access at t and nothing
// has given it back since.
func (m *Manager) revokedAt(p Principal, t Tier) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.principals[p]
	return ok && st.revoked[t]
}

// live returns p's highest live grant at tier t or above, or nil.
func (m *Manager) live(p Principal, t Tier) *Grant {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.principals[p]
	if !ok {
		return nil
	}
	now := m.opts.Clock.Now()
	for tier := Write; tier >= t; tier-- {
		if g := st.grants[tier]; g.liveAt(now) && m.verified(st, tier) {
			return g
		}
	}
	return nil
}

// Status reports p's live grants and pending approvals.
func (m *Manager) Status(p Principal) Status {
	_ = m.refreshQuietly(p, Read, true) // a grant that could not be revalidated is not shown
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Status{Principal: p, Tier: None}
	st, ok := m.principals[p]
	if !ok {
		return s
	}
	now := m.opts.Clock.Now()
	for t := Read; t <= Write; t++ {
		if g := st.grants[t]; g.liveAt(now) && m.verified(st, t) {
			s.Tier = t
			s.Grants = append(s.Grants, GrantStatus{
				Tier:        t,
				Paths:       g.Paths,
				ExpiresAt:   g.ExpiresAt,
				SecondsLeft: int64(g.ExpiresAt.Sub(now).Seconds()),
				ApprovalID:  g.ApprovalID,
			})
		}
	}
	for t := Read; t <= Destroy; t++ {
		if f := st.pending[t]; f != nil {
			s.Pending = append(s.Pending, PendingStatus{Tier: t, ApprovalID: f.id, Expires: f.expires})
		} else if c := m.remoteClaim(st, t, now); c != nil {
			s.Pending = append(s.Pending, PendingStatus{Tier: t, ApprovalID: c.ApprovalID, Expires: c.Expires})
		}
	}
	return s
}

// LiveGrants counts live grants by tier, over all principals.
func (m *Manager) LiveGrants() map[Tier]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Clock.Now()
	out := map[Tier]int{Read: 0, Write: 0}
	for _, st := range m.principals {
		for t := Read; t <= Write; t++ {
			if st.grants[t].liveAt(now) {
				out[t]++
			}
		}
	}
	return out
}

// Release ends p's write access now and revokes its token. p keeps read.
func (m *Manager) Release(ctx context.Context, p Principal) (Status, error) {
	err := m.end(ctx, p, "release", Write)
	return m.Status(p), err
}

// Logout ends all of p's access now and revokes every token. Its pending
// approvals are cut short first (logout.go).
func (m *Manager) Logout(ctx context.Context, p Principal) (Status, error) {
	err := errors.Join(m.cancelPending(ctx, p), m.end(ctx, p, "logout", Read, Write))
	return m.Status(p), err
}

func (m *Manager) end(ctx context.Context, p Principal, why string, tiers ...Tier) error {
	if m.opts.Shared != nil {
		return m.endShared(ctx, p, why, tiers...)
	}
	m.mu.Lock()
	var ended []*Grant
	if st, ok := m.principals[p]; ok {
		for _, t := range tiers {
			if g := st.take(t); g != nil {
				ended = append(ended, g)
			}
			st.revoked[t] = false
		}
		st.autoSpent = false
	}
	m.mu.Unlock()
	var errs []error
	for _, g := range ended {
		errs = append(errs, m.revoke(ctx, g, audit.GrantReleased, why))
	}
	return errors.Join(errs...)
}

// take removes and returns the grant at t, stopping its expiry timer.
func (st *principalState) take(t Tier) *Grant {
	g := st.grants[t]
	if g == nil {
		return nil
	}
	st.grants[t] = nil
	if g.stopTimer != nil {
		g.stopTimer()
	}
	return g
}

// Recheck is called when Vault refused a grant's token. If Vault no longer
// honours the token, the grant is dropped: ErrGrantLost if it was revoked
// from outside, or, if Gatekeeper itself ended it meanwhile (expiry,
// release), the error that says how to get that tier again. Otherwise
// Recheck returns nil and the refusal stands on its own.
func (m *Manager) Recheck(ctx context.Context, g *Grant) error {
	err := m.opts.Issuer.Check(ctx, g.Token)
	if !errors.Is(err, ErrTokenInvalid) {
		return nil
	}
	if m.opts.Shared != nil {
		return m.recheckShared(ctx, g)
	}
	m.mu.Lock()
	st, ok := m.principals[g.Principal]
	current := ok && st.grants[g.Tier] == g
	if current {
		st.take(g.Tier)
	}
	revoked := ok && g.Tier <= Write && st.revoked[g.Tier]
	m.mu.Unlock()
	if !current {
		return endedErr(g.Tier, revoked)
	}
	_ = m.record(ctx, g, audit.GrantLost, audit.Failed, "vault no longer honours the token")
	return ErrGrantLost
}

// endedErr is what a call that held a grant at t is told once Gatekeeper
// has ended it: that an operator revoked it, if one did, and how to get
// the tier again.
func endedErr(t Tier, revoked bool) error {
	switch {
	case revoked:
		return revokedErr(t)
	case t == Write:
		return ErrWriteRequired
	}
	return ErrNotAuthenticated
}

// expire ends g when its time is up. Write expiry leaves read in place.
func (m *Manager) expire(g *Grant) {
	m.mu.Lock()
	st, ok := m.principals[g.Principal]
	if !ok || st.grants[g.Tier] != g {
		m.mu.Unlock()
		return
	}
	st.grants[g.Tier] = nil
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.RevokeTimeout)
	defer cancel()
	if m.opts.Shared != nil {
		m.expireShared(ctx, g)
		return
	}
	_ = m.revoke(ctx, g, audit.GrantExpired, "expired")
}

// revoke ends g's token in Vault and records why. A failed revocation is
// audited; the token still dies at its own TTL, which is the grant's.
func (m *Manager) revoke(ctx context.Context, g *Grant, event, why string) error {
	if err := m.opts.Issuer.Revoke(ctx, g.Token); err != nil {
		m.opts.Logger.WarnContext(ctx, "revoking a grant failed", "principal", g.Principal, "tier", g.Tier, "accessor", g.Accessor, "err", err)
		_ = m.record(ctx, g, audit.RevokeFailed, audit.Failed, why+": "+safeDetail(err))
		return err
	}
	_ = m.record(ctx, g, event, audit.OK, why)
	m.credentialsEnded(ctx, g, why)
	return nil
}

// record writes an event about g. Events that end a grant carry how long it
// lived. The error matters only where access is given (grant.issued): access
// that ends, ends whether or not the record of it could be written.
func (m *Manager) record(ctx context.Context, g *Grant, event string, outcome audit.Outcome, detail string) error {
	e := audit.Event{
		Event:      event,
		Outcome:    outcome,
		Principal:  string(g.Principal),
		Tier:       g.Tier.String(),
		Path:       strings.Join(g.Paths, ","),
		ApprovalID: g.ApprovalID,
		Accessor:   g.Accessor,
		ExpiresAt:  g.ExpiresAt,
		Detail:     detail,
	}
	if event != audit.GrantIssued {
		// No grant lives past its expiry, however late its timer fired.
		end := m.opts.Clock.Now()
		if end.After(g.ExpiresAt) {
			end = g.ExpiresAt
		}
		e.LifetimeMS = end.Sub(g.IssuedAt).Milliseconds()
	}
	return m.opts.Audit.Record(ctx, e)
}

// Close revokes every live grant and ends pending approvals. Afterwards
// every call that would need an approval returns ErrClosed. With a shared
// store, grants that other live replicas still serve are left to them: only
// the last replica out revokes (replicas.go).
func (m *Manager) Close(ctx context.Context) error {
	if m.opts.Shared != nil {
		return m.closeShared(ctx)
	}
	m.mu.Lock()
	m.closed = true
	var all []*Grant
	for _, st := range m.principals {
		for t := Read; t <= Write; t++ {
			if g := st.take(t); g != nil {
				all = append(all, g)
			}
		}
	}
	m.mu.Unlock()
	m.cancel()
	var errs []error
	for _, g := range all {
		errs = append(errs, m.revoke(ctx, g, audit.GrantRevoked, "shutdown"))
	}
	m.wg.Wait()
	return errors.Join(errs...)
}

func newID(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// safeDetail describes err by its classification only: wrapped Vault errors
// may name paths, and nothing in them is needed in the audit log that the
// debug log does not already have.
func safeDetail(err error) string {
	for _, e := range []error{ErrDenied, ErrApprovalTimeout, ErrPasscodeRequired, ErrTokenTooLong, ErrMisconfigured, ErrBrokerCredential, ErrClosed, ErrNotAuthenticated, ErrTokenInvalid, audit.ErrUnavailable, context.DeadlineExceeded, context.Canceled} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	var d interface{ SafeDetail() string }
	if errors.As(err, &d) {
		return d.SafeDetail()
	}
	return "error"
}
