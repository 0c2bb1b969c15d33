package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Summary is the median of several runs of one measurement: each figure is
// the median of that figure over the runs, so one noisy run (another
// process taking the CPU) does not move it.
type Summary struct {
	Label     string
	Clients   int
	Runs      int
	Calls     int // over all runs
	Errors    int // over all runs
	P50       time.Duration
	P90       time.Duration
	P99       time.Duration
	PerSecond float64
	// FirstError is the first error of any run.
	FirstError error
}

// Summarize takes the medians of runs.
func Summarize(label string, runs []Result) Summary {
	s := Summary{Label: label, Runs: len(runs)}
	var p50, p90, p99 []time.Duration
	var rps []float64
	for _, r := range runs {
		s.Clients = r.Clients
		s.Calls += r.Calls
		s.Errors += r.Errors
		if s.FirstError == nil {
			s.FirstError = r.FirstError
		}
		p50, p90, p99 = append(p50, r.P50), append(p90, r.P90), append(p99, r.P99)
		rps = append(rps, r.PerSecond())
	}
	s.P50, s.P90, s.P99, s.PerSecond = Median(p50), Median(p90), Median(p99), Median(rps)
	return s
}

// Median is the middle value (the mean of the two middle ones for an even
// count); zero for none.
func Median[T ~int64 | ~float64](v []T) T {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// TableHeader is the header of the markdown table WriteRow writes.
const TableHeader = "| what | clients | runs | calls | errors | p50 ms | p90 ms | p99 ms | calls/s |\n" +
	"|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"

// WriteRow writes s as one markdown table row.
func WriteRow(w io.Writer, s Summary) error {
	_, err := fmt.Fprintf(w, "| %s | %d | %d | %d | %d | %s | %s | %s | %.0f |\n",
		escapeCell(s.Label), s.Clients, s.Runs, s.Calls, s.Errors, Millis(s.P50), Millis(s.P90), Millis(s.P99), s.PerSecond)
	return err
}

// Millis formats d in milliseconds with two decimals.
func Millis(d time.Duration) string {
	return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond))
}

func escapeCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
