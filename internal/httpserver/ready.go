package httpserver

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// readyTimeout bounds one run of the readiness checks.
const readyTimeout = 5 * time.Second

// readiness runs the checks for /readyz, which anyone may call: one run at
// a time, whose result every caller shares for ReadyInterval, so a flood of
// requests costs Vault (and Duo, and transit) at most one round of checks
// per interval. The answer is only ready or not; which check failed and why
// (errors naming agents and Vault paths) goes to the log.
type readiness struct {
	checks   []Check
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger

	mu      sync.Mutex
	at      time.Time     // when the last result was taken
	ready   bool          // the last result
	failed  string        // the last run's failures, to log only changes
	running chan struct{} // closed when the run in flight ends; nil without one
}

// check returns the shared result: the last one while it is fresh, else
// that of the run in flight, starting one if there is none. A caller that
// gives up waiting gets "not ready"; the run goes on for the others.
func (rd *readiness) check(ctx context.Context) bool {
	rd.mu.Lock()
	if !rd.at.IsZero() && rd.now().Sub(rd.at) < rd.interval {
		ready := rd.ready
		rd.mu.Unlock()
		return ready
	}
	done := rd.running
	if done == nil {
		done = make(chan struct{})
		rd.running = done
		// Not the caller's context: its going away must not fail the
		// run the others wait for.
		go rd.run(context.WithoutCancel(ctx), done)
	}
	rd.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return false
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return rd.ready
}

// run runs every check at once, each bounded, and keeps the result.
func (rd *readiness) run(ctx context.Context, done chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	errs := make([]error, len(rd.checks))
	var wg sync.WaitGroup
	for i, c := range rd.checks {
		wg.Go(func() { errs[i] = c.Run(ctx) })
	}
	wg.Wait()
	var failed []string
	for i, err := range errs {
		if err != nil {
			failed = append(failed, rd.checks[i].Name+": "+err.Error())
		}
	}
	slices.Sort(failed)
	summary := strings.Join(failed, "; ")

	rd.mu.Lock()
	defer rd.mu.Unlock()
	if summary != rd.failed {
		if summary != "" {
			rd.log.Warn("not ready", "failed", summary)
		} else {
			rd.log.Info("ready again")
		}
	}
	rd.at, rd.ready, rd.failed, rd.running = rd.now(), summary == "", summary, nil
	close(done)
}
