// Package clock lets time-dependent code (grant expiry, approval timeouts)
// run on real time in production and on a hand-driven clock in tests.
package clock

import "time"

// Clock is the time source the access model depends on.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed. The returned
	// stop function cancels the call and reports whether it did so.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// Real is the system clock.
type Real struct{}

func (Real) Now() time.Time { return time.Now() }

func (Real) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
