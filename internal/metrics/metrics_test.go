package metrics

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, err := io.ReadAll(rec.Result().Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDecisionsFromTheAuditStream(t *testing.T) {
	m := New(func() map[access.Tier]int { return map[access.Tier]int{access.Read: 2, access.Write: 1} })
	ctx := context.Background()
	for _, e := range []audit.Event{
		{Event: audit.ApprovalDecided, Outcome: audit.OK, Tier: "read", ElapsedMS: 4200},
		{Event: audit.ApprovalDecided, Outcome: audit.Denied, Tier: "write", ElapsedMS: 900},
		{Event: audit.GrantExpired, Outcome: audit.OK, Tier: "write", LifetimeMS: 15 * 60 * 1000},
		{Event: audit.GrantReleased, Outcome: audit.OK, Tier: "write", LifetimeMS: 30 * 1000},
		{Event: audit.ToolCall, Outcome: audit.OK, Tool: "read_secret", ElapsedMS: 3},
		{Event: audit.Authentication, Outcome: audit.Refused, Method: "jwt"},
		{Event: audit.RateLimited, Outcome: audit.Refused, Detail: "approval requests: retry after 20s"},
	} {
		if err := m.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	out := scrape(t, m)
	for _, want := range []string{
		`gatekeeper_approval_duration_seconds_bucket{outcome="ok",tier="read",le="5"} 1`,
		`gatekeeper_approval_duration_seconds_bucket{outcome="ok",tier="read",le="2"} 0`,
		`gatekeeper_approval_duration_seconds_sum{outcome="denied",tier="write"} 0.9`,
		`gatekeeper_grant_lifetime_seconds_bucket{how="expired",tier="write",le="900"} 1`,
		`gatekeeper_grant_lifetime_seconds_bucket{how="released",tier="write",le="60"} 1`,
		`gatekeeper_grants_ended_total{how="released",tier="write"} 1`,
		`gatekeeper_tool_calls_total{outcome="ok",tool="read_secret"} 1`,
		`gatekeeper_tool_call_duration_seconds_count{outcome="ok",tool="read_secret"} 1`,
		`gatekeeper_authentications_total{method="jwt",outcome="refused"} 1`,
		`gatekeeper_rate_limited_total{kind="approvals"} 1`,
		`gatekeeper_live_grants{tier="read"} 2`,
		`gatekeeper_live_grants{tier="write"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
