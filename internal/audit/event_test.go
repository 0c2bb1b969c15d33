package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// TestEventFieldsArePlain is the type-level guarantee: an Event can hold
// only strings, outcomes, times and integers. A field that could carry a
// secret (sensitive.String, any, a map, a slice, a pointer, a struct of
// its own) fails here, on purpose: such a value would have to be turned
// into a plain, safe string before it is audited.
func TestEventFieldsArePlain(t *testing.T) {
	allowed := map[reflect.Type]bool{
		reflect.TypeFor[string]():    true,
		reflect.TypeFor[Outcome]():   true,
		reflect.TypeFor[time.Time](): true,
		reflect.TypeFor[int64]():     true,
	}
	et := reflect.TypeFor[Event]()
	for i := range et.NumField() {
		f := et.Field(i)
		if !allowed[f.Type] {
			t.Errorf("Event.%s is a %s: only string, Outcome, time.Time and int64 may be audited", f.Name, f.Type)
		}
		if !f.IsExported() {
			t.Errorf("Event.%s is unexported: fmt and json would print it without its methods", f.Name)
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			t.Errorf("Event.%s has no json name", f.Name)
		}
		if name == "seq" || name == "prev" || name == "mac" {
			t.Errorf("Event.%s is named %q, a chain field the Log adds", f.Name, name)
		}
	}
	if reflect.TypeFor[Outcome]().Kind() != reflect.String {
		t.Error("Outcome is no longer a string")
	}
}

// TestSensitiveValuesNeverShow puts a canary secret everywhere a careless
// caller might: in a Detail built with fmt, in a wrapped error's text, in
// a Reason. Every sink's output shows [REDACTED], never the canary.
func TestSensitiveValuesNeverShow(t *testing.T) {
	const canary = "hvs.CANARY-secret-value-4711"
	secret := sensitive.New(canary)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	var stderr, logs bytes.Buffer
	fs, err := NewFileSink(FileOptions{Path: path, Key: testKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	l := New(Options{
		Sinks:  []Sink{fs, NewWriterSink("stderr", &stderr), NewWriterSink("down", failingWriter{})},
		Key:    testKey(t),
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	defer func() { _ = l.Close() }()
	wrapped := fmt.Errorf("vault said no to %v: %w", secret, errors.New("permission denied"))
	events := []Event{
		{Event: ToolCall, Outcome: Failed, Detail: fmt.Sprintf("token %s, %v, %q, %x, %+v, %#v", secret, secret, secret, secret, secret, secret)},
		{Event: ToolCall, Outcome: Failed, Detail: wrapped.Error()},
		{Event: ApprovalDecided, Outcome: Denied, Reason: fmt.Sprint("passcode ", secret)},
		{Event: GrantIssued, Outcome: OK, Accessor: fmt.Sprintf("%s", secret)},
	}
	for _, e := range events {
		_ = l.Record(context.Background(), e) // the failing sink makes it refuse; the rest still write
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"file": string(file), "stderr": stderr.String(), "debug log": logs.String()} {
		if strings.Contains(out, canary) {
			t.Errorf("%s shows the secret:\n%s", name, out)
		}
	}
	if n := strings.Count(string(file), sensitive.Redacted); n < 9 {
		t.Errorf("file shows %s %d times, want every attempt:\n%s", sensitive.Redacted, n, file)
	}
	// Whatever goes in, each line stays one JSON object that verifies.
	for _, line := range readLines(t, path) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("line is not JSON: %v", err)
		}
	}
	if _, err := Verify(VerifyOptions{Key: testKey(t)}, []string{path}); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

// TestChainedLinesKeepTheEventFields: readers of the audit trail find the
// same top-level fields as before the chain, plus seq, prev and mac.
func TestChainedLinesKeepTheEventFields(t *testing.T) {
	var buf bytes.Buffer
	l := New(Options{Sinks: []Sink{NewWriterSink("buf", &buf)}, Key: testKey(t)})
	ctx := WithCorrelationID(context.Background(), "c-9")
	for range 2 {
		if err := l.Record(ctx, Event{Event: GrantIssued, Outcome: OK, Principal: "ci", Tier: "read", ExpiresAt: time.Unix(1e9, 0)}); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var first, second map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"event": "grant.issued", "outcome": "ok", "principal": "ci", "tier": "read", "correlation_id": "c-9", "seq": 1.0, "prev": Genesis} {
		if first[k] != want {
			t.Errorf("first[%q] = %v, want %v", k, first[k], want)
		}
	}
	if second["seq"] != 2.0 || second["prev"] != first["mac"] {
		t.Errorf("second does not link to the first: %v", second)
	}
	if !strings.HasSuffix(lines[0], `,"mac":"`+first["mac"].(string)+`"}`) {
		t.Errorf("mac is not the last field: %s", lines[0])
	}
}
