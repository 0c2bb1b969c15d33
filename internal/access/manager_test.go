package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/clock"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// fakeIssuer stands in for Vault in the model's unit tests; the real Vault
// is exercised by the approver and end-to-end tests.
type fakeIssuer struct {
	mu       sync.Mutex
	issued   int
	requests []Request
	held     []string
	live     map[string]bool // token -> not revoked
	revoked  []string
	next     int

	// decide returns the outcome of an approval; nil approves.
	decide func(ctx context.Context, req Request) error
	// ttl overrides the TTL of issued tokens; zero means req.TTL.
	ttl       time.Duration
	revokeErr error
}

func newFakeIssuer() *fakeIssuer { return &fakeIssuer{live: map[string]bool{}} }

func (f *fakeIssuer) Issue(ctx context.Context, req Request, held sensitive.String) (Issued, error) {
	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.held = append(f.held, held.Reveal())
	decide := f.decide
	f.mu.Unlock()
	if decide != nil {
		if err := decide(ctx, req); err != nil {
			return Issued{}, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.issued++
	f.next++
	tok := fmt.Sprintf("tok-%s-%d", req.Tier, f.next)
	f.live[tok] = true
	ttl := req.TTL
	if f.ttl != 0 {
		ttl = f.ttl
	}
	return Issued{Token: sensitive.New(tok), Accessor: "acc-" + tok, TTL: ttl}, nil
}

func (f *fakeIssuer) Revoke(_ context.Context, tok sensitive.String) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.revokeErr != nil {
		return f.revokeErr
	}
	f.live[tok.Reveal()] = false
	f.revoked = append(f.revoked, tok.Reveal())
	return nil
}

func (f *fakeIssuer) Check(_ context.Context, tok sensitive.String) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.live[tok.Reveal()] {
		return ErrTokenInvalid
	}
	return nil
}

func (f *fakeIssuer) liveTokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for tok, ok := range f.live {
		if ok {
			out = append(out, tok)
		}
	}
	return out
}

func (f *fakeIssuer) revokedTokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.revoked...)
}

func (f *fakeIssuer) issueCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

// events collects audit events.
type events struct {
	mu  sync.Mutex
	all []audit.Event
	// fail, if set, names the events that cannot be recorded.
	fail map[string]bool
}

func (e *events) Record(_ context.Context, ev audit.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail[ev.Event] {
		return fmt.Errorf("%w: disk full", audit.ErrUnavailable)
	}
	e.all = append(e.all, ev)
	return nil
}

func (e *events) failOn(names ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fail = map[string]bool{}
	for _, n := range names {
		e.fail[n] = true
	}
}

func (e *events) named(name string) []audit.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []audit.Event
	for _, ev := range e.all {
		if ev.Event == name {
			out = append(out, ev)
		}
	}
	return out
}

// eventually returns the events of name once there are at least n, for
// those recorded after the call that caused them returned (a replaced
// grant is revoked once its successor is handed out), or what there is
// after five seconds.
func (e *events) eventually(name string, n int) []audit.Event {
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := e.named(name)
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(time.Millisecond)
	}
}

func (e *events) outcomes(name string) []audit.Outcome {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []audit.Outcome
	for _, ev := range e.all {
		if ev.Event == name {
			out = append(out, ev.Outcome)
		}
	}
	return out
}

const agent Principal = "agent"

var t0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

type fixture struct {
	m      *Manager
	clock  *clock.Fake
	issuer *fakeIssuer
	audit  *events
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{clock: clock.NewFake(t0), issuer: newFakeIssuer(), audit: &events{}}
	// The model's tests pass codes on, as the operator's fallback allows.
	f.m = New(Options{Issuer: f.issuer, Audit: f.audit, Clock: f.clock, Scope: "secret/agent/", AcceptPasscode: true})
	t.Cleanup(func() { _ = f.m.Close(context.Background()) })
	return f
}

func (f *fixture) tier() Tier { return f.m.Status(agent).Tier }

var passcode = sensitive.New("123456")

func TestAuthenticateGrantsRead(t *testing.T) {
	f := newFixture(t)
	st, err := f.m.Authenticate(t.Context(), agent, passcode)
	if err != nil {
		t.Fatal(err)
	}
	want := Status{Principal: agent, Tier: Read, Grants: []GrantStatus{{
		Tier: Read, ExpiresAt: t0.Add(DefaultReadTTL), SecondsLeft: int64(DefaultReadTTL.Seconds()),
		ApprovalID: f.issuer.requests[0].ID,
	}}}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("status mismatch (-want +got):\n%s", diff)
	}
	req := f.issuer.requests[0]
	if req.Tier != Read || req.TTL != DefaultReadTTL || req.Scope != "secret/agent/" || !req.Passcode.Equal(passcode) || f.issuer.held[0] != "" {
		t.Errorf("approval request = %+v held %q, want a read request with the passcode and no held token", req, f.issuer.held[0])
	}

	// A second call while read is live asks nobody.
	if _, err := f.m.Authenticate(t.Context(), agent, sensitive.String{}); err != nil {
		t.Fatal(err)
	}
	if n := f.issuer.issueCount(); n != 1 {
		t.Errorf("approvals = %d, want 1", n)
	}
	if diff := cmp.Diff([]audit.Outcome{audit.OK}, f.audit.outcomes(audit.GrantIssued)); diff != "" {
		t.Errorf("grant.issued events (-want +got):\n%s", diff)
	}
}

