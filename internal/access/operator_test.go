package access

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

const other Principal = "other"

// ids are the approval ids the issuer was asked about, in order.
func (f *fakeIssuer) ids() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.requests {
		out = append(out, r.ID)
	}
	return out
}

func (f *fakeIssuer) setDecide(d func(context.Context, Request) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.decide = d
}

// waitPending waits until p has an approval pending and returns its id
// (the model's: the fake issuer may not have seen the request yet).
func waitPending(t *testing.T, m *Manager, p Principal) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if pending := m.Status(p).Pending; len(pending) > 0 {
			return pending[0].ApprovalID
		}
		if time.Now().After(deadline) {
			t.Fatal("no approval became pending")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSnapshotShowsEveryPrincipalWithoutSecrets(t *testing.T) {
	f := newFixture(t)
	mustAuthenticate(t, f)
	if _, err := f.m.Authenticate(t.Context(), other, passcode); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.m.Escalate(t.Context(), other, "rotate", []string{"db/"}, passcode); err != nil {
		t.Fatal(err)
	}
	// A third principal's approval waits for the human.
	release := make(chan struct{})
	f.issuer.setDecide(func(ctx context.Context, r Request) error {
		if r.Principal != "third" {
			return nil
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return ErrDenied
	})
	done := make(chan error, 1)
	go func() {
		_, err := f.m.ForRead(context.Background(), "third", "read_secret app/db")
		done <- err
	}()
	waitPending(t, f.m, "third")
	// Pending as soon as it is claimed; asked once its request is on record.
	waitUntil(t, func() bool { return len(f.issuer.ids()) == 4 })
	f.clock.Advance(time.Minute)

	s := f.m.Snapshot()
	reqs := f.issuer.ids()
	now := t0.Add(2 * time.Minute)
	want := Snapshot{
		At: now,
		Grants: []GrantView{
			{Principal: agent, Tier: Read, Scope: "secret/agent/", IssuedAt: t0, ExpiresAt: t0.Add(DefaultReadTTL),
				SecondsLeft: int64((DefaultReadTTL - 2*time.Minute).Seconds()), ApprovalID: reqs[0], Accessor: "acc-tok-read-1"},
			{Principal: other, Tier: Read, Scope: "secret/agent/", IssuedAt: t0, ExpiresAt: t0.Add(DefaultReadTTL),
				SecondsLeft: int64((DefaultReadTTL - 2*time.Minute).Seconds()), ApprovalID: reqs[1], Accessor: "acc-tok-read-2"},
			{Principal: other, Tier: Write, Scope: "secret/agent/", Paths: []string{"db/"}, IssuedAt: t0.Add(time.Minute),
				ExpiresAt: t0.Add(time.Minute + DefaultWriteTTL), SecondsLeft: int64((DefaultWriteTTL - time.Minute).Seconds()),
				ApprovalID: reqs[2], Accessor: "acc-tok-write-3"},
		},
		Pending: []PendingView{{
			Principal: "third", Tier: Read, ApprovalID: reqs[3], Reason: "read access, started by a read",
			Trigger: "read_secret app/db", Requested: t0.Add(time.Minute), Expires: t0.Add(time.Minute + DefaultApprovalTimeout),
		}},
	}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("snapshot mismatch (-want +got):\n%s", diff)
	}
	// Tokens are "tok-…", accessors "acc-tok-…": only the latter may show.
	if text := fmt.Sprintf("%+v", s); strings.Count(text, "tok-") != strings.Count(text, "acc-tok-") || strings.Contains(text, passcode.Reveal()) {
		t.Errorf("the snapshot shows a token or a passcode: %s", text)
	}
	close(release)
	<-done //nolint:errcheck // waiting for the call to end; its result is not under test
}

func TestRevokeGrant(t *testing.T) {
	tests := []struct {
		name     string
		tier     Tier
		approval func(ids []string) string
		want     error
		left     Tier     // the agent's tier afterwards
		revoked  []string // tokens revoked in Vault
	}{
		{"ok/write", Write, func(ids []string) string { return ids[1] }, nil, Read, []string{"tok-write-2"}},
		{"ok/read-takes-write-with-it", Read, func(ids []string) string { return ids[0] }, nil, None, []string{"tok-read-1", "tok-write-2"}},
		{"fail/another-approval", Write, func(ids []string) string { return ids[0] }, ErrNoSuchGrant, Write, nil},
		{"fail/no-approval-id", Read, func([]string) string { return "" }, ErrNoSuchGrant, Write, nil},
		{"fail/destroy-is-never-held", Destroy, func(ids []string) string { return ids[1] }, ErrNoSuchGrant, Write, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			mustAuthenticate(t, f)
			if _, err := f.m.Escalate(t.Context(), agent, "deploy", nil, passcode); err != nil {
				t.Fatal(err)
			}
			rev, err := f.m.RevokeGrant(t.Context(), agent, tc.tier, tc.approval(f.issuer.ids()))
			if !errors.Is(err, tc.want) {
				t.Fatalf("RevokeGrant() error = %v, want %v", err, tc.want)
			}
			if f.tier() != tc.left {
				t.Errorf("tier afterwards = %v, want %v", f.tier(), tc.left)
			}
			if diff := cmp.Diff(tc.revoked, f.issuer.revokedTokens()); diff != "" {
				t.Errorf("revoked in vault (-want +got):\n%s", diff)
			}
			var got []string
			for _, g := range rev.Grants {
				got = append(got, g.Accessor)
			}
			var want []string
			for _, tok := range tc.revoked {
				want = append(want, "acc-"+tok)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Revocation.Grants accessors (-want +got):\n%s", diff)
			}
			revokedEvents := f.audit.named(audit.GrantRevoked)
			if len(revokedEvents) != len(tc.revoked) {
				t.Fatalf("grant.revoked events = %+v, want %d", revokedEvents, len(tc.revoked))
			}
			for _, ev := range revokedEvents {
				if ev.Detail != "revoked by an operator" || ev.Outcome != audit.OK || ev.Principal != string(agent) || ev.Accessor == "" {
					t.Errorf("grant.revoked event = %+v", ev)
				}
			}
		})
	}
}

