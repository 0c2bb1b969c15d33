package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/clock"
)

const window = 10 * time.Second

func refusal(source, detail string) Event {
	return Event{Event: Authentication, Outcome: Refused, Method: "api_key", Path: "/mcp", Source: source, Detail: detail}
}

// auth reads a file's authentication records: how many lines, and how
// many refusals they stand for per source.
func auth(t *testing.T, path string) (lines int, refused map[string]int64) {
	t.Helper()
	refused = map[string]int64{}
	for _, line := range fileLines(t, path) {
		var e Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		if e.Event != Authentication {
			continue
		}
		lines++
		if e.Outcome == Refused {
			refused[e.Source] += max(e.Count, 1)
		}
	}
	return lines, refused
}

func newCountingLog(t *testing.T) (*Log, *clock.Fake, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	fs, err := NewFileSink(FileOptions{Path: path, Key: testKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	l := New(Options{Sinks: []Sink{fs}, Key: testKey(t), Clock: clk, RefusalWindow: window})
	return l, clk, path
}

// TestRefusalFloodIsCounted: a flood of failed authentications writes a
// few records per source, reason and window, not one each, and their
// counts add up to every refusal.
func TestRefusalFloodIsCounted(t *testing.T) {
	l, clk, path := newCountingLog(t)
	ctx := context.Background()
	const perWindow, windows = 1000, 3
	for w := range windows {
		for i := range perWindow {
			e := refusal("203.0.113.7", "unknown key id")
			if i%2 == 1 {
				e = refusal("198.51.100.9", "no credential")
			}
			if err := l.Record(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		if w == 0 {
			if n, _ := auth(t, path); n != 2 {
				t.Errorf("records during the first window = %d, want 2 (the first refusal of each source)", n)
			}
		}
		clk.Advance(window)
	}
	if err := l.Record(ctx, Event{Event: Authentication, Outcome: OK, Method: "api_key", Principal: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Record(ctx, Event{Event: Authentication, Outcome: OK, Method: "api_key", Principal: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines, refused := auth(t, path)
	// Per source: the first refusal, then one count per window.
	if want := 2*(1+windows) + 2; lines != want {
		t.Errorf("records = %d for %d refusals and 2 sign-ins, want %d", lines, perWindow*windows, want)
	}
	want := map[string]int64{"203.0.113.7": perWindow * windows / 2, "198.51.100.9": perWindow * windows / 2}
	if fmt.Sprint(refused) != fmt.Sprint(want) {
		t.Errorf("refusals counted = %v, want %v", refused, want)
	}
	verifyFile(t, path, lines)
}

// TestRefusalCountsAreBounded: refusals from more sources than are
// counted apart share one overflow count; memory and records stay bounded
// and the count is still whole.
func TestRefusalCountsAreBounded(t *testing.T) {
	l, clk, path := newCountingLog(t)
	const sources = 3 * maxRefusalKeys
	for i := range sources {
		src := fmt.Sprintf("2001:db8::%x", i)
		if err := l.Record(context.Background(), refusal(src, "unknown key id")); err != nil {
			t.Fatal(err)
		}
	}
	if n := l.refusalKeys(); n > maxRefusalKeys+1 {
		t.Errorf("keys kept = %d, want at most %d", n, maxRefusalKeys+1)
	}
	clk.Advance(window)
	clk.Advance(window) // a quiet window forgets every key
	if n := l.refusalKeys(); n != 0 {
		t.Errorf("keys kept after a quiet window = %d, want 0", n)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines, refused := auth(t, path)
	if lines > maxRefusalKeys+2 {
		t.Errorf("records = %d for %d refusals, want at most %d", lines, sources, maxRefusalKeys+2)
	}
	var total int64
	for _, n := range refused {
		total += n
	}
	if total != sources {
		t.Errorf("refusals counted = %d, want %d", total, sources)
	}
	verifyFile(t, path, lines)
}

func (l *Log) refusalKeys() int {
	l.refused.mu.Lock()
	defer l.refused.mu.Unlock()
	return len(l.refused.counts)
}
