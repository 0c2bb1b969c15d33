package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestRecordWritesOneLinePerEvent(t *testing.T) {
	var buf bytes.Buffer
	l := New(Options{Sinks: []Sink{NewWriterSink("buf", &buf)}})
	ctx := WithCorrelationID(context.Background(), "c-1")
	if err := l.Record(ctx, Event{Event: ToolCall, Outcome: OK, Tool: "read_secret", Path: "db"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Record(context.Background(), Event{Event: GrantIssued}); err != nil { // no outcome given
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines = %q", lines)
	}
	var first, second map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	if first["correlation_id"] != "c-1" || first["outcome"] != "ok" || first["time"] == nil {
		t.Errorf("first event = %v", first)
	}
	if second["outcome"] != "failed" {
		t.Errorf("an event without an outcome must not read as success: %v", second)
	}
	if _, ok := second["expires_at"]; ok {
		t.Errorf("zero expires_at is written: %v", second)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteFailureRefusesOrContinuesLoudly(t *testing.T) {
	for _, cont := range []bool{false, true} {
		var logs bytes.Buffer
		l := New(Options{Sinks: []Sink{NewWriterSink("disk", failingWriter{})}, Continue: cont, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		err := l.Record(context.Background(), Event{Event: ToolCall, Outcome: OK})
		if cont {
			if err != nil || !strings.Contains(logs.String(), "AUDIT RECORD LOST") {
				t.Errorf("continue: err = %v, logs = %q; want nil and a loud warning", err, logs.String())
			}
			continue
		}
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(logs.String(), "refusing") {
			t.Errorf("refuse: err = %v, logs = %q; want ErrUnavailable", err, logs.String())
		}
	}
}
