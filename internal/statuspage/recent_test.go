package statuspage

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

func TestRecentKeepsTheLastEventsNewestFirst(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		size int
		add  int
		want []string
	}{
		{"ok/empty", 3, 0, nil},
		{"ok/partial", 3, 2, []string{"e1", "e0"}},
		{"ok/exactly-full", 3, 3, []string{"e2", "e1", "e0"}},
		{"ok/wrapped", 3, 7, []string{"e6", "e5", "e4"}},
		{"ok/size-zero-keeps-one", 0, 2, []string{"e1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRecent(tc.size)
			for i := range tc.add {
				if err := r.Record(context.Background(), audit.Event{Event: fmt.Sprintf("e%d", i), Time: t0, Outcome: audit.OK}); err != nil {
					t.Fatalf("Record() = %v, want nil: it never fails", err)
				}
			}
			var got []string
			for _, e := range r.Events() {
				got = append(got, e.Event)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRecentStampsLikeTheAuditLog(t *testing.T) {
	r := NewRecent(2)
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.FixedZone("x", 3600))
	r.now = func() time.Time { return now }
	ctx := audit.WithCorrelationID(context.Background(), "c-1")
	_ = r.Record(ctx, audit.Event{Event: audit.GrantIssued})
	want := []audit.Event{{Event: audit.GrantIssued, Time: now.UTC(), CorrelationID: "c-1", Outcome: audit.Failed}}
	if diff := cmp.Diff(want, r.Events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}
