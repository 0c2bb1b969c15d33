package bench

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoadCount(t *testing.T) {
	var calls atomic.Int64
	var perClient [4]atomic.Int64
	// Each client's first call waits for the others' first, so that all
	// four take part however the goroutines are scheduled.
	var first [4]sync.Once
	var all sync.WaitGroup
	all.Add(4)
	res, err := Load(t.Context(), LoadOptions{Clients: 4, Count: 1000}, func(_ context.Context, client int) error {
		first[client].Do(func() { all.Done(); all.Wait() })
		n := calls.Add(1)
		perClient[client].Add(1)
		if n%100 == 0 {
			return errors.New("every hundredth call fails")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := calls.Load(); got != 1000 {
		t.Errorf("made %d calls, want 1000", got)
	}
	if res.Calls != 990 || res.Errors != 10 || res.FirstError == nil || res.Clients != 4 {
		t.Errorf("result = %+v, want 990 calls and 10 errors from 4 clients", res)
	}
	for i := range perClient {
		if perClient[i].Load() == 0 {
			t.Errorf("client %d made no call", i)
		}
	}
}

func TestLoadWarmupIsNotMeasured(t *testing.T) {
	var warm atomic.Bool
	warm.Store(true)
	var slow atomic.Int64
	// During the warm-up calls are slow; the measured ones are fast. The
	// warm-up ends when its deadline passes, not by a count.
	res, err := Load(t.Context(), LoadOptions{Clients: 1, Count: 50, Warmup: time.Millisecond}, func(context.Context, int) error {
		if warm.Load() {
			slow.Add(1)
			time.Sleep(2 * time.Millisecond)
			warm.Store(false)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if slow.Load() == 0 {
		t.Fatal("no warm-up call was made")
	}
	if res.Calls != 50 || res.P99 >= 2*time.Millisecond {
		t.Errorf("result = %+v: the warm-up call was measured", res)
	}
}

func TestLoadStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	_, err := Load(ctx, LoadOptions{Clients: 2, Duration: time.Hour}, func(context.Context, int) error {
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestLoadOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    LoadOptions
		want []string
	}{
		{"ok/count", LoadOptions{Clients: 1, Count: 1}, nil},
		{"ok/duration", LoadOptions{Clients: 3, Duration: time.Second, Warmup: time.Second}, nil},
		{"fail/no-clients", LoadOptions{Count: 1}, []string{"clients"}},
		{"fail/both", LoadOptions{Clients: 1, Count: 1, Duration: time.Second}, []string{"exactly one"}},
		{"fail/neither", LoadOptions{Clients: 1}, []string{"exactly one"}},
		{"fail/negative", LoadOptions{Clients: 1, Count: 1, Warmup: -1}, []string{"negative"}},
		{"fail/all", LoadOptions{Warmup: -1}, []string{"clients", "exactly one", "negative"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if (err == nil) != (tc.want == nil) {
				t.Fatalf("Validate() = %v, want errors %v", err, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	got := []time.Duration{Percentile(d, 0.5), Percentile(d, 0.9), Percentile(d, 0.99), Percentile(d, 1), Percentile(nil, 0.5), Percentile(d[:1], 0.99)}
	want := []time.Duration{50, 90, 99, 100, 0, 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("percentiles mismatch (-want +got):\n%s", diff)
	}
}

func TestSummarizeTakesMedians(t *testing.T) {
	runs := []Result{
		{Clients: 2, Calls: 100, Elapsed: time.Second, P50: 3, P90: 30, P99: 300},
		{Clients: 2, Calls: 300, Elapsed: time.Second, P50: 1, P90: 10, P99: 100, Errors: 2, FirstError: errors.New("x")},
		{Clients: 2, Calls: 200, Elapsed: time.Second, P50: 2, P90: 20, P99: 900},
	}
	got := Summarize("s", runs)
	if got.FirstError == nil {
		t.Error("the first error was lost")
	}
	got.FirstError = nil
	want := Summary{Label: "s", Clients: 2, Runs: 3, Calls: 600, Errors: 2, P50: 2, P90: 20, P99: 300, PerSecond: 200}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Summarize mismatch (-want +got):\n%s", diff)
	}
	if m := Median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median of an even count = %v, want 2.5", m)
	}
}

func TestWriteRow(t *testing.T) {
	var b strings.Builder
	if err := WriteRow(&b, Summary{Label: "a|b", Clients: 10, Runs: 3, Calls: 1234, P50: 1500 * time.Microsecond, P90: 2 * time.Millisecond, P99: 12345 * time.Microsecond, PerSecond: 411.4}); err != nil {
		t.Fatal(err)
	}
	if want := "| a\\|b | 10 | 3 | 1234 | 0 | 1.50 | 2.00 | 12.35 | 411 |\n"; b.String() != want {
		t.Errorf("row = %q, want %q", b.String(), want)
	}
}

func TestFirstErrors(t *testing.T) {
	errs := make([]error, 20)
	for i := range 8 {
		errs[i*2] = errors.New("e")
	}
	got := firstErrors(errs, 5).Error()
	if strings.Count(got, "e\n") != 5 || !strings.HasSuffix(got, "and 3 more errors") {
		t.Errorf("firstErrors = %q", got)
	}
	if firstErrors(make([]error, 3), 5) != nil {
		t.Error("no errors gave an error")
	}
}
