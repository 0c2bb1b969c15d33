package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

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
}

// Log writes each event to every sink. It is safe for concurrent use, and
// writes events one at a time, so every sink sees the same lines in the
// same order: one chain for the whole stream.
type Log struct {
	opts  Options
	mu    sync.Mutex
	now   func() time.Time
	chain *chain // nil without a key
	buf   []byte
}

// New returns a Log.
func New(opts Options) *Log {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	l := &Log{opts: opts, now: time.Now}
	if !opts.Key.IsZero() {
		l.chain = newChain(opts.Key, opts.Head)
	}
	return l
}

// Record writes e to every sink. It returns an error wrapping
// ErrUnavailable when a sink failed, unless the Log was told to continue.
// A nil Log records nothing.
func (l *Log) Record(ctx context.Context, e Event) error {
	if l == nil {
		return nil
	}
	if e.Time.IsZero() {
		e.Time = l.now()
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
	enc, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("%w: encoding %s: %w", ErrUnavailable, e.Event, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	line, next := enc, Head{}
	if l.chain != nil {
		l.buf, next = l.chain.seal(l.buf[:0], enc)
		line = l.buf
	}
	var errs []error
	written := 0
	for _, s := range l.opts.Sinks {
		if err := s.Write(line); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Name(), err))
			continue
		}
		written++
	}
	// A record some sink holds is part of the chain: the next one links
	// to it even if another sink failed (that sink then shows a gap,
	// which is true). A record no sink took is not.
	if l.chain != nil && written > 0 {
		l.chain.head = next
	}
	if err := errors.Join(errs...); err != nil {
		if l.opts.Continue {
			l.opts.Logger.ErrorContext(ctx, "AUDIT RECORD LOST: serving anyway because audit.on_failure is continue", "event", e.Event, "err", err)
			return nil
		}
		l.opts.Logger.ErrorContext(ctx, "audit record could not be written; refusing the decision", "event", e.Event, "err", err)
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// Head is the chain's last record (the zero Head without a key).
func (l *Log) Head() Head {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.chain == nil {
		return Head{}
	}
	return l.chain.head
}

// Close closes every sink.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
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
