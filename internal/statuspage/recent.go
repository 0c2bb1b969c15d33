package statuspage

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

// Recent keeps the last audit events for the page, in memory. It is one
// more recorder of the audit stream (beside the audit log and metrics), fed
// only with events the audit log accepted. It never fails: a page that
// cannot show an event must not stop a decision from being made.
//
// An agent's routine successful authentications (one per HTTP request)
// would push everything else out of the list: they are counted per agent
// instead (how many, the last one), and shown as one folded row. The times
// of each agent's approval requests in the last chartWindow are kept for
// the approvals-over-time chart. Both are bounded: at most maxTracked
// agents (the one active longest ago goes first) and maxTimes request
// times per agent.
type Recent struct {
	mu   sync.Mutex
	buf  []audit.Event
	next int  // where the next event goes
	full bool // buf has wrapped
	now  func() time.Time

	agents map[string]*tracked
}

// tracked is what Recent counts of one agent.
type tracked struct {
	auths     int       // routine successful authentications
	lastAuth  time.Time // the last of them
	requests  []time.Time
	lastEvent time.Time // of any kind: the least recent agent goes first
}

const (
	// maxTracked bounds the agents Recent counts for.
	maxTracked = 64
	// maxTimes bounds the approval request times kept per agent: a
	// looping agent is plain long before that.
	maxTimes = 1000
)

// NewRecent keeps the last n events (at least 1).
func NewRecent(n int) *Recent {
	return &Recent{buf: make([]audit.Event, max(n, 1)), now: time.Now, agents: map[string]*tracked{}}
}

// routine is an agent's successful authentication of one request: many
// per minute, each alike. The operator's sign-ins are not routine.
func routine(e audit.Event) bool {
	return e.Event == audit.Authentication && e.Outcome == audit.OK && e.Method != operatorMethod
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
	if e.Principal != "" && e.Method != operatorMethod { // agents, not the operator
		a := r.track(e.Principal, e.Time)
		switch {
		case routine(e):
			a.auths++
			a.lastAuth = latest(a.lastAuth, e.Time)
			return nil
		case e.Event == audit.ApprovalRequested:
			a.requests = append(a.requests, e.Time)
			cut := e.Time.Add(-chartWindow)
			a.requests = slices.DeleteFunc(a.requests, func(t time.Time) bool { return t.Before(cut) })
			if n := len(a.requests); n > maxTimes {
				a.requests = slices.Delete(a.requests, 0, n-maxTimes)
			}
		}
	}
	r.buf[r.next] = e
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
	return nil
}

// track returns p's counts, making room for a new agent by dropping the
// one whose last event is oldest. r.mu must be held.
func (r *Recent) track(p string, at time.Time) *tracked {
	a := r.agents[p]
	if a == nil {
		if len(r.agents) >= maxTracked {
			var oldest string
			var first time.Time
			for name, o := range r.agents {
				if oldest == "" || o.lastEvent.Before(first) {
					oldest, first = name, o.lastEvent
				}
			}
			delete(r.agents, oldest)
		}
		a = &tracked{}
		r.agents[p] = a
	}
	a.lastEvent = latest(a.lastEvent, at)
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Events returns the kept events, newest first; routine authentications
// are not among them (see folds).
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

// foldedAuths is one agent's routine successful authentications.
type foldedAuths struct {
	Principal string
	Count     int
	Last      time.Time
}

// folds returns each agent's routine successful authentications, the
// most recent first.
func (r *Recent) folds() []foldedAuths {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []foldedAuths
	for p, a := range r.agents {
		if a.auths > 0 {
			out = append(out, foldedAuths{Principal: p, Count: a.auths, Last: a.lastAuth})
		}
	}
	slices.SortFunc(out, func(a, b foldedAuths) int {
		return cmp.Or(b.Last.Compare(a.Last), cmp.Compare(a.Principal, b.Principal))
	})
	return out
}

// agentNames returns the agents Recent counts for, sorted.
func (r *Recent) agentNames() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(maps.Keys(r.agents))
}

// requestTimes returns the times of each agent's approval requests kept.
func (r *Recent) requestTimes() map[string][]time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]time.Time{}
	for p, a := range r.agents {
		if len(a.requests) > 0 {
			out[p] = slices.Clone(a.requests)
		}
	}
	return out
}