func TestEscalateNeedsReadAndReason(t *testing.T) {
	tests := []struct {
		name   string
		read   bool
		reason string
		want   error
	}{
		{"fail/no-reason", true, "", ErrReasonRequired},
		{"fail/no-read", false, "rotate the key", ErrNotAuthenticated},
		{"ok", true, "rotate the key", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.read {
				if _, err := f.m.Authenticate(t.Context(), agent, passcode); err != nil {
					t.Fatal(err)
				}
			}
			st, err := f.m.Escalate(t.Context(), agent, tc.reason, nil, passcode)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Escalate() error = %v, want %v", err, tc.want)
			}
			if tc.want != nil {
				if want := map[bool]Tier{true: Read, false: None}[tc.read]; st.Tier != want {
					t.Errorf("tier after refusal = %v, want %v", st.Tier, want)
				}
				return
			}
			if st.Tier != Write || len(st.Grants) != 2 {
				t.Fatalf("status = %+v, want read and write grants", st)
			}
			last := f.issuer.requests[len(f.issuer.requests)-1]
			if last.Tier != Write || last.Reason != tc.reason || last.TTL != DefaultWriteTTL {
				t.Errorf("write request = %+v", last)
			}
			if held := f.issuer.held[len(f.issuer.held)-1]; held != "tok-read-1" {
				t.Errorf("write approval held %q, want the read token", held)
			}
		})
	}
}

func TestWriteNeverEscalatesByItself(t *testing.T) {
	f := newFixture(t)
	if _, err := f.m.ForWrite(agent, "x"); !errors.Is(err, ErrWriteRequired) {
		t.Fatalf("ForWrite without any grant = %v, want ErrWriteRequired", err)
	}
	if _, err := f.m.Authenticate(t.Context(), agent, passcode); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.ForWrite(agent, "x"); !errors.Is(err, ErrWriteRequired) {
		t.Fatalf("ForWrite with read = %v, want ErrWriteRequired", err)
	}
	if n := f.issuer.issueCount(); n != 1 {
		t.Errorf("approvals = %d, want only the authenticate one", n)
	}
}

