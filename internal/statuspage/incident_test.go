package statuspage

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

// Unit tests of what the page computes for an incident: folding, the
// filter, the chart's buckets and scale, the agents' rows.

func auth(p string, at time.Time) audit.Event {
	return audit.Event{Event: audit.Authentication, Outcome: audit.OK, Principal: p, Method: "api_key", Time: at}
}

func TestRecentFoldsRoutineAuthentications(t *testing.T) {
	r := NewRecent(10)
	ctx := context.Background()
	for i := range 412 {
		_ = r.Record(ctx, auth("alice", t0.Add(time.Duration(i)*time.Second)))
	}
	_ = r.Record(ctx, auth("bob", t0.Add(time.Hour)))
	// Not routine: a refused authentication, the operator's sign-in.
	_ = r.Record(ctx, audit.Event{Event: audit.Authentication, Outcome: audit.Refused, Principal: "alice", Time: t0})
	_ = r.Record(ctx, audit.Event{Event: audit.Authentication, Outcome: audit.OK, Principal: operatorName, Method: operatorMethod, Time: t0})

	want := []foldedAuths{{"bob", 1, t0.Add(time.Hour)}, {"alice", 412, t0.Add(411 * time.Second)}}
	if diff := cmp.Diff(want, r.folds()); diff != "" {
		t.Errorf("folded (-want +got):\n%s", diff)
	}
	var kept []string
	for _, e := range r.Events() {
		kept = append(kept, e.Principal+" "+string(e.Outcome))
	}
	if diff := cmp.Diff([]string{"operator ok", "alice refused"}, kept); diff != "" {
		t.Errorf("events kept (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"alice", "bob"}, r.agentNames()); diff != "" {
		t.Errorf("agents (-want +got):\n%s (the operator is not an agent)", diff)
	}
}

func TestRecentIsBounded(t *testing.T) {
	r := NewRecent(5)
	ctx := context.Background()
	for i := range maxTracked + 10 {
		_ = r.Record(ctx, auth(fmt.Sprintf("agent-%03d", i), t0.Add(time.Duration(i)*time.Second)))
	}
	agents := r.agentNames()
	if len(agents) != maxTracked || agents[0] != "agent-010" {
		t.Errorf("agents kept = %d from %s, want the %d most recently active", len(agents), agents[0], maxTracked)
	}
	// A looping agent: only its last maxTimes requests within the window.
	for i := range maxTimes + 500 {
		_ = r.Record(ctx, audit.Event{Event: audit.ApprovalRequested, Outcome: audit.OK, Principal: "loop", Time: t0.Add(time.Hour + time.Duration(i)*time.Millisecond)})
	}
	_ = r.Record(ctx, audit.Event{Event: audit.ApprovalRequested, Outcome: audit.OK, Principal: "slow", Time: t0.Add(time.Hour)})
	_ = r.Record(ctx, audit.Event{Event: audit.ApprovalRequested, Outcome: audit.OK, Principal: "slow", Time: t0.Add(time.Hour + chartWindow + time.Minute)})
	req := r.requestTimes()
	if n := len(req["loop"]); n != maxTimes {
		t.Errorf("loop's requests kept = %d, want %d", n, maxTimes)
	}
	if diff := cmp.Diff([]time.Time{t0.Add(time.Hour + chartWindow + time.Minute)}, req["slow"]); diff != "" {
		t.Errorf("slow's requests (-want +got):\n%s (older than the window are dropped)", diff)
	}
	if n := len(r.Events()); n != 5 {
		t.Errorf("events kept = %d, want 5", n)
	}
}

func TestBucketize(t *testing.T) {
	now := t0.Add(30 * time.Second) // inside the bucket [09:00, 09:02)
	got := bucketize([]time.Time{
		now,                                   // the last bucket
		t0.Add(bucketWidth - time.Nanosecond), // the last bucket, its end
		t0.Add(bucketWidth),                   // after the window: not counted
		t0.Add(-time.Nanosecond),              // the bucket before
		t0.Add(bucketWidth - chartWindow),     // the first bucket, its start
		t0.Add(bucketWidth - chartWindow - time.Nanosecond), // before the window
	}, now)
	var want [chartBuckets]int
	want[chartBuckets-1], want[chartBuckets-2], want[0] = 2, 1, 1
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("buckets (-want +got):\n%s", diff)
	}
}

