package audit

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// gate is a sink in front of another: the first write of a chosen seq
// waits for release, and the first writes of chosen seqs fail.
type gate struct {
	Sink
	hold    uint64 // seq whose write waits; 0 none
	started chan struct{}
	release chan struct{}
	fail    map[uint64]bool
}

func newGate(s Sink, hold uint64, fail ...uint64) *gate {
	g := &gate{Sink: s, hold: hold, started: make(chan struct{}), release: make(chan struct{}), fail: map[uint64]bool{}}
	for _, f := range fail {
		g.fail[f] = true
	}
	return g
}

func (g *gate) Write(line []byte) error {
	r, err := ParseLine(line)
	if err != nil {
		return err
	}
	if r.Seq == g.hold {
		g.hold = 0
		close(g.started)
		<-g.release
	}
	if g.fail[r.Seq] {
		delete(g.fail, r.Seq)
		return errors.New("collector down")
	}
	return g.Sink.Write(line)
}

// wait fails the test if ch is not closed soon.
func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// eventually fails the test if cond does not hold soon.
func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
	}
}

func verifyFile(t *testing.T, path string, records int) {
	t.Helper()
	sum, err := Verify(VerifyOptions{Key: testKey(t)}, setFiles(t, path))
	if err != nil {
		t.Fatalf("the chain does not verify: %v", err)
	}
	if sum.Records != records {
		t.Errorf("records = %d, want %d", sum.Records, records)
	}
}

// TestSlowSinkDoesNotHoldTheChain: while one sink is stuck writing a
// record, the next decision is sealed and written to the other sinks; each
// caller still waits for its own record in every sink.
func TestSlowSinkDoesNotHoldTheChain(t *testing.T) {
	key := testKey(t)
	dir := t.TempDir()
	fast, err := NewFileSink(FileOptions{Path: filepath.Join(dir, "fast.jsonl"), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	slowFile, err := NewFileSink(FileOptions{Path: filepath.Join(dir, "slow.jsonl"), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	slow := newGate(slowFile, 1)
	l := New(Options{Sinks: []Sink{slow, fast}, Key: key})
	ctx := context.Background()

	results := make(chan error, 2)
	go func() { results <- l.Record(ctx, event(1)) }()
	wait(t, slow.started, "the slow sink to start record 1")
	second := make(chan struct{})
	go func() {
		defer close(second)
		results <- l.Record(ctx, event(2))
	}()
	// Both records are in flight at once: the fast sink takes record 2
	// while the slow one still holds record 1.
	eventually(t, func() bool { return len(fileLines(t, filepath.Join(dir, "fast.jsonl"))) == 2 },
		"record 2 was not written to the fast sink while record 1 was stuck in the slow one")
	select {
	case err := <-results:
		t.Fatalf("a Record returned (%v) before the slow sink had its record", err)
	default:
	}
	close(slow.release)
	wait(t, second, "record 2")
	for range 2 {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if h := l.Head(); h.Seq != 2 {
		t.Errorf("head = %+v, want seq 2", h)
	}
	verifyFile(t, filepath.Join(dir, "fast.jsonl"), 2)
	verifyFile(t, filepath.Join(dir, "slow.jsonl"), 2)
}

// TestLostRecordRefusesWhatFollowsIt: a record no sink took refuses its
// decision, and so does every record already sealed after it (it links to
// the lost one); the chain then continues from the last record held, with
// no gap.
func TestLostRecordRefusesWhatFollowsIt(t *testing.T) {
	key := testKey(t)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	fs, err := NewFileSink(FileOptions{Path: path, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	g := newGate(fs, 2, 2) // record 2 waits, then fails
	l := New(Options{Sinks: []Sink{g}, Key: key})
	ctx := context.Background()
	if err := l.Record(ctx, event(1)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = l.Record(ctx, event(2)) })
	wait(t, g.started, "record 2 to reach the sink")
	wg.Go(func() { errs[1] = l.Record(ctx, event(3)) })
	eventually(t, func() bool { return l.sealed() == 3 }, "record 3 was not sealed behind record 2")
	close(g.release)
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("record %d: err = %v, want ErrUnavailable (its decision must not take effect)", i+2, err)
		}
	}
	if h := l.Head(); h.Seq != 1 {
		t.Errorf("head after the loss = %+v, want seq 1", h)
	}
	if err := l.Record(ctx, event(4)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	verifyFile(t, path, 2)
	if err := l.Record(ctx, event(5)); !errors.Is(err, ErrUnavailable) {
		t.Errorf("a record after Close: err = %v, want ErrUnavailable", err)
	}
}

// TestFailingSinkRefusesWhileAnotherHolds: a record one sink failed and
// another took stays in the chain, and its decision is still refused.
func TestFailingSinkRefusesWhileAnotherHolds(t *testing.T) {
	key := testKey(t)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	fs, err := NewFileSink(FileOptions{Path: path, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	down := newGate(NewWriterSink("discard", discard{}), 0, 1)
	l := New(Options{Sinks: []Sink{down, fs}, Key: key})
	if err := l.Record(context.Background(), event(1)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if err := l.Record(context.Background(), event(2)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	verifyFile(t, path, 2)
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

func fileLines(t *testing.T, path string) []string {
	t.Helper()
	lines := readLines(t, path)
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	return lines
}

// sealed is the seq of the last record sealed.
func (l *Log) sealed() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.chain.head.Seq
}
