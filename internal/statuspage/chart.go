package statuspage

import (
	"fmt"
	"time"
)

// The approvals-over-time chart: per agent, how many approvals it asked
// for in each of the last chartBuckets slices of chartWindow, drawn as a
// small inline SVG on the server (no script, nothing from elsewhere).
// Every agent's bars share one scale, so a looping agent stands out.
const (
	chartWindow  = time.Hour
	chartBuckets = 30
	bucketWidth  = chartWindow / chartBuckets

	// The SVG's size in pixels: each bucket is barStep wide.
	chartHeight = 32
	barStep     = 6
	chartWidth  = chartBuckets * barStep
)

// bucketize counts times into chartBuckets buckets ending at the end of
// now's bucket: the last bucket holds now. Times outside are not counted.
func bucketize(times []time.Time, now time.Time) [chartBuckets]int {
	var out [chartBuckets]int
	end := now.Truncate(bucketWidth).Add(bucketWidth)
	start := end.Add(-chartWindow)
	for _, t := range times {
		if t.Before(start) || !t.Before(end) {
			continue
		}
		out[int(t.Sub(start)/bucketWidth)]++
	}
	return out
}

// chartBar is one bucket as drawn.
type chartBar struct {
	X, Y, Height int
	Count        int
	Label        string // the bucket's time range and count, the bar's tooltip
}

// chart is one agent's bars and how many requests they hold.
type chart struct {
	Bars  []chartBar
	Total int
	Peak  int
}

// Width and Height are the SVG's size.
func (chart) Width() int  { return chartWidth }
func (chart) Height() int { return chartHeight }

// charts draws each agent's buckets on one scale (the largest count of
// any agent's bucket is the full height).
func charts(counts map[string][chartBuckets]int, now time.Time) map[string]chart {
	top := 1
	for _, c := range counts {
		for _, n := range c {
			top = max(top, n)
		}
	}
	start := now.Truncate(bucketWidth).Add(bucketWidth - chartWindow)
	out := map[string]chart{}
	for p, c := range counts {
		var ch chart
		for i, n := range c {
			h := n * chartHeight / top
			if n > 0 {
				h = max(h, 2) // one request is still seen
			}
			from := start.Add(time.Duration(i) * bucketWidth)
			ch.Bars = append(ch.Bars, chartBar{
				X: i * barStep, Y: chartHeight - h, Height: h, Count: n,
				Label: fmt.Sprintf("%s–%s: %d approval request%s", from.UTC().Format("15:04"), from.Add(bucketWidth).UTC().Format("15:04"), n, plural(n)),
			})
			ch.Total += n
			ch.Peak = max(ch.Peak, n)
		}
		out[p] = ch
	}
	return out
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