func TestChartsShareOneScale(t *testing.T) {
	var loop, calm, idle [chartBuckets]int
	loop[29], loop[28] = 40, 20
	calm[10] = 1
	c := charts(map[string][chartBuckets]int{"loop": loop, "calm": calm, "idle": idle}, t0)
	heights := func(p string) (out []int) {
		for _, b := range c[p].Bars {
			if b.Height > 0 {
				out = append(out, b.Height)
			}
			if b.Y+b.Height != chartHeight {
				t.Errorf("%s: a bar does not stand on the base line: %+v", p, b)
			}
		}
		return out
	}
	if diff := cmp.Diff([]int{chartHeight / 2, chartHeight}, heights("loop")); diff != "" {
		t.Errorf("loop's bars (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{2}, heights("calm")); diff != "" {
		t.Errorf("calm's bars (-want +got):\n%s (one request is still seen)", diff)
	}
	if h := heights("idle"); h != nil || c["idle"].Total != 0 {
		t.Errorf("idle's bars = %v", h)
	}
	if c["loop"].Total != 60 || c["loop"].Peak != 40 || len(c["loop"].Bars) != chartBuckets {
		t.Errorf("loop's chart = total %d, peak %d, %d bars", c["loop"].Total, c["loop"].Peak, len(c["loop"].Bars))
	}
	if got := c["loop"].Bars[29].Label; got != "09:00–09:02: 40 approval requests" {
		t.Errorf("the last bar's label = %q", got)
	}
}

func TestEventRowsFilterAndFold(t *testing.T) {
	events := []audit.Event{ // newest first, as Recent gives them
		{Time: t0.Add(3 * time.Minute), Event: audit.ApprovalDecided, Outcome: audit.Denied, Principal: "loop"},
		{Time: t0.Add(2 * time.Minute), Event: audit.ApprovalRequested, Outcome: audit.OK, Principal: "loop"},
		{Time: t0, Event: audit.ToolCall, Outcome: audit.OK, Principal: "alice", Tool: "read_secret"},
	}
	folded := []foldedAuths{{"alice", 412, t0.Add(time.Minute)}}
	type row struct {
		Event, Principal string
		Folded           int
	}
	list := func(rows []eventRow) (out []row) {
		for _, r := range rows {
			out = append(out, row{r.Event.Event, r.Principal, r.Folded})
		}
		return out
	}
	tests := []struct {
		name   string
		filter filter
		want   []row
		hidden int
	}{
		{"ok/all", filter{}, []row{{"approval.decided", "loop", 0}, {"approval.requested", "loop", 0}, {"authentication", "alice", 412}, {"tool.call", "alice", 0}}, 0},
		{"ok/agent", filter{Agent: "alice"}, []row{{"authentication", "alice", 412}, {"tool.call", "alice", 0}}, 2},
		{"ok/event-hides-routine", filter{Event: audit.ToolCall}, []row{{"tool.call", "alice", 0}}, 3},
		{"ok/outcome-hides-routine", filter{Outcome: "denied"}, []row{{"approval.decided", "loop", 0}}, 3},
		{"ok/nothing", filter{Agent: "nobody"}, nil, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, hidden := eventRows(events, folded, tc.filter)
			if diff := cmp.Diff(tc.want, list(rows)); diff != "" || hidden != tc.hidden {
				t.Errorf("rows (-want +got):\n%s; hidden %d, want %d", diff, hidden, tc.hidden)
			}
		})
	}
	rows, _ := eventRows(nil, folded, filter{})
	if rows[0].Detail != "412 successful authentications, last 09:01:00" {
		t.Errorf("the folded row says %q", rows[0].Detail)
	}
	names, agents := eventChoices(events, folded, []string{"bob"}, filter{Agent: "zed", Event: "grant.issued"})
	if diff := cmp.Diff([]string{"approval.decided", "approval.requested", "authentication", "grant.issued", "tool.call"}, names); diff != "" {
		t.Errorf("event choices (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"alice", "bob", "loop", "zed"}, agents); diff != "" {
		t.Errorf("agent choices (-want +got):\n%s", diff)
	}
}

func TestParseFilter(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  filter
		err   string
	}{
		{"ok/empty", "", filter{}, ""},
		{"ok/all", "agent=alice&event=tool.call&outcome=timed_out", filter{"alice", "tool.call", "timed_out"}, ""},
		{"fail/outcome", "outcome=maybe", filter{}, "none of"},
		{"fail/long-agent", "agent=" + strings.Repeat("a", maxPrincipal+1), filter{}, "longer than"},
		{"fail/long-event", "event=" + strings.Repeat("e", maxEventName+1), filter{}, "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tc.query)
			got, err := parseFilter(q)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseFilter(%q) = %v, want an error with %q", tc.query, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("parseFilter(%q) = %+v, %v", tc.query, got, err)
			}
		})
	}
}

