package statuspage

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

// Recent keeps the last audit events for the page, in memory. It is one
// more recorder of the audit stream (beside the audit log and metrics), fed
// only with events the audit log accepted. It never fails: a page that
// cannot show an event must not stop a decision from being made.
type Recent struct {
	mu   sync.Mutex
	buf  []audit.Event
	next int  // where the next event goes
	full bool // buf has wrapped
	now  func() time.Time
}

// NewRecent keeps the last n events (at least 1).
func NewRecent(n int) *Recent {
	return &Recent{buf: make([]audit.Event, max(n, 1)), now: time.Now}
}

// Record keeps e, stamped as the audit log stamps it (time, correlation id
// from ctx, a required outcome), dropping the oldest event when full.
func (r *Recent) Record(ctx context.Context, e audit.Event) error {
	if e.Time.IsZero() {
		e.Time = r.now()
	}
	e.Time = e.Time.UTC()
	if e.CorrelationID == "" {
		e.CorrelationID = audit.CorrelationID(ctx)
	}
	if e.Outcome == "" {
		e.Outcome = audit.Failed
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf[r.next] = e
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
	return nil
}

// Events returns the kept events, newest first.
func (r *Recent) Events() []audit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []audit.Event
	if r.full {
		out = append(out, r.buf[r.next:]...)
	}
	out = append(out, r.buf[:r.next]...)
	slices.Reverse(out)
	return out
}
