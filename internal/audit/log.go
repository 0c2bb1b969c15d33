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
)

// Sink receives encoded events: one JSON object per call, without a newline.
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
}

// Log writes each event to every sink. It is safe for concurrent use, and
// writes events one at a time, so every sink sees the same order.
type Log struct {
	opts Options
	mu   sync.Mutex
	now  func() time.Time
}

// New returns a Log.
func New(opts Options) *Log {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Log{opts: opts, now: time.Now}
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
	if e.Outcome == "" {
		e.Outcome = Failed
	}
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("%w: encoding %s: %w", ErrUnavailable, e.Event, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for _, s := range l.opts.Sinks {
		if err := s.Write(line); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Name(), err))
		}
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

// Close closes every sink.
func (l *Log) Close() error {
	var errs []error
	for _, s := range l.opts.Sinks {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// WriterSink writes JSON lines to w (stderr, tests).
type WriterSink struct {
	name string
	w    io.Writer
}

// NewWriterSink returns a sink that writes to w.
func NewWriterSink(name string, w io.Writer) *WriterSink { return &WriterSink{name: name, w: w} }

func (s *WriterSink) Name() string { return s.name }

func (s *WriterSink) Write(line []byte) error {
	_, err := s.w.Write(append(line, '\n'))
	return err
}

func (s *WriterSink) Close() error { return nil }
