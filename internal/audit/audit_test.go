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
	l := New(&buf, nil)
	ctx := WithCorrelationID(context.Background(), "c-1")
	l.Record(ctx, Event{Event: ToolCall, Outcome: OK, Tool: "read_secret", Path: "db"})
	l.Record(context.Background(), Event{Event: GrantIssued}) // no outcome given
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

func TestWriteFailureIsReported(t *testing.T) {
	var logs bytes.Buffer
	New(failingWriter{}, slog.New(slog.NewTextHandler(&logs, nil))).Record(context.Background(), Event{Event: ToolCall, Outcome: OK})
	if !strings.Contains(logs.String(), "writing the audit log") {
		t.Errorf("logs = %q", logs.String())
	}
}
