package suite

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// goRuntime is what a Gatekeeper process's Go runtime reports on /metrics:
// where its resident memory goes.
type goRuntime struct {
	Goroutines int64
	HeapInuse  int64 // bytes in in-use heap spans
	StackInuse int64 // bytes of goroutine stacks
	Sys        int64 // bytes obtained from the OS
}

// runtimeStats reads the Go collector's gauges from base/metrics.
func runtimeStats(ctx context.Context, base string) (goRuntime, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return goRuntime{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return goRuntime{}, fmt.Errorf("reading /metrics: %w", err)
	}
	defer resp.Body.Close()
	var g goRuntime
	fields := map[string]*int64{
		"go_goroutines":                 &g.Goroutines,
		"go_memstats_heap_inuse_bytes":  &g.HeapInuse,
		"go_memstats_stack_inuse_bytes": &g.StackInuse,
		"go_memstats_sys_bytes":         &g.Sys,
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if p, want := fields[name]; ok && want {
			if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
				*p = int64(v)
			}
		}
	}
	return g, sc.Err()
}