func TestWriteExpiryRevokesAndLeavesRead(t *testing.T) {
	f := newFixture(t)
	mustAuthenticate(t, f)
	if _, err := f.m.Escalate(t.Context(), agent, "deploy", nil, passcode); err != nil {
		t.Fatal(err)
	}
	g, err := f.m.ForRead(t.Context(), agent, "read_secret x")
	if err != nil || g.Tier != Write {
		t.Fatalf("ForRead with write live = %v, %v; want the write grant", g, err)
	}

	f.clock.Advance(DefaultWriteTTL - time.Second)
	if f.tier() != Write {
		t.Fatalf("tier a second before write expiry = %v", f.tier())
	}
	f.clock.Advance(time.Second)
	if f.tier() != Read {
		t.Fatalf("tier after write expiry = %v, want read", f.tier())
	}
	if _, err := f.m.ForWrite(agent, "x"); !errors.Is(err, ErrWriteRequired) {
		t.Errorf("ForWrite after expiry = %v", err)
	}
	if diff := cmp.Diff([]string{"tok-write-2"}, f.issuer.revokedTokens()); diff != "" {
		t.Errorf("revoked (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]audit.Outcome{audit.OK}, f.audit.outcomes(audit.GrantExpired)); diff != "" {
		t.Errorf("grant.expired events (-want +got):\n%s", diff)
	}
	// Never renewed by itself: a write after expiry asks nobody.
	if n := f.issuer.issueCount(); n != 2 {
		t.Errorf("approvals = %d, want 2", n)
	}
}

func TestReadExpiryRenewsOnNextRead(t *testing.T) {
	f := newFixture(t)
	mustAuthenticate(t, f)
	f.clock.Advance(DefaultReadTTL)
	if f.tier() != None {
		t.Fatalf("tier after read expiry = %v, want none", f.tier())
	}
	if diff := cmp.Diff([]string{"tok-read-1"}, f.issuer.revokedTokens()); diff != "" {
		t.Errorf("revoked (-want +got):\n%s", diff)
	}
	g, err := f.m.ForRead(t.Context(), agent, "read_secret db")
	if err != nil {
		t.Fatal(err)
	}
	if g.Tier != Read || g.ExpiresAt != t0.Add(2*DefaultReadTTL) {
		t.Errorf("renewed grant = %+v", g)
	}
	if req := f.issuer.requests[1]; req.Trigger != "read_secret db" || !req.Passcode.IsZero() {
		t.Errorf("renewal request = %+v", req)
	}
}

func TestReadStartsApprovalOncePerExpiry(t *testing.T) {
	f := newFixture(t)
	f.issuer.decide = func(context.Context, Request) error { return ErrDenied }
	if _, err := f.m.ForRead(t.Context(), agent, "read_secret a"); !errors.Is(err, ErrDenied) {
		t.Fatalf("first read = %v, want ErrDenied", err)
	}
	for range 3 {
		if _, err := f.m.ForRead(t.Context(), agent, "read_secret a"); !errors.Is(err, ErrNotAuthenticated) {
			t.Fatalf("read after a failed renewal = %v, want ErrNotAuthenticated", err)
		}
	}
	if n := f.issuer.issueCount(); n != 1 {
		t.Fatalf("approvals = %d, want 1: reads must not push-bomb the human", n)
	}
	// An explicit authenticate asks again (after the cool-down that the
	// denial started), and reads work after it.
	f.issuer.decide = nil
	f.clock.Advance(DefaultDenialCooldown)
	mustAuthenticate(t, f)
	if _, err := f.m.ForRead(t.Context(), agent, "read_secret a"); err != nil {
		t.Fatal(err)
	}
}

func TestPasscodeRequiredDoesNotSpendTheRenewal(t *testing.T) {
	f := newFixture(t)
	f.issuer.decide = func(_ context.Context, r Request) error {
		if r.Passcode.IsZero() {
			return ErrPasscodeRequired
		}
		return nil
	}
	for range 2 {
		if _, err := f.m.ForRead(t.Context(), agent, "read_secret a"); !errors.Is(err, ErrPasscodeRequired) {
			t.Fatalf("read = %v, want ErrPasscodeRequired", err)
		}
	}
	mustAuthenticate(t, f)
	if f.tier() != Read {
		t.Fatalf("tier = %v", f.tier())
	}
}

func TestFailedApprovalsGrantNothing(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		want    error
		outcome audit.Outcome
	}{
		{"fail/denied", fmt.Errorf("wrong code: %w", ErrDenied), ErrDenied, audit.Denied},
		{"fail/timeout", ErrApprovalTimeout, ErrApprovalTimeout, audit.TimedOut},
		{"fail/passcode", ErrPasscodeRequired, ErrPasscodeRequired, audit.Failed},
		{"fail/vault-down", errors.New("connection refused"), nil, audit.Failed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.issuer.decide = func(context.Context, Request) error { return tc.err }
			st, err := f.m.Authenticate(t.Context(), agent, passcode)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("Authenticate() = %v, want %v", err, tc.err)
			}
			if st.Tier != None || len(st.Grants) != 0 || len(st.Pending) != 0 {
				t.Errorf("status after failure = %+v, want nothing", st)
			}
			if diff := cmp.Diff([]audit.Outcome{tc.outcome}, f.audit.outcomes(audit.ApprovalDecided)); diff != "" {
				t.Errorf("approval.decided (-want +got):\n%s", diff)
			}
		})
	}
}

func TestApprovalTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		iss := newFakeIssuer()
		iss.decide = func(ctx context.Context, _ Request) error {
			<-ctx.Done() // a human who never answers
			return ctx.Err()
		}
		m := New(Options{Issuer: iss, ApprovalTimeout: time.Minute, AcceptPasscode: true})
		defer func() { _ = m.Close(context.Background()) }()
		start := time.Now()
		_, err := m.Authenticate(t.Context(), agent, passcode)
		if !errors.Is(err, ErrApprovalTimeout) {
			t.Fatalf("Authenticate() = %v, want ErrApprovalTimeout", err)
		}
		if waited := time.Since(start); waited != time.Minute {
			t.Errorf("gave up after %v, want the approval timeout", waited)
		}
		if st := m.Status(agent); st.Tier != None || len(st.Pending) != 0 {
			t.Errorf("status = %+v", st)
		}
	})
}

func TestConcurrentReadsShareOneApproval(t *testing.T) {
	f := newFixture(t)
	release := make(chan struct{})
	var entered atomic.Int32
	f.issuer.decide = func(context.Context, Request) error {
		entered.Add(1)
		<-release
		return nil
	}
	const n = 50
	var wg sync.WaitGroup
	grants := make([]*Grant, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { grants[i], errs[i] = f.m.ForRead(t.Context(), agent, "read_secret a") })
	}
	// Let every reader reach the approval before it is decided.
	for len(f.m.Status(agent).Pending) == 0 || entered.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || grants[i] != grants[0] {
			t.Fatalf("reader %d got %v, %v; want the shared grant", i, grants[i], errs[i])
		}
	}
	if c := f.issuer.issueCount(); c != 1 {
		t.Errorf("approvals = %d, want exactly 1", c)
	}
	if diff := cmp.Diff([]audit.Outcome{audit.OK}, f.audit.outcomes(audit.ApprovalRequested)); diff != "" {
		t.Errorf("approval.requested (-want +got):\n%s", diff)
	}
}

