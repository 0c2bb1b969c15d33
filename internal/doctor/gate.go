package doctor

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Gate holds a server's requests back while its checks fail: it runs them
// at start and, while one fails, again at most once per Interval, asked by
// the requests it holds back. Once every check has passed the gate stays
// open: later trouble is the requests' own to report.
type Gate struct {
	checks   []Check
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger

	mu      sync.Mutex
	at      time.Time // when the last run ended
	last    Report
	open    bool          // every check passed once
	running chan struct{} // closed when the run in flight ends; nil without one
}

// GateOptions configure a Gate.
type GateOptions struct {
	// Interval is the least time between two runs; default 10s.
	Interval time.Duration
	Now      func() time.Time
	Logger   *slog.Logger
}

// NewGate returns a Gate over checks; the first Failure runs them.
func NewGate(checks []Check, o GateOptions) *Gate {
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Gate{checks: checks, interval: o.Interval, now: o.Now, log: o.Logger}
}

// Failure is the first failing check, running the checks again when the
// last run failed more than Interval ago, or waiting for the run in
// flight. failing is false once every check has passed. A caller that
// gives up waiting gets the last failure, or a result that says the
// checks are still running.
func (g *Gate) Failure(ctx context.Context) (res Result, failing bool) {
	g.mu.Lock()
	if g.open {
		g.mu.Unlock()
		return Result{}, false
	}
	done := g.running
	if done == nil && (g.at.IsZero() || g.now().Sub(g.at) >= g.interval) {
		done = make(chan struct{})
		g.running = done
		// Not the caller's context: its going away must not cut the run
		// short for the others.
		go g.run(context.WithoutCancel(ctx), done)
	}
	g.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open {
		return Result{}, false
	}
	if r, ok := g.last.Failure(); ok {
		return r, true
	}
	return Result{Name: "startup", Status: Failed, Detail: "the start-up checks are still running",
		Fix: "call again in a few seconds"}, true
}

func (g *Gate) run(ctx context.Context, done chan struct{}) {
	rep := Run(ctx, g.checks)
	g.mu.Lock()
	defer g.mu.Unlock()
	was, wasFailing := g.last.Failure()
	g.at, g.last, g.running = g.now(), rep, nil
	if rep.OK {
		g.open = true
		if wasFailing {
			g.log.Info("every start-up check passes now; serving tool calls")
		}
	} else if r, _ := rep.Failure(); !wasFailing || r != was {
		g.log.Warn("a start-up check failed; tool calls are answered with its fix until it passes",
			"check", r.Name, "detail", r.Detail, "fix", r.Fix)
	}
	close(done)
}
