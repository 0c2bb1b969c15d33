package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/clock"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// Sink receives encoded events: one JSON object per call, without a
// newline. Every sink is required: an error refuses the decision (unless
// the Log continues). A sink must not keep line after Write returns.
type Sink interface {
	Name() string
	Write(line []byte) error
	Close() error
}

// ErrUnavailable means an event could not be recorded in a required sink:
// the decision it records must not take effect.
var ErrUnavailable = errors.New("the audit log cannot be written")

// Options configure a Log.
type Options struct {
	Sinks []Sink
	// Continue keeps serving when a sink fails, logging every failure
	// loudly, instead of refusing the decision (the default).
	Continue bool
	Logger   *slog.Logger
	// Key turns the hash chain on (ParseKey decodes one): every line then
	// carries seq, prev and mac. Empty: plain lines.
	Key sensitive.String
	// Head is where the chain continues: the last record written before
	// (FileSink.Head). The zero Head starts a new chain.
	Head Head
	// RefusalWindow is how long failed authentications are counted before
	// their count is written (refusals.go); default DefaultRefusalWindow.
	RefusalWindow time.Duration
	// Clock times events and the refusal window; default the real clock.
	Clock clock.Clock
}

// Log writes each event to every sink. It is safe for concurrent use. It
// seals events one at a time, and every sink gets them in that order from
// a writer of its own (writer.go), so every sink sees the same lines in
// the same order: one chain for the whole stream.
type Log struct {
	opts    Options
	clock   clock.Clock
	writers sync.WaitGroup
	lines   sync.Pool // *[]byte
	refused *refusals

	mu     sync.Mutex
	chain  *chain        // nil without a key
	held   Head          // the last record a sink holds
	epoch  atomic.Uint64 // advances, under mu, when the chain goes back past a lost record
	queues []*writer
	closed bool
}

// New returns a Log and starts a writer per sink; Close stops them.
func New(opts Options) *Log {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	l := &Log{opts: opts, clock: opts.Clock, held: opts.Head}
	l.lines.New = func() any { return new([]byte) }
	l.refused = newRefusals(l, opts.RefusalWindow)
	if !opts.Key.IsZero() {
		l.chain = newChain(opts.Key, opts.Head)
	}
	for _, s := range opts.Sinks {
		w := newWriter(s)
		l.queues = append(l.queues, w)
		l.writers.Add(1)
		go l.runWriter(w)
	}
	return l
}

// Record writes e to every sink. It returns an error wrapping
// ErrUnavailable when a sink failed, unless the Log was told to continue.
// A failed authentication is counted rather than written each time
// (refusals.go). A nil Log records nothing.
func (l *Log) Record(ctx context.Context, e Event) error {
	if l == nil {
		return nil
	}
	if e.Time.IsZero() {
		e.Time = l.clock.Now()
	}
	e.Time = e.Time.UTC()
	if e.CorrelationID == "" {
		e.CorrelationID = CorrelationID(ctx)
	}
	if e.API == "" {
		e.API = API(ctx)
	}
	if e.Outcome == "" {
		e.Outcome = Failed
	}
	if l.refused.absorb(e) {
		return nil
	}
	return l.write(ctx, e)
}

// write seals e, hands it to every sink's writer and waits for their
// answers.
func (l *Log) write(ctx context.Context, e Event) error {
	enc, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("%w: encoding %s: %w", ErrUnavailable, e.Event, err)
	}
	p := &pending{line: enc, done: make(chan struct{})}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return l.failed(ctx, e, errors.New("the audit log is closed"))
	}
	if len(l.queues) == 0 {
		l.mu.Unlock()
		return nil
	}
	p.epoch, p.remaining = l.epoch.Load(), len(l.queues)
	if l.chain != nil {
		bp := l.lines.Get().(*[]byte)
		defer l.lines.Put(bp) // once every sink has let go of it
		*bp, p.head = l.chain.seal((*bp)[:0], enc)
		p.line = *bp
		l.chain.head = p.head // the next record links to this one; answer undoes that if no sink takes it
	}
	for _, w := range l.queues {
		w.push(p)
	}
	l.mu.Unlock()
	<-p.done // every sink has answered and let go of p.line
	if err := errors.Join(p.errs...); err != nil {
		return l.failed(ctx, e, err)
	}
	return nil
}

// failed reports a record a sink did not take: loudly, and as an error
// unless the Log continues.
func (l *Log) failed(ctx context.Context, e Event, err error) error {
	if l.opts.Continue {
		l.opts.Logger.ErrorContext(ctx, "AUDIT RECORD LOST: serving anyway because audit.on_failure is continue", "event", e.Event, "err", err)
		return nil
	}
	l.opts.Logger.ErrorContext(ctx, "audit record could not be written; refusing the decision", "event", e.Event, "err", err)
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// Head is the last record a sink holds (the zero Head without a key).
func (l *Log) Head() Head {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.chain == nil {
		return Head{}
	}
	return l.held
}

// Close writes the refusals still being counted, waits for every record
// in flight, stops the writers and closes every sink. A record after Close
// is refused.
func (l *Log) Close() error {
	l.refused.close()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	for _, w := range l.queues {
		w.stop()
	}
	l.mu.Unlock()
	l.writers.Wait()
	var errs []error
	for _, s := range l.opts.Sinks {
		if err := s.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the %s audit sink: %w", s.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// WriterSink writes JSON lines to w (stderr, tests).
type WriterSink struct {
	name string
	mu   sync.Mutex
	w    io.Writer
	buf  []byte
}

// NewWriterSink returns a sink that writes to w.
func NewWriterSink(name string, w io.Writer) *WriterSink { return &WriterSink{name: name, w: w} }

func (s *WriterSink) Name() string { return s.name }

func (s *WriterSink) Write(line []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(append(s.buf[:0], line...), '\n')
	_, err := s.w.Write(s.buf)
	return err
}

func (s *WriterSink) Close() error { return nil }