func TestRevokeGrantThatEndedChangesNothing(t *testing.T) {
	f := newFixture(t)
	mustAuthenticate(t, f)
	if _, err := f.m.Escalate(t.Context(), agent, "deploy", nil, passcode); err != nil {
		t.Fatal(err)
	}
	write := f.issuer.ids()[1]
	f.clock.Advance(DefaultWriteTTL) // the write grant the operator saw expires
	revoked := f.issuer.revokedTokens()
	if _, err := f.m.RevokeGrant(t.Context(), agent, Write, write); !errors.Is(err, ErrNoSuchGrant) {
		t.Fatalf("revoking an expired grant = %v, want ErrNoSuchGrant", err)
	}
	// A new write grant from another approval is not the one seen.
	if _, err := f.m.Escalate(t.Context(), agent, "deploy again", nil, passcode); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.RevokeGrant(t.Context(), agent, Write, write); !errors.Is(err, ErrNoSuchGrant) {
		t.Fatalf("revoking a replaced grant = %v, want ErrNoSuchGrant", err)
	}
	if _, err := f.m.RevokeGrant(t.Context(), "nobody", Read, write); !errors.Is(err, ErrNoSuchGrant) {
		t.Fatalf("revoking an unknown principal's grant = %v, want ErrNoSuchGrant", err)
	}
	if f.tier() != Write {
		t.Errorf("tier = %v, want the new write grant untouched", f.tier())
	}
	if diff := cmp.Diff(revoked, f.issuer.revokedTokens()); diff != "" {
		t.Errorf("revocations after refused requests (-want +got):\n%s", diff)
	}
	if n := len(f.audit.named(audit.GrantRevoked)); n != 0 {
		t.Errorf("grant.revoked events = %d, want none", n)
	}
}

// After an operator cut read access, the agent's next read asks nobody: it
// is told an operator revoked its access and to authenticate, and only
// that explicit call asks the human.
func TestAfterOperatorRevocationAReadNeedsAuthenticate(t *testing.T) {
	f := newFixture(t)
	mustAuthenticate(t, f)
	if _, err := f.m.ForRead(t.Context(), agent, "read_secret a"); err != nil {
		t.Fatal(err)
	}
	rev, err := f.m.RevokeAgent(t.Context(), agent)
	if err != nil {
		t.Fatal(err)
	}
	if len(rev.Grants) != 1 || rev.Grants[0].Tier != Read || len(rev.Failed) != 0 {
		t.Errorf("revocation = %+v", rev)
	}
	for range 2 {
		if _, err := f.m.ForRead(t.Context(), agent, "read_secret a"); !errors.Is(err, ErrNotAuthenticated) || !errors.Is(err, ErrRevoked) {
			t.Fatalf("read after operator revocation = %v, want ErrRevoked and ErrNotAuthenticated", err)
		}
	}
	if _, err := f.m.ForWrite(agent, "a"); !errors.Is(err, ErrWriteRequired) || !errors.Is(err, ErrRevoked) {
		t.Errorf("write after operator revocation = %v, want ErrRevoked and ErrWriteRequired", err)
	}
	if n := f.issuer.issueCount(); n != 1 {
		t.Fatalf("approvals = %d, want 1: a read after revocation must not ask the human by itself", n)
	}
	mustAuthenticate(t, f)
	if _, err := f.m.ForRead(t.Context(), agent, "read_secret a"); err != nil {
		t.Fatalf("read after a new approval = %v", err)
	}
	if n := f.issuer.issueCount(); n != 2 {
		t.Errorf("approvals = %d, want 2", n)
	}
}

