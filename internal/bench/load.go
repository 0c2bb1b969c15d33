package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Call is one measured operation made by client (0 ≤ client < Clients).
type Call func(ctx context.Context, client int) error

// LoadOptions say how hard and how long to call. Exactly one of Duration
// and Count is set.
type LoadOptions struct {
	// Clients call at once, each waiting for its answer before the next
	// call (closed loop). At least 1.
	Clients int
	// Duration measures for this long; calls that started before its end
	// are counted.
	Duration time.Duration
	// Count measures this many calls in total.
	Count int
	// Warmup calls for this long first, unmeasured (connections, caches,
	// the runtime's heap), so the measured part sees the steady state.
	Warmup time.Duration
}

// Validate reports every problem at once.
func (o LoadOptions) Validate() error {
	var errs []error
	if o.Clients < 1 {
		errs = append(errs, errors.New("clients must be at least 1"))
	}
	if (o.Duration > 0) == (o.Count > 0) {
		errs = append(errs, errors.New("set exactly one of duration and count"))
	}
	if o.Duration < 0 || o.Count < 0 || o.Warmup < 0 {
		errs = append(errs, errors.New("duration, count and warmup must not be negative"))
	}
	return errors.Join(errs...)
}

// Result is one measured run.
type Result struct {
	Clients int
	Calls   int // successful calls measured
	Errors  int
	// FirstError is the first failed call's error, if any.
	FirstError error
	Elapsed    time.Duration
	P50        time.Duration
	P90        time.Duration
	P99        time.Duration
}

// PerSecond is the throughput: successful calls per second.
func (r Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Calls) / r.Elapsed.Seconds()
}

// Load runs call from o.Clients goroutines: the warm-up, then the measured
// part. A failed call is counted and its client goes on (a server that
// fails some calls shows it in Errors instead of stopping the run). It
// returns an error only for bad options or when ctx ends.
func Load(ctx context.Context, o LoadOptions, call Call) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, fmt.Errorf("load options: %w", err)
	}
	if o.Warmup > 0 {
		deadline := time.Now().Add(o.Warmup)
		phase(ctx, o.Clients, func() bool { return time.Now().Before(deadline) }, call, nil)
	}
	rec := &recorder{}
	start := time.Now()
	var more func() bool
	if o.Duration > 0 {
		deadline := start.Add(o.Duration)
		more = func() bool { return time.Now().Before(deadline) }
	} else {
		var left atomic.Int64
		left.Store(int64(o.Count))
		more = func() bool { return left.Add(-1) >= 0 }
	}
	phase(ctx, o.Clients, more, call, rec)
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	return rec.result(o.Clients, elapsed), nil
}

// phase runs call in clients goroutines while more says so.
func phase(ctx context.Context, clients int, more func() bool, call Call, rec *recorder) {
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			var lat []time.Duration
			var errs int
			var first error
			for ctx.Err() == nil && more() {
				t0 := time.Now()
				err := call(ctx, i)
				d := time.Since(t0)
				if err != nil {
					errs++
					if first == nil {
						first = err
					}
					continue
				}
				lat = append(lat, d)
			}
			if rec != nil {
				rec.add(lat, errs, first)
			}
		})
	}
	wg.Wait()
}

type recorder struct {
	mu     sync.Mutex
	lat    []time.Duration
	errors int
	first  error
}

func (r *recorder) add(lat []time.Duration, errs int, first error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lat = append(r.lat, lat...)
	r.errors += errs
	if r.first == nil {
		r.first = first
	}
}

func (r *recorder) result(clients int, elapsed time.Duration) Result {
	slices.Sort(r.lat)
	return Result{
		Clients: clients, Calls: len(r.lat), Errors: r.errors, FirstError: r.first, Elapsed: elapsed,
		P50: Percentile(r.lat, 0.50), P90: Percentile(r.lat, 0.90), P99: Percentile(r.lat, 0.99),
	}
}

// Percentile is the nearest-rank percentile p (0 < p ≤ 1) of sorted; zero
// for an empty slice.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p*float64(len(sorted))+0.999999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}
