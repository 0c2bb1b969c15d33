package audit

import (
	"context"
	"io"
	"path/filepath"
	"testing"
)

// BenchmarkRecord measures one Record, as every tool call pays it:
// encoding, one HMAC under the Log's mutex, one write per sink by the
// sink's writer, and the wait for it.
func BenchmarkRecord(b *testing.B) {
	ctx := WithCorrelationID(context.Background(), "c-0123456789")
	e := event(1)
	b.Run("file-chained", func(b *testing.B) {
		l, _ := openLog(b, filepath.Join(b.TempDir(), "audit.jsonl"), 0, testKey(b))
		for b.Loop() {
			if err := l.Record(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("file-chained-rotating-1MiB", func(b *testing.B) {
		l, _ := openLog(b, filepath.Join(b.TempDir(), "audit.jsonl"), 1<<20, testKey(b))
		for b.Loop() {
			if err := l.Record(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("file-chained-parallel", func(b *testing.B) {
		l, _ := openLog(b, filepath.Join(b.TempDir(), "audit.jsonl"), 0, testKey(b))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := l.Record(ctx, e); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("discard-chained", func(b *testing.B) {
		l := New(Options{Sinks: []Sink{NewWriterSink("discard", io.Discard)}, Key: testKey(b)})
		for b.Loop() {
			if err := l.Record(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("discard-plain", func(b *testing.B) {
		l := New(Options{Sinks: []Sink{NewWriterSink("discard", io.Discard)}})
		for b.Loop() {
			if err := l.Record(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
	})
}