func TestReleaseAndLogoutRevoke(t *testing.T) {
	f := newFixture(t)
	mustAuthenticate(t, f)
	if _, err := f.m.Escalate(t.Context(), agent, "fix", nil, passcode); err != nil {
		t.Fatal(err)
	}
	st, err := f.m.Release(t.Context(), agent)
	if err != nil || st.Tier != Read {
		t.Fatalf("Release() = %+v, %v; want read left", st, err)
	}
	if diff := cmp.Diff([]string{"tok-write-2"}, f.issuer.revokedTokens()); diff != "" {
		t.Errorf("revoked after release (-want +got):\n%s", diff)
	}
	st, err = f.m.Logout(t.Context(), agent)
	if err != nil || st.Tier != None {
		t.Fatalf("Logout() = %+v, %v; want nothing left", st, err)
	}
	if live := f.issuer.liveTokens(); len(live) != 0 {
		t.Errorf("live tokens after logout: %v", live)
	}
	// Expiry timers of ended grants do nothing.
	f.clock.Advance(DefaultReadTTL)
	if n := len(f.issuer.revokedTokens()); n != 2 {
		t.Errorf("revocations = %d, want 2", n)
	}
}

func TestRecheckDropsGrantRevokedOutside(t *testing.T) {
	f := newFixture(t)
	mustAuthenticate(t, f)
	g, err := f.m.ForRead(t.Context(), agent, "read_secret a")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.m.Recheck(t.Context(), g); err != nil {
		t.Fatalf("Recheck of a live token = %v, want nil", err)
	}
	_ = f.issuer.Revoke(t.Context(), g.Token) // from outside
	if err := f.m.Recheck(t.Context(), g); !errors.Is(err, ErrGrantLost) {
		t.Fatalf("Recheck of a revoked token = %v, want ErrGrantLost", err)
	}
	if f.tier() != None {
		t.Errorf("tier = %v, want none", f.tier())
	}
	if diff := cmp.Diff([]audit.Outcome{audit.Failed}, f.audit.outcomes(audit.GrantLost)); diff != "" {
		t.Errorf("grant.lost (-want +got):\n%s", diff)
	}
}

func TestRecheckAfterGrantEndedSaysHowToGetItBack(t *testing.T) {
	f := newFixture(t)
	mustAuthenticate(t, f)
	if _, err := f.m.Escalate(t.Context(), agent, "deploy", nil, passcode); err != nil {
		t.Fatal(err)
	}
	w, err := f.m.ForWrite(agent, "x")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(DefaultWriteTTL) // expires (and is revoked) while a write is in flight
	if err := f.m.Recheck(t.Context(), w); !errors.Is(err, ErrWriteRequired) {
		t.Fatalf("Recheck of an expired write grant = %v, want ErrWriteRequired", err)
	}
	if len(f.audit.outcomes(audit.GrantLost)) != 0 {
		t.Error("an expiry was audited as a grant lost outside Gatekeeper")
	}
	if f.tier() != Read {
		t.Errorf("tier = %v, want read", f.tier())
	}
}

func TestTokenOutlivingGrantIsRefused(t *testing.T) {
	f := newFixture(t)
	f.issuer.ttl = DefaultReadTTL + time.Second
	if _, err := f.m.Authenticate(t.Context(), agent, passcode); !errors.Is(err, ErrTokenTooLong) {
		t.Fatalf("Authenticate() = %v, want ErrTokenTooLong", err)
	}
	if f.tier() != None || len(f.issuer.liveTokens()) != 0 {
		t.Errorf("tier %v, live tokens %v: the long token must be revoked", f.tier(), f.issuer.liveTokens())
	}
}

func TestShorterTokenShortensGrant(t *testing.T) {
	f := newFixture(t)
	f.issuer.ttl = time.Hour
	st := mustAuthenticate(t, f)
	if st.Grants[0].ExpiresAt != t0.Add(time.Hour) {
		t.Errorf("grant expires %v, want when its token does", st.Grants[0].ExpiresAt)
	}
}

func TestCloseRevokesEverythingAndRefusesMore(t *testing.T) {
	f := newFixture(t)
	mustAuthenticate(t, f)
	if _, err := f.m.Escalate(t.Context(), agent, "x", nil, passcode); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Authenticate(t.Context(), "other", passcode); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if live := f.issuer.liveTokens(); len(live) != 0 {
		t.Errorf("live tokens after Close: %v", live)
	}
	if _, err := f.m.Authenticate(t.Context(), agent, passcode); !errors.Is(err, ErrClosed) {
		t.Errorf("Authenticate after Close = %v, want ErrClosed", err)
	}
}

func TestCloseEndsPendingApproval(t *testing.T) {
	f := newFixture(t)
	started := make(chan struct{})
	f.issuer.decide = func(ctx context.Context, _ Request) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}
	done := make(chan error)
	go func() {
		_, err := f.m.Authenticate(context.Background(), agent, passcode)
		done <- err
	}()
	<-started
	if err := f.m.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Fatal("pending approval succeeded after Close")
	}
	if f.tier() != None {
		t.Errorf("tier = %v", f.tier())
	}
}