func TestStatusPageRefusesABadFilter(t *testing.T) {
	h := newHarness(t, nil)
	b := h.browser(t)
	b.login()
	r := b.get("/?outcome=%3Cscript%3E")
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "none of") || strings.Contains(r.body, "<script>") {
		t.Errorf("a bad filter: %d\n%s", r.status, r.body)
	}
}

func TestAgentRows(t *testing.T) {
	snap := testSnapshot() // alice read 3h left of 4h, write 15m of 15m; bob waits
	snap.Grants[0].SecondsLeft = 3 * 3600
	events := []audit.Event{{Time: t0, Event: audit.ToolCall, Outcome: audit.OK, Principal: "alice", Tool: "read_secret"}}
	folded := []foldedAuths{{"carol", 7, t0.Add(-time.Minute)}, {"alice", 3, t0.Add(time.Minute)}}
	requests := map[string][]time.Time{"carol": {t0, t0, t0}, "alice": {t0}}
	rows, more := agentRows(snap, events, folded, []string{"alice", "carol"}, requests)
	var order []string
	for _, r := range rows {
		order = append(order, r.Principal)
	}
	// bob waits for a human; carol asked most.
	if diff := cmp.Diff([]string{"bob", "carol", "alice"}, order); diff != "" || more != 0 {
		t.Errorf("order (-want +got):\n%s; more %d", diff, more)
	}
	alice := rows[2]
	if alice.Tier != access.Write || len(alice.Grants) != 2 || alice.Last == nil || alice.Last.Tool != "read_secret" {
		t.Errorf("alice = %+v", alice)
	}
	if diff := cmp.Diff([]timeBar{{access.Read, 90, "3h 00m", false}, {access.Write, 120, "15m 00s", false}}, alice.Bars); diff != "" {
		t.Errorf("alice's bars (-want +got):\n%s", diff)
	}
	if carol := rows[1]; carol.Tier != access.None || carol.Last == nil || carol.Last.Folded != 7 || carol.Chart.Total != 3 {
		t.Errorf("carol = %+v", carol)
	}
	var many []string
	for i := range maxAgentRows + 3 {
		many = append(many, fmt.Sprintf("a%02d", i))
	}
	if rows, more := agentRows(access.Snapshot{At: t0}, nil, nil, many, nil); len(rows) != maxAgentRows || more != 3 {
		t.Errorf("%d agents: %d rows, %d more", len(many), len(rows), more)
	}
}

func TestTimeBarAndDuration(t *testing.T) {
	g := access.GrantView{Tier: access.Read, IssuedAt: t0, ExpiresAt: t0.Add(4 * time.Hour), SecondsLeft: 40 * 60}
	if b := barOf(g); b.Width != 20 || !b.Low || b.Left != "40m 00s" {
		t.Errorf("bar = %+v", b)
	}
	for d, want := range map[time.Duration]string{0: "0s", 59 * time.Second: "59s", 95 * time.Second: "1m 35s", 3*time.Hour + 8*time.Minute: "3h 08m"} {
		if got := duration(d); got != want {
			t.Errorf("duration(%s) = %q, want %q", d, got, want)
		}
	}
	if got := shortTime(t0.Add(-time.Hour*24), t0); got != "Nov 23 09:00" {
		t.Errorf("another day's time = %q", got)
	}
	if got := shortTime(t0.Add(5*time.Second), t0); got != "09:00:05" {
		t.Errorf("today's time = %q", got)
	}
}