func TestRevokeAgent(t *testing.T) {
	f := newFixture(t)
	if _, err := f.m.RevokeAgent(t.Context(), agent); !errors.Is(err, ErrNothingToRevoke) {
		t.Fatalf("RevokeAgent of an agent never seen = %v, want ErrNothingToRevoke", err)
	}
	mustAuthenticate(t, f)
	if _, err := f.m.Escalate(t.Context(), agent, "deploy", []string{"db"}, passcode); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Authenticate(t.Context(), other, passcode); err != nil {
		t.Fatal(err)
	}
	rev, err := f.m.RevokeAgent(t.Context(), agent)
	if err != nil {
		t.Fatal(err)
	}
	if len(rev.Grants) != 2 || rev.Principal != agent {
		t.Errorf("revocation = %+v, want read and write", rev)
	}
	if f.tier() != None {
		t.Errorf("tier = %v, want none", f.tier())
	}
	if got := f.m.Status(other).Tier; got != Read {
		t.Errorf("the other principal's tier = %v, want its read untouched", got)
	}
	if diff := cmp.Diff([]string{"tok-read-1", "tok-write-2"}, f.issuer.revokedTokens()); diff != "" {
		t.Errorf("revoked (-want +got):\n%s", diff)
	}
	if _, err := f.m.RevokeAgent(t.Context(), agent); !errors.Is(err, ErrNothingToRevoke) {
		t.Errorf("second RevokeAgent = %v, want ErrNothingToRevoke", err)
	}
	// Expiry timers of revoked grants do nothing.
	f.clock.Advance(DefaultReadTTL)
	if n := len(f.issuer.revokedTokens()); n != 3 { // and other's read expires
		t.Errorf("revocations = %d, want 3", n)
	}
}

func TestRevokeCancelsPendingApproval(t *testing.T) {
	f := newFixture(t)
	f.issuer.setDecide(func(ctx context.Context, _ Request) error {
		<-ctx.Done() // the human has not answered yet
		return ctx.Err()
	})
	done := make(chan error, 1)
	go func() {
		_, err := f.m.Authenticate(context.Background(), agent, passcode)
		done <- err
	}()
	id := waitPending(t, f.m, agent)
	rev, err := f.m.RevokeAgent(t.Context(), agent)
	if err != nil {
		t.Fatal(err)
	}
	if len(rev.Cancelled) != 1 || rev.Cancelled[0].Tier != Read || rev.Cancelled[0].ApprovalID != id {
		t.Errorf("cancelled = %+v", rev.Cancelled)
	}
	err = <-done
	if !errors.Is(err, ErrRevoked) || !errors.Is(err, ErrNotAuthenticated) {
		t.Fatalf("Authenticate() = %v, want ErrRevoked and ErrNotAuthenticated", err)
	}
	decided := f.audit.named(audit.ApprovalDecided)
	if len(decided) != 1 || decided[0].Outcome != audit.Failed || decided[0].Detail != "revoked by an operator" {
		t.Errorf("approval.decided = %+v", decided)
	}
	if st := f.m.Status(agent); st.Tier != None || len(st.Pending) != 0 {
		t.Errorf("status = %+v", st)
	}
}

