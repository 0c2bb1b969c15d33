package access

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

// A decision that cannot be recorded does not take effect: no human is asked
// when the request cannot be recorded, and a token whose grant cannot be
// recorded is revoked at once.
func TestUnrecordedDecisionsGrantNothing(t *testing.T) {
	tests := []struct {
		name     string
		failOn   string
		asked    int // approvals that reached the human
		revoked  int // tokens revoked at once
		decision []audit.Outcome
	}{
		{name: "fail/request", failOn: audit.ApprovalRequested, asked: 0, revoked: 0, decision: []audit.Outcome{audit.Failed}},
		{name: "fail/decision", failOn: audit.ApprovalDecided, asked: 1, revoked: 1, decision: nil},
		{name: "fail/grant", failOn: audit.GrantIssued, asked: 1, revoked: 1, decision: []audit.Outcome{audit.OK}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.audit.failOn(tt.failOn)
			_, err := f.m.Authenticate(t.Context(), agent, passcode)
			if !errors.Is(err, audit.ErrUnavailable) {
				t.Fatalf("Authenticate() error = %v, want audit.ErrUnavailable", err)
			}
			if got := f.tier(); got != None {
				t.Errorf("tier = %s, want none", got)
			}
			if n := f.issuer.issueCount(); n != tt.asked {
				t.Errorf("approvals asked = %d, want %d", n, tt.asked)
			}
			if n := len(f.issuer.revokedTokens()); n != tt.revoked {
				t.Errorf("tokens revoked = %d, want %d", n, tt.revoked)
			}
			if live := f.issuer.liveTokens(); len(live) != 0 {
				t.Errorf("live tokens = %v, want none", live)
			}
			if diff := cmp.Diff(tt.decision, f.audit.outcomes(audit.ApprovalDecided)); diff != "" {
				t.Errorf("approval.decided outcomes (-want +got):\n%s", diff)
			}

			// Once the audit log works again, so does the next approval.
			f.audit.failOn()
			if _, err := f.m.Authenticate(t.Context(), agent, passcode); err != nil {
				t.Fatalf("Authenticate() after recovery: %v", err)
			}
			if got := f.tier(); got != Read {
				t.Errorf("tier after recovery = %s, want read", got)
			}
		})
	}
}

// Access that ends, ends whether or not its record can be written.
func TestEndingAccessDoesNotNeedTheAuditLog(t *testing.T) {
	f := newFixture(t)
	mustAuthenticate(t, f)
	f.audit.failOn(audit.GrantReleased)
	if _, err := f.m.Logout(t.Context(), agent); err != nil {
		t.Fatal(err)
	}
	if live := f.issuer.liveTokens(); len(live) != 0 {
		t.Errorf("live tokens after logout = %v, want none", live)
	}
}

// Events that end a grant say how long it lived; the approval's decision
// says how long the human took.
func TestEventsCarryDurations(t *testing.T) {
	f := newFixture(t)
	mustAuthenticate(t, f)
	if _, err := f.m.Escalate(t.Context(), agent, "rotate", []string{"db/"}, passcode); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(3 * time.Minute)
	if _, err := f.m.Release(t.Context(), agent); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(DefaultReadTTL) // the read grant expires

	released := f.audit.named(audit.GrantReleased)
	if len(released) != 1 || released[0].Tier != "write" || released[0].LifetimeMS != (3*time.Minute).Milliseconds() || released[0].Path != "db/" {
		t.Errorf("grant.released = %+v, want the write grant after 3m on db/", released)
	}
	expired := f.audit.named(audit.GrantExpired)
	if len(expired) != 1 || expired[0].Tier != "read" || expired[0].LifetimeMS != DefaultReadTTL.Milliseconds() {
		t.Errorf("grant.expired = %+v, want the read grant after %s", expired, DefaultReadTTL)
	}
	for _, e := range f.audit.named(audit.ApprovalDecided) {
		if e.LifetimeMS != 0 {
			t.Errorf("approval.decided = %+v, want its wait in elapsed_ms, no lifetime", e)
		}
	}
	for _, e := range f.audit.named(audit.GrantIssued) {
		if e.Accessor == "" || e.ApprovalID == "" || e.LifetimeMS != 0 {
			t.Errorf("grant.issued = %+v, want accessor and approval id, no duration", e)
		}
	}
	for _, e := range f.audit.named(audit.ApprovalRequested) {
		if e.ExpiresAt.IsZero() {
			t.Errorf("approval.requested = %+v, want the request's expiry", e)
		}
	}
}