func TestApprovedAfterCloseIsRevoked(t *testing.T) {
	f := newFixture(t)
	started, proceed := make(chan struct{}), make(chan struct{})
	f.issuer.decide = func(context.Context, Request) error {
		close(started)
		<-proceed // approves even though the Manager closed meanwhile
		return nil
	}
	done := make(chan error)
	go func() {
		_, err := f.m.Authenticate(context.Background(), agent, passcode)
		done <- err
	}()
	<-started
	closed := make(chan error)
	go func() { closed <- f.m.Close(context.Background()) }()
	for !f.m.isClosed() {
		time.Sleep(time.Millisecond)
	}
	close(proceed)
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("Authenticate() = %v, want ErrClosed", err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if live := f.issuer.liveTokens(); len(live) != 0 {
		t.Errorf("live tokens: %v", live)
	}
}

func TestFailedRevocationIsAudited(t *testing.T) {
	f := newFixture(t)
	mustAuthenticate(t, f)
	f.issuer.revokeErr = errors.New("vault down")
	if _, err := f.m.Logout(t.Context(), agent); err == nil {
		t.Fatal("Logout() reported success although revocation failed")
	}
	if f.tier() != None {
		t.Errorf("tier = %v: a failed revocation still ends the grant here", f.tier())
	}
	if diff := cmp.Diff([]audit.Outcome{audit.Failed}, f.audit.outcomes(audit.RevokeFailed)); diff != "" {
		t.Errorf("grant.revoke_failed (-want +got):\n%s", diff)
	}
}

func TestPrincipalsAreSeparate(t *testing.T) {
	f := newFixture(t)
	mustAuthenticate(t, f)
	if st := f.m.Status("someone-else"); st.Tier != None {
		t.Errorf("another principal's tier = %v", st.Tier)
	}
	if _, err := f.m.ForWrite("someone-else", "x"); !errors.Is(err, ErrWriteRequired) {
		t.Errorf("ForWrite(other) = %v", err)
	}
}

func mustAuthenticate(t *testing.T, f *fixture) Status {
	t.Helper()
	st, err := f.m.Authenticate(t.Context(), agent, passcode)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (m *Manager) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

func TestPolicyPerPrincipal(t *testing.T) {
	iss := newFakeIssuer()
	m := New(Options{Issuer: iss, Clock: clock.NewFake(t0), Scope: "secret/agent/", AcceptPasscode: true, PolicyFor: func(p Principal) Policy {
		if p == "alice" {
			return Policy{Scope: "secret/agent/alice/", WriteTTL: 5 * time.Minute}
		}
		return Policy{}
	}})
	defer func() { _ = m.Close(context.Background()) }()
	for _, p := range []Principal{"alice", "bob"} {
		if _, err := m.Authenticate(t.Context(), p, passcode); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Escalate(t.Context(), p, "x", nil, passcode); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]string{}
	for _, r := range iss.requests {
		got[string(r.Principal)+"/"+r.Tier.String()] = fmt.Sprintf("%s %s", r.Scope, r.TTL)
	}
	want := map[string]string{
		"alice/read": "secret/agent/alice/ 4h0m0s", "alice/write": "secret/agent/alice/ 5m0s",
		"bob/read": "secret/agent/ 4h0m0s", "bob/write": "secret/agent/ 15m0s",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[Tier]int{Read: 2, Write: 2}, m.LiveGrants()); diff != "" {
		t.Errorf("live grants (-want +got):\n%s", diff)
	}
}

func TestApprovalLimit(t *testing.T) {
	f := newFixture(t)
	asked := 0
	f.m.opts.ApprovalLimit = func(_ Principal) (time.Duration, bool) {
		asked++
		return 42 * time.Second, asked <= 1
	}
	f.issuer.decide = func(context.Context, Request) error { return fmt.Errorf("%w: %w", ErrDenied, ErrWrongPasscode) }
	if _, err := f.m.Authenticate(t.Context(), agent, passcode); !errors.Is(err, ErrDenied) {
		t.Fatalf("first approval = %v", err)
	}
	_, err := f.m.Authenticate(t.Context(), agent, passcode)
	var rl *RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != 42*time.Second || !errors.Is(err, ErrRateLimited) {
		t.Fatalf("second approval = %v, want a rate limit with its wait", err)
	}
	if n := f.issuer.issueCount(); n != 1 {
		t.Errorf("the human was asked %d times, want 1", n)
	}
	if diff := cmp.Diff([]audit.Outcome{audit.Refused}, f.audit.outcomes(audit.RateLimited)); diff != "" {
		t.Errorf("rate_limit events (-want +got):\n%s", diff)
	}
}

func TestDenialStartsCooldown(t *testing.T) {
	f := newFixture(t)
	f.issuer.decide = func(context.Context, Request) error { return ErrDenied }
	if _, err := f.m.Authenticate(t.Context(), agent, passcode); !errors.Is(err, ErrDenied) {
		t.Fatal(err)
	}
	for range 200 { // an agent hammering: the human hears nothing
		_, err := f.m.Authenticate(t.Context(), agent, passcode)
		var rl *RateLimitedError
		if !errors.As(err, &rl) || !rl.Cooldown || rl.RetryAfter <= 0 || rl.RetryAfter > DefaultDenialCooldown {
			t.Fatalf("during the cool-down: %v", err)
		}
	}
	if n := f.issuer.issueCount(); n != 1 {
		t.Fatalf("the human was asked %d times, want 1", n)
	}
	f.issuer.decide = nil
	f.clock.Advance(DefaultDenialCooldown)
	mustAuthenticate(t, f)
}

func TestWrongPasscodeStartsNoCooldown(t *testing.T) {
	f := newFixture(t)
	f.issuer.decide = func(_ context.Context, r Request) error {
		if r.Passcode.Reveal() == "000000" {
			return fmt.Errorf("%w: %w", ErrDenied, ErrWrongPasscode)
		}
		return nil
	}
	if _, err := f.m.Authenticate(t.Context(), agent, sensitive.New("000000")); !errors.Is(err, ErrWrongPasscode) {
		t.Fatal(err)
	}
	mustAuthenticate(t, f) // a typo does not lock the human out
}

func TestNarrowedWrite(t *testing.T) {
	f := newFixture(t)
	mustAuthenticate(t, f)
	if _, err := f.m.Escalate(t.Context(), agent, "rotate db", []string{"db/password", "certs/"}, passcode); err != nil {
		t.Fatal(err)
	}
	if req := f.issuer.requests[1]; !cmp.Equal(req.Paths, []string{"db/password", "certs/"}) {
		t.Errorf("request paths = %v", req.Paths)
	}
	for path, ok := range map[string]bool{"db/password": true, "certs/web": true, "certs/a/b": true, "db/other": false, "certs": false} {
		_, err := f.m.ForWrite(agent, path)
		if ok != (err == nil) || (!ok && !errors.Is(err, ErrPathNotGranted)) {
			t.Errorf("ForWrite(%q) = %v, want ok=%v", path, err, ok)
		}
	}
	// Asking again within the granted paths asks nobody; beyond them asks.
	if _, err := f.m.Escalate(t.Context(), agent, "again", []string{"certs/web"}, passcode); err != nil || f.issuer.issueCount() != 2 {
		t.Errorf("escalate within the grant: %v, approvals %d", err, f.issuer.issueCount())
	}
	if _, err := f.m.Escalate(t.Context(), agent, "more", nil, passcode); err != nil || f.issuer.issueCount() != 3 {
		t.Errorf("escalate for the whole folder: %v, approvals %d", err, f.issuer.issueCount())
	}
	if _, err := f.m.ForWrite(agent, "db/other"); err != nil {
		t.Errorf("after the wider grant: %v", err)
	}
}

func TestDigestCommitsToTheRequest(t *testing.T) {
	base := Request{ID: "apr_1", Principal: "a", Tier: Write, Scope: "s/", Paths: []string{"x"}, Reason: "r", Trigger: "escalate", TTL: time.Minute, Expires: t0}
	seen := map[string]string{base.digest(): "base"}
	for name, mut := range map[string]func(*Request){
		"id": func(r *Request) { r.ID = "apr_2" }, "principal": func(r *Request) { r.Principal = "b" },
		"tier": func(r *Request) { r.Tier = Read }, "scope": func(r *Request) { r.Scope = "t/" },
		"paths": func(r *Request) { r.Paths = []string{"y"} }, "reason": func(r *Request) { r.Reason = "s" },
		"trigger": func(r *Request) { r.Trigger = "t" }, "ttl": func(r *Request) { r.TTL = time.Hour },
		"expires": func(r *Request) { r.Expires = t0.Add(time.Second) },
	} {
		r := base
		mut(&r)
		d := r.digest()
		if other, dup := seen[d]; dup {
			t.Errorf("changing %s gives the digest of %s", name, other)
		}
		seen[d] = name
	}
	f := newFixture(t)
	mustAuthenticate(t, f)
	req := f.issuer.requests[0]
	if req.Digest != req.digest() || len(req.Digest) != 64 || !req.Expires.Equal(t0.Add(DefaultApprovalTimeout)) {
		t.Errorf("issued request digest %q expires %v", req.Digest, req.Expires)
	}
}

func TestOnceNeedsWriteAndAFreshApprovalEachTime(t *testing.T) {
	f := newFixture(t)
	run := func(paths ...string) (ran bool, err error) {
		err = f.m.Once(t.Context(), agent, "drop old versions", "destroy_secret db 1", paths, passcode, func(tok sensitive.String) error {
			ran = true
			if !f.issuerLive(tok.Reveal()) {
				t.Error("fn got a token that is not live")
			}
			return nil
		})
		return ran, err
	}
	if ran, err := run("db"); ran || !errors.Is(err, ErrWriteRequired) {
		t.Fatalf("Once without write = %v (ran %v)", err, ran)
	}
	mustAuthenticate(t, f)
	if _, err := f.m.Escalate(t.Context(), agent, "fix db", []string{"db"}, passcode); err != nil {
		t.Fatal(err)
	}
	if ran, err := run("other"); ran || !errors.Is(err, ErrPathNotGranted) {
		t.Fatalf("Once outside the write grant = %v (ran %v)", err, ran)
	}
	for i := range 2 {
		before := f.issuer.issueCount()
		if ran, err := run("db"); !ran || err != nil {
			t.Fatalf("Once #%d = %v (ran %v)", i, err, ran)
		}
		if f.issuer.issueCount() != before+1 {
			t.Fatalf("Once #%d did not ask the human", i)
		}
		last := f.issuer.requests[len(f.issuer.requests)-1]
		if last.Tier != Destroy || last.TTL != DefaultDestroyTTL || !cmp.Equal(last.Paths, []string{"db"}) || f.issuer.held[len(f.issuer.held)-1] != "tok-write-2" {
			t.Errorf("destroy request = %+v held %q", last, f.issuer.held[len(f.issuer.held)-1])
		}
	}
	// Every one-shot token is revoked; the write grant stays.
	for _, tok := range f.issuer.liveTokens() {
		if strings.HasPrefix(tok, "tok-destroy") {
			t.Errorf("one-shot token %s still live", tok)
		}
	}
	if f.tier() != Write {
		t.Errorf("tier = %v", f.tier())
	}
	if st := f.m.Status(agent); len(st.Grants) != 2 {
		t.Errorf("a one-shot grant was kept: %+v", st.Grants)
	}
}

func TestOnceDeniedRunsNothing(t *testing.T) {
	f := newFixture(t)
	mustAuthenticate(t, f)
	if _, err := f.m.Escalate(t.Context(), agent, "x", nil, passcode); err != nil {
		t.Fatal(err)
	}
	f.issuer.decide = func(_ context.Context, r Request) error {
		if r.Tier == Destroy {
			return ErrDenied
		}
		return nil
	}
	err := f.m.Once(t.Context(), agent, "x", "destroy_secret a", []string{"a"}, passcode, func(sensitive.String) error {
		t.Error("fn ran after a denial")
		return nil
	})
	if !errors.Is(err, ErrDenied) {
		t.Fatalf("Once = %v", err)
	}
}

func TestOnceIsNeverShared(t *testing.T) {
	f := newFixture(t)
	mustAuthenticate(t, f)
	if _, err := f.m.Escalate(t.Context(), agent, "x", nil, passcode); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	f.issuer.decide = func(_ context.Context, r Request) error {
		if r.Tier == Destroy {
			<-release
		}
		return nil
	}
	first := make(chan error)
	go func() {
		first <- f.m.Once(context.Background(), agent, "x", "destroy_secret a", []string{"a"}, passcode, func(sensitive.String) error { return nil })
	}()
	for len(f.m.Status(agent).Pending) == 0 {
		time.Sleep(time.Millisecond)
	}
	err := f.m.Once(t.Context(), agent, "x", "destroy_secret b", []string{"b"}, passcode, func(sensitive.String) error {
		t.Error("a second destroy ran on the first one's approval")
		return nil
	})
	if !errors.Is(err, ErrOncePending) {
		t.Errorf("second Once = %v, want ErrOncePending", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) issuerLive(tok string) bool {
	f.issuer.mu.Lock()
	defer f.issuer.mu.Unlock()
	return f.issuer.live[tok]
}

// TestPasscodeRefusedUnlessAccepted: without the operator's fallback, a
// passcode passed on is refused before anything is asked, for every step
// that takes one; without a passcode the same steps work.
func TestPasscodeRefusedUnlessAccepted(t *testing.T) {
	f := newFixture(t)
	f.m.opts.AcceptPasscode = false
	if _, err := f.m.Authenticate(t.Context(), agent, passcode); !errors.Is(err, ErrPasscodeRefused) {
		t.Fatalf("Authenticate with a passcode = %v, want ErrPasscodeRefused", err)
	}
	if n := f.issuer.issueCount(); n != 0 {
		t.Fatalf("the issuer was asked %d times for a refused passcode", n)
	}
	if _, err := f.m.Authenticate(t.Context(), agent, sensitive.String{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Escalate(t.Context(), agent, "rotate", nil, passcode); !errors.Is(err, ErrPasscodeRefused) {
		t.Fatalf("Escalate with a passcode = %v", err)
	}
	if _, err := f.m.Escalate(t.Context(), agent, "rotate", nil, sensitive.String{}); err != nil {
		t.Fatal(err)
	}
	err := f.m.Once(t.Context(), agent, "x", "destroy_secret a", []string{"a"}, passcode, func(sensitive.String) error {
		t.Error("fn ran with a refused passcode")
		return nil
	})
	if !errors.Is(err, ErrPasscodeRefused) {
		t.Fatalf("Once with a passcode = %v", err)
	}
	for _, r := range f.issuer.requests {
		if !r.Passcode.IsZero() {
			t.Errorf("request %s carried a passcode to the issuer", r.ID)
		}
	}
	if n := f.issuer.issueCount(); n != 2 {
		t.Errorf("issuer asked %d times, want 2 (read, write)", n)
	}
}

// TestOnceCallerLeaves: when the one caller of a destroy approval stops
// waiting, the token the approval brings afterwards is revoked unused.
func TestOnceCallerLeaves(t *testing.T) {
	f := newFixture(t)
	mustAuthenticate(t, f)
	if _, err := f.m.Escalate(t.Context(), agent, "x", nil, passcode); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	f.issuer.decide = func(_ context.Context, r Request) error {
		if r.Tier == Destroy {
			<-release
		}
		return nil
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() {
		done <- f.m.Once(ctx, agent, "x", "destroy_secret a", []string{"a"}, sensitive.String{}, func(sensitive.String) error {
			t.Error("fn ran for a caller that left")
			return nil
		})
	}()
	for len(f.m.Status(agent).Pending) == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Once = %v, want the caller's cancellation", err)
	}
	close(release)
	waitUntil(t, func() bool {
		for _, tok := range f.issuer.liveTokens() {
			if strings.HasPrefix(tok, "tok-destroy") {
				return false
			}
		}
		return len(f.issuer.revokedTokens()) > 0
	})
	var why []string
	for _, e := range f.audit.named(audit.GrantRevoked) {
		why = append(why, e.Detail)
	}
	if !slices.Contains(why, "one-shot destroy not used: its caller left") {
		t.Errorf("grant.revoked details %q, want the unused one-shot's", why)
	}
}

// waitUntil polls cond on real time: the revocation of an unused one-shot
// runs on its own goroutine.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestReadRenewalSpentWhenCallerLeft: a read whose client was handed the
// approval's page stops waiting; if that approval then fails, the renewal
// is still spent, so reads do not start approval after approval.
func TestReadRenewalSpentWhenCallerLeft(t *testing.T) {
	f := newFixture(t)
	release := make(chan struct{})
	f.issuer.setDecide(func(context.Context, Request) error {
		<-release
		return fmt.Errorf("%w: %w", ErrDenied, ErrWrongPasscode)
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() {
		_, err := f.m.ForRead(ctx, agent, "read_secret a")
		done <- err
	}()
	waitPending(t, f.m, agent)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("ForRead = %v, want the caller's cancellation", err)
	}
	close(release)
	waitUntil(t, func() bool { return len(f.m.Status(agent).Pending) == 0 })
	if _, err := f.m.ForRead(t.Context(), agent, "read_secret a"); !errors.Is(err, ErrNotAuthenticated) {
		t.Fatalf("read after the failed approval = %v, want ErrNotAuthenticated", err)
	}
	if n := f.issuer.issueCount(); n != 1 {
		t.Errorf("approvals asked = %d, want 1", n)
	}
}

// TestMalformedPasscodeRefusedFirst: a code no authenticator shows is
// refused before the approval limit is charged or the human or Vault is
// asked, for every step that takes one.
func TestMalformedPasscodeRefusedFirst(t *testing.T) {
	for _, code := range []string{"12ab", "12345", "12345678901", "\uff11\uff12\uff13\uff14\uff15\uff16", "123 456", "-12345"} {
		t.Run(code, func(t *testing.T) {
			f := newFixture(t)
			charged := 0
			f.m.opts.ApprovalLimit = func(Principal) (time.Duration, bool) {
				charged++
				return 0, true
			}
			bad := sensitive.New(code)
			if _, err := f.m.Authenticate(t.Context(), agent, bad); !errors.Is(err, ErrPasscodeMalformed) {
				t.Fatalf("Authenticate = %v, want ErrPasscodeMalformed", err)
			}
			mustAuthenticate(t, f)
			if _, err := f.m.Escalate(t.Context(), agent, "rotate", nil, bad); !errors.Is(err, ErrPasscodeMalformed) {
				t.Fatalf("Escalate = %v, want ErrPasscodeMalformed", err)
			}
			err := f.m.Once(t.Context(), agent, "x", "destroy_secret a", []string{"a"}, bad, func(sensitive.String) error {
				t.Error("fn ran with a malformed passcode")
				return nil
			})
			if !errors.Is(err, ErrPasscodeMalformed) {
				t.Fatalf("Once = %v, want ErrPasscodeMalformed", err)
			}
			if n := f.issuer.issueCount(); n != 1 || charged != 1 {
				t.Errorf("issuer asked %d times, limit charged %d times; want 1 and 1 (the good authenticate)", n, charged)
			}
		})
	}
	for _, code := range []string{"123456", "12345678", "0123456789"} {
		if !WellFormedPasscode(code) {
			t.Errorf("%q refused", code)
		}
	}
}
