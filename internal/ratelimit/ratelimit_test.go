package ratelimit

import (
	"sync"
	"testing"
	"time"
)

type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeNow) add(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

func TestBucketPerKey(t *testing.T) {
	clock := &fakeNow{t: time.Unix(1_800_000_000, 0)}
	l := New(func(key string) Rate {
		if key == "slow" {
			return Rate{PerMinute: 1, Burst: 1}
		}
		return Rate{PerMinute: 60, Burst: 2}
	}, clock.now)

	for i := range 2 {
		if _, ok := l.Allow("fast"); !ok {
			t.Fatalf("call %d within the burst refused", i+1)
		}
	}
	wait, ok := l.Allow("fast")
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("third call = %v, %v; want a refusal with a wait of at most 1s", wait, ok)
	}
	// Another key is unaffected.
	if _, ok := l.Allow("slow"); !ok {
		t.Fatal("a different agent was limited")
	}
	wait, ok = l.Allow("slow")
	if ok || wait < 59*time.Second || wait > time.Minute {
		t.Fatalf("slow second call = %v, %v; want about a minute", wait, ok)
	}
	// A refusal takes no token: after the wait, exactly one more call fits.
	clock.add(time.Second)
	if _, ok := l.Allow("fast"); !ok {
		t.Fatal("refilled token refused")
	}
	if _, ok := l.Allow("fast"); ok {
		t.Fatal("more tokens than the rate refills")
	}
}

func TestSetRates(t *testing.T) {
	clock := &fakeNow{t: time.Unix(1_800_000_000, 0)}
	l := New(func(string) Rate { return Rate{PerMinute: 60, Burst: 1} }, clock.now)
	if _, ok := l.Allow("a"); !ok {
		t.Fatal("first call refused")
	}
	// Slower: the spent token now comes back after 10s, not 1s.
	l.SetRates(func(string) Rate { return Rate{PerMinute: 6, Burst: 1} })
	clock.add(2 * time.Second)
	if wait, ok := l.Allow("a"); ok || wait < 7*time.Second {
		t.Fatalf("after slowing down = %v, %v; want a refusal for about 8s", wait, ok)
	}
	// A new key gets the new rate too.
	if _, ok := l.Allow("b"); !ok {
		t.Fatal("b's first call refused")
	}
	if wait, ok := l.Allow("b"); ok || wait < 9*time.Second {
		t.Fatalf("b's second call = %v, %v; want a refusal for about 10s", wait, ok)
	}
	// A larger burst applies at once to an existing bucket once refilled.
	l.SetRates(func(string) Rate { return Rate{PerMinute: 600, Burst: 3} })
	clock.add(time.Second)
	for i := range 3 {
		if _, ok := l.Allow("b"); !ok {
			t.Fatalf("b's call %d within the new burst refused", i+1)
		}
	}
}
