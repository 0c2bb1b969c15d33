package soak

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

// Event is an audit record as the checks read it.
type Event struct {
	Seq        uint64    `json:"seq"`
	Time       time.Time `json:"time"`
	Event      string    `json:"event"`
	Outcome    string    `json:"outcome"`
	Principal  string    `json:"principal"`
	Tool       string    `json:"tool"`
	Path       string    `json:"path"`
	Tier       string    `json:"tier"`
	ApprovalID string    `json:"approval_id"`
	Accessor   string    `json:"accessor"`
	ExpiresAt  time.Time `json:"expires_at"`
	Detail     string    `json:"detail"`
	ElapsedMS  int64     `json:"elapsed_ms"`
	// Epoch is the process that wrote the record: every start records
	// config.loaded first, so the n-th one opens epoch n.
	Epoch int `json:"-"`
}

// ReadTrail reads audit files in order and numbers the processes that
// wrote them.
func ReadTrail(paths ...string) ([]Event, error) {
	var out []Event
	epoch := 0
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("reading the audit trail: %w", err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for n := 1; sc.Scan(); n++ {
			var e Event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				_ = f.Close()
				return nil, fmt.Errorf("audit file %s line %d: %w", p, n, err)
			}
			if e.Event == audit.ConfigLoaded {
				epoch++
			}
			e.Epoch = epoch
			out = append(out, e)
		}
		err = sc.Err()
		_ = f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading the audit trail: %w", err)
		}
	}
	return out, nil
}

// Grant is a grant as the audit trail tells it.
type Grant struct {
	Accessor   string
	Principal  string
	Tier       string
	ApprovalID string
	Epoch      int
	Issued     time.Time
	IssuedSeq  uint64
	ExpiresAt  time.Time
	// EndEvent is the record that ended it ("" if none did: a killed
	// process ends nothing) and Ended its time.
	EndEvent string
	Ended    time.Time
}

// End is when the grant stopped giving access: its end on record, or its
// expiry, whichever came first.
func (g *Grant) End() time.Time {
	if !g.Ended.IsZero() && g.Ended.Before(g.ExpiresAt) {
		return g.Ended
	}
	return g.ExpiresAt
}

// TokenRevoked says Gatekeeper revoked the token (or found it dead)
// when the grant ended; otherwise it lives until its TTL.
func (g *Grant) TokenRevoked() bool {
	switch g.EndEvent {
	case audit.GrantExpired, audit.GrantReleased, audit.GrantRevoked, audit.GrantLost:
		return true
	}
	return false
}

// LiveAt says the grant is in force at t: issued, not ended, not expired.
func (g *Grant) LiveAt(t time.Time) bool {
	return !t.Before(g.Issued) && t.Before(g.End())
}

// Approval is an approval request as the trail tells it.
type Approval struct {
	ID        string
	Principal string
	Tier      string
	Epoch     int
	Requested time.Time
	Outcome   string // of approval.decided; "" if the process died first
	Accessor  string // of the token it produced, if any
}

// Trail is the audit trail read back: events, grants and approvals.
type Trail struct {
	Events    []Event
	Grants    map[string]*Grant    // by accessor
	Approvals map[string]*Approval // by id
	Epochs    int
}

// NewTrail indexes events.
func NewTrail(events []Event) *Trail {
	t := &Trail{Events: events, Grants: map[string]*Grant{}, Approvals: map[string]*Approval{}}
	for _, e := range events {
		t.Epochs = max(t.Epochs, e.Epoch)
		switch e.Event {
		case audit.ApprovalRequested:
			t.Approvals[e.ApprovalID] = &Approval{ID: e.ApprovalID, Principal: e.Principal, Tier: e.Tier, Epoch: e.Epoch, Requested: e.Time}
		case audit.ApprovalDecided:
			if a := t.Approvals[e.ApprovalID]; a != nil {
				a.Outcome, a.Accessor = e.Outcome, e.Accessor
			}
		case audit.GrantIssued:
			if e.Accessor != "" {
				t.Grants[e.Accessor] = &Grant{
					Accessor: e.Accessor, Principal: e.Principal, Tier: e.Tier, ApprovalID: e.ApprovalID,
					Epoch: e.Epoch, Issued: e.Time, IssuedSeq: e.Seq, ExpiresAt: e.ExpiresAt,
				}
			}
		case audit.GrantExpired, audit.GrantReleased, audit.GrantRevoked, audit.GrantLost, audit.RevokeFailed:
			if g := t.Grants[e.Accessor]; g != nil && g.EndEvent == "" {
				g.EndEvent, g.Ended = e.Event, e.Time
			}
		}
	}
	return t
}

// Live returns the grants of epoch that are in force at now.
func (t *Trail) Live(epoch int, now time.Time) []*Grant {
	var out []*Grant
	for _, g := range t.Grants {
		if g.Epoch == epoch && g.LiveAt(now) {
			out = append(out, g)
		}
	}
	return out
}
