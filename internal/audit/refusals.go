package audit

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// A failed authentication costs the sender nothing, so if each one were
// written, anyone who can reach Gatekeeper could fill its audit log as fast
// as they send requests. The Log counts them instead: per source, reason
// and claimed identity, the first refusal is written at once and the ones
// that follow are written, once per window, as one record whose count says
// how many it stands for. A steady flood writes one record per key per
// window. At most maxRefusalKeys keys are tracked; refusals beyond them are
// counted under one overflow key. Every refusal is counted and none is
// lost; a successful authentication is written each time, as every other
// decision.

// DefaultRefusalWindow is how long refusals are counted before their count
// is written.
const DefaultRefusalWindow = 10 * time.Second

// maxRefusalKeys bounds the memory the counts take.
const maxRefusalKeys = 1024

// overflowDetail is the detail of the record counting refusals beyond
// maxRefusalKeys keys.
const overflowDetail = "refusals from more sources and reasons than are counted apart"

type refusalKey struct {
	outcome                                         Outcome
	source, api, method, principal, tool, path, det string
}

type refusals struct {
	l      *Log
	window time.Duration

	mu     sync.Mutex
	counts map[refusalKey]int64 // refusals not yet written, per key seen this window
	stop   func() bool          // cancels the armed flush; nil when none is armed
	closed bool
	// flushing is a flush writing its records, which close waits for.
	flushing sync.WaitGroup
}

func newRefusals(l *Log, window time.Duration) *refusals {
	if window <= 0 {
		window = DefaultRefusalWindow
	}
	return &refusals{l: l, window: window, counts: map[refusalKey]int64{}}
}

// absorb counts e if it is a failed authentication already written once
// this window, and reports whether it did; the caller writes e otherwise.
func (r *refusals) absorb(e Event) bool {
	if e.Event != Authentication || e.Outcome == OK {
		return false
	}
	k := refusalKey{outcome: e.Outcome, source: e.Source, api: e.API, method: e.Method, principal: e.Principal, tool: e.Tool, path: e.Path, det: e.Detail}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	n, seen := r.counts[k]
	if !seen && len(r.counts) >= maxRefusalKeys {
		k = refusalKey{outcome: e.Outcome, det: overflowDetail}
		n, seen = r.counts[k]
	}
	if !seen {
		r.counts[k] = 0
		if r.stop == nil {
			r.stop = r.l.clock.AfterFunc(r.window, r.flush)
		}
		return false
	}
	r.counts[k] = n + 1
	return true
}

// flush writes the window's counts. A key that saw refusals stays for the
// next window; a quiet one is forgotten, so its next refusal is written at
// once.
func (r *refusals) flush() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.flushing.Add(1)
	defer r.flushing.Done()
	out := r.take(true)
	r.stop = nil
	if len(r.counts) > 0 {
		r.stop = r.l.clock.AfterFunc(r.window, r.flush)
	}
	r.mu.Unlock()
	r.write(out)
}

// close writes what is still counted; later refusals are written each.
func (r *refusals) close() {
	r.mu.Lock()
	r.closed = true
	if r.stop != nil {
		r.stop()
		r.stop = nil
	}
	out := r.take(false)
	r.mu.Unlock()
	r.flushing.Wait() // before the Log closes under it
	r.write(out)
}

// take returns the records of the counts and resets them, keeping the keys
// that saw refusals if keep.
func (r *refusals) take(keep bool) []Event {
	var out []Event
	now := r.l.clock.Now().UTC()
	for k, n := range r.counts {
		if n > 0 {
			out = append(out, Event{
				Time: now, Event: Authentication, Outcome: k.outcome, Source: k.source, API: k.api, Method: k.method,
				Principal: k.principal, Tool: k.tool, Path: k.path, Detail: k.det, Count: n,
			})
		}
		if n > 0 && keep {
			r.counts[k] = 0
		} else {
			delete(r.counts, k)
		}
	}
	return out
}

func (r *refusals) write(out []Event) {
	for _, e := range out {
		if err := r.l.write(context.Background(), e); err != nil {
			r.l.opts.Logger.Error("AUDIT RECORD LOST: a count of failed authentications", "count", e.Count, "source", e.Source, "err", err)
		}
	}
}

// Peer is the address an HTTP request came from (http.Request.RemoteAddr)
// without its port, which changes with every connection: the Source of an
// authentication event.
func Peer(remoteAddr string) string {
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		return ap.Addr().Unmap().String()
	}
	return remoteAddr
}
