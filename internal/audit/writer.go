package audit

import (
	"errors"
	"fmt"
	"sync"
)

// The Log seals a record under its mutex (seq, prev and MAC, in chain
// order) and hands it to one writer goroutine per sink, then lets go: a
// slow sink delays the records behind it in that sink, never the sealing
// of the next decision. The caller still waits until every sink has
// answered for its own record, so a decision that cannot be recorded does
// not take effect.
//
// A record no sink took is not part of the chain. The records sealed after
// it link to it, so they are dropped unwritten and refused too (their
// decisions do not take effect either), and the chain goes back to the
// last record a sink holds: no copy of the log ever shows a gap that is
// not a real loss in that copy. A sink that failed a record waits for the
// record's outcome in the other sinks before writing the next one, so it
// never writes a record whose predecessor nobody holds.

// errDropped refuses a record sealed after one that no sink took.
var errDropped = errors.New("dropped: an earlier record was lost, so the chain went back past this one")

// pending is one sealed record on its way to the sinks.
type pending struct {
	line  []byte
	head  Head   // the chain's head once this record is held
	epoch uint64 // the chain's epoch when it was sealed
	done  chan struct{}

	mu        sync.Mutex
	remaining int // sinks yet to answer
	held      bool
	errs      []error
}

// writer feeds one sink, in chain order. Its queue never blocks the
// sealing (which holds the Log's mutex); it is bounded by the callers, each
// of whom waits for its own record.
type writer struct {
	sink Sink
	wake chan struct{}

	mu     sync.Mutex
	queue  []*pending
	closed bool
}

func newWriter(s Sink) *writer { return &writer{sink: s, wake: make(chan struct{}, 1)} }

func (w *writer) push(p *pending) {
	w.mu.Lock()
	w.queue = append(w.queue, p)
	w.mu.Unlock()
	w.signal()
}

// stop ends the writer once its queue is empty.
func (w *writer) stop() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.signal()
}

func (w *writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// next returns done, emptied, for reuse and waits for the records queued
// since; none once stopped and drained.
func (w *writer) next(done []*pending) []*pending {
	clear(done)
	for {
		w.mu.Lock()
		batch, closed := w.queue, w.closed
		if len(batch) > 0 {
			w.queue = done[:0]
		}
		w.mu.Unlock()
		if len(batch) > 0 || closed {
			return batch
		}
		<-w.wake
	}
}

func (l *Log) runWriter(w *writer) {
	defer l.writers.Done()
	var batch []*pending
	for {
		batch = w.next(batch)
		if len(batch) == 0 {
			return // stopped
		}
		for _, p := range batch {
			var err error
			if l.stale(p) {
				err = errDropped
			} else if err = w.sink.Write(p.line); err != nil {
				err = fmt.Errorf("%s: %w", w.sink.Name(), err)
			}
			l.answer(p, err)
			if err != nil {
				// Write the next record only once this one's fate is
				// known: if no sink took it, the next one is dropped.
				<-p.done
			}
		}
	}
}

// stale reports whether p was sealed before the chain went back. The
// writers read the epoch without the Log's mutex: a change to it that
// concerns p happened before the done of the record that made it, which
// every writer waited for before coming to p.
func (l *Log) stale(p *pending) bool { return p.epoch != l.epoch.Load() }

// answer notes one sink's result for p; the last answer settles it.
func (l *Log) answer(p *pending, err error) {
	p.mu.Lock()
	if err != nil {
		p.errs = append(p.errs, err)
	} else {
		p.held = true
	}
	p.remaining--
	last := p.remaining == 0
	p.mu.Unlock()
	if !last {
		return
	}
	// Records settle in chain order: every sink answers for them in order.
	l.mu.Lock()
	switch {
	case p.held:
		l.held = p.head
	case p.epoch == l.epoch.Load() && l.chain != nil:
		l.chain.head = l.held
		l.epoch.Add(1)
	}
	l.mu.Unlock()
	close(p.done)
}
