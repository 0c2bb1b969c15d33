// Package ratelimit keeps one token bucket per agent, so that one busy or
// misbehaving agent slows only itself. A refusal says when to retry.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate is a token bucket: PerMinute tokens a minute, up to Burst at once.
type Rate struct {
	PerMinute float64
	Burst     int
}

// Limiter holds a bucket per key, created on first use. Keys are agent
// names, which the configuration bounds.
type Limiter struct {
	rateFor func(key string) Rate
	now     func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// New returns a Limiter whose buckets follow rateFor; now is the clock
// (time.Now when nil).
func New(rateFor func(key string) Rate, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{rateFor: rateFor, now: now, buckets: map[string]*rate.Limiter{}}
}

// Allow takes one token from key's bucket. When there is none it takes
// nothing and says how long until there will be.
func (l *Limiter) Allow(key string) (retryAfter time.Duration, ok bool) {
	l.mu.Lock()
	b, found := l.buckets[key]
	if !found {
		r := l.rateFor(key)
		b = rate.NewLimiter(rate.Limit(r.PerMinute/60), r.Burst)
		l.buckets[key] = b
	}
	l.mu.Unlock()

	now := l.now()
	res := b.ReserveN(now, 1)
	if !res.OK() {
		return time.Minute, false
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, false
	}
	return 0, true
}

// SetRates makes rateFor the buckets' rates, at once for the buckets that
// exist (a configuration reload): each keeps the tokens it holds, up to
// its new burst.
func (l *Limiter) SetRates(rateFor func(key string) Rate) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rateFor = rateFor
	for key, b := range l.buckets {
		r := rateFor(key)
		b.SetLimitAt(now, rate.Limit(r.PerMinute/60))
		b.SetBurstAt(now, r.Burst)
	}
}