// An approval that completes just after the operator revoked, because its
// approver did not stop in time, still gives nothing.
func TestApprovalFinishingAfterRevocationGivesNothing(t *testing.T) {
	f := newFixture(t)
	mustAuthenticate(t, f)
	proceed := make(chan struct{})
	f.issuer.setDecide(func(context.Context, Request) error {
		<-proceed // approves, ignoring the cancellation
		return nil
	})
	done := make(chan error, 1)
	go func() {
		_, err := f.m.Escalate(context.Background(), agent, "deploy", nil, sensitive.String{})
		done <- err
	}()
	waitPending(t, f.m, agent)
	rev, err := f.m.RevokeGrant(t.Context(), agent, Read, f.issuer.ids()[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(rev.Grants) != 1 || len(rev.Cancelled) != 1 || rev.Cancelled[0].Tier != Write || rev.Cancelled[0].Reason != "deploy" {
		t.Errorf("revocation = %+v", rev)
	}
	close(proceed)
	if err := <-done; !errors.Is(err, ErrRevoked) || !errors.Is(err, ErrWriteRequired) {
		t.Fatalf("Escalate() = %v, want ErrRevoked and ErrWriteRequired", err)
	}
	f.m.wg.Wait() // the unused token is revoked after the callers are told
	if f.tier() != None {
		t.Errorf("tier = %v, want none", f.tier())
	}
	if live := f.issuer.liveTokens(); len(live) != 0 {
		t.Errorf("live tokens: %v", live)
	}
	var details []string
	for _, ev := range f.audit.named(audit.GrantRevoked) {
		details = append(details, ev.Tier+": "+ev.Detail)
	}
	if diff := cmp.Diff([]string{"read: revoked by an operator", "write: revoked by an operator"}, details); diff != "" {
		t.Errorf("grant.revoked (-want +got):\n%s", diff)
	}
}

func TestRevokeThatVaultRefusesIsReported(t *testing.T) {
	f := newFixture(t)
	mustAuthenticate(t, f)
	f.issuer.revokeErr = errors.New("vault down")
	rev, err := f.m.RevokeAgent(t.Context(), agent)
	if err == nil {
		t.Fatal("RevokeAgent() reported success although Vault refused")
	}
	if len(rev.Failed) != 1 || rev.Failed[0].Accessor != "acc-tok-read-1" {
		t.Errorf("failed = %+v", rev.Failed)
	}
	if strings.Contains(err.Error(), "tok-read-1") && !strings.Contains(err.Error(), "acc-tok-read-1") {
		t.Errorf("error shows the token: %v", err)
	}
	if f.tier() != None {
		t.Errorf("tier = %v: the grant ends here even when Vault is down", f.tier())
	}
	if diff := cmp.Diff([]audit.Outcome{audit.Failed}, f.audit.outcomes(audit.RevokeFailed)); diff != "" {
		t.Errorf("grant.revoke_failed (-want +got):\n%s", diff)
	}
}

// TestLogoutCancelsPendingApproval: an approval still waiting for the human
// when the agent logs out gives nothing, however the human answers, and is
// recorded as cancelled by the logout.
func TestLogoutCancelsPendingApproval(t *testing.T) {
	f := newFixture(t)
	f.issuer.setDecide(func(ctx context.Context, _ Request) error {
		<-ctx.Done() // the human has not answered yet
		return ctx.Err()
	})
	done := make(chan error, 1)
	go func() {
		_, err := f.m.Authenticate(context.Background(), agent, passcode)
		done <- err
	}()
	waitPending(t, f.m, agent)
	st, err := f.m.Logout(t.Context(), agent)
	if err != nil || st.Tier != None {
		t.Fatalf("Logout() = %+v, %v", st, err)
	}
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the approval kept running after logout")
	}
	if !errors.Is(err, ErrLoggedOut) || !errors.Is(err, ErrNotAuthenticated) {
		t.Fatalf("Authenticate() = %v, want ErrLoggedOut and ErrNotAuthenticated", err)
	}
	decided := f.audit.named(audit.ApprovalDecided)
	if len(decided) != 1 || decided[0].Outcome != audit.Failed || decided[0].Detail != "cancelled by logout" {
		t.Errorf("approval.decided = %+v", decided)
	}
	if st := f.m.Status(agent); st.Tier != None || len(st.Pending) != 0 {
		t.Errorf("status = %+v", st)
	}
}

// An operator's revocation of write alone is what the next write is told;
// reads go on, and a new write grant (or the agent's own release) ends
// the notice.
func TestAfterOperatorRevokedWriteTheWriteIsTold(t *testing.T) {
	f := newFixture(t)
	mustAuthenticate(t, f)
	st, err := f.m.Escalate(t.Context(), agent, "deploy", nil, passcode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.RevokeGrant(t.Context(), agent, Write, st.Grants[1].ApprovalID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.ForWrite(agent, "a"); !errors.Is(err, ErrRevoked) || !errors.Is(err, ErrWriteRequired) {
		t.Fatalf("write after the revocation = %v, want ErrRevoked and ErrWriteRequired", err)
	}
	if _, err := f.m.ForRead(t.Context(), agent, "read_secret a"); err != nil {
		t.Fatalf("read after write was revoked = %v", err)
	}
	if _, err := f.m.Escalate(t.Context(), agent, "deploy again", nil, passcode); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.ForWrite(agent, "a"); err != nil {
		t.Fatalf("write after a new approval = %v", err)
	}
	if _, err := f.m.Release(t.Context(), agent); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.ForWrite(agent, "a"); !errors.Is(err, ErrWriteRequired) || errors.Is(err, ErrRevoked) {
		t.Errorf("write after the agent's own release = %v, want ErrWriteRequired alone", err)
	}
}
