package statuspage

import (
	"context"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/browsertest"
)

// screenshot, if set, is where TestStatusPageInChromium saves a picture of
// the page for the docs: go test ./internal/statuspage -run
// TestStatusPageInChromium -args -screenshot=$PWD/docs/images/status-page.png
var screenshot = flag.String("screenshot", "", "save the incident status page as this PNG")

// incident is an afternoon with a looping agent: deploy-bot asks for write
// access over and over (each request denied or timed out) and waits for
// one more answer now; alice and ci-runner work normally; every request
// of every agent authenticates.
func incident(t *testing.T) *harness {
	h := newHarness(t, func(o *Options) { o.Recent = NewRecent(100) })
	h.recent = h.s.opts.Recent
	h.recent.now = h.clock.Now
	h.s.opts.Audit = tee{h.audit, h.recent}
	now := t0
	h.access.snap = access.Snapshot{
		At: now,
		Grants: []access.GrantView{
			{Principal: "alice", Tier: access.Read, Scope: "secret/agent/alice/", IssuedAt: now.Add(-52 * time.Minute), ExpiresAt: now.Add(188 * time.Minute),
				SecondsLeft: 188 * 60, ApprovalID: "apr_5c1e0a9b44d2e871", Accessor: "Xq1lGkP0wVb8nT3rYcM2aZ7e"},
			{Principal: "alice", Tier: access.Write, Scope: "secret/agent/alice/", Paths: []string{"db/"}, IssuedAt: now.Add(-12 * time.Minute), ExpiresAt: now.Add(3 * time.Minute),
				SecondsLeft: 180, ApprovalID: "apr_9e77d0c3a1b25f40", Accessor: "Lr8sQe2nHx5mVd9kTw4pBc1u", Credentials: []access.CredentialView{
					{Name: "orders-db", Engine: "database", Tier: access.Write, LeaseID: "database/creds/alice-orders/Yk2Qe8vN", ExpiresAt: now.Add(3 * time.Minute)},
				}},
			{Principal: "ci-runner", Tier: access.Read, Scope: "secret/agent/ci-runner/", IssuedAt: now.Add(-3 * time.Hour), ExpiresAt: now.Add(time.Hour),
				SecondsLeft: 3600, ApprovalID: "apr_0b3f6e2d9c8a7154", Accessor: "Ty6uWq0eRb3nMk8sLp2vZx5c"},
			{Principal: "deploy-bot", Tier: access.Read, Scope: "secret/agent/deploy-bot/", IssuedAt: now.Add(-200 * time.Minute), ExpiresAt: now.Add(40 * time.Minute),
				SecondsLeft: 2400, ApprovalID: "apr_71aa04c9e3d2b6f8", Accessor: "Gh3jKl9qWe2rTy6uIo1pAs4d"},
		},
		Pending: []access.PendingView{
			{Principal: "deploy-bot", Tier: access.Write, ApprovalID: "apr_d3adb33fc0ffee01", Reason: "retry deploy: rotate the registry password",
				Trigger: "write_secret registry/password", Paths: []string{"registry/"}, Requested: now.Add(-95 * time.Second), Expires: now.Add(205 * time.Second)},
		},
	}
	ctx := context.Background()
	rec := func(at time.Time, e audit.Event) {
		e.Time = at
		if err := h.recent.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// Routine authentications, one per request, all afternoon.
	for i := range 412 {
		rec(now.Add(-time.Duration(412-i)*8*time.Second), audit.Event{Event: audit.Authentication, Outcome: audit.OK, Principal: "alice", Method: "api_key", Path: "/mcp"})
	}
	for i := range 97 {
		rec(now.Add(-time.Duration(97-i)*35*time.Second), audit.Event{Event: audit.Authentication, Outcome: audit.OK, Principal: "ci-runner", Method: "jwt", Path: "/mcp"})
	}
	// alice earned write 12 minutes ago, ci-runner read long ago.
	rec(now.Add(-12*time.Minute-20*time.Second), audit.Event{Event: audit.ApprovalRequested, Outcome: audit.OK, Principal: "alice", Tier: "write", ApprovalID: "apr_9e77d0c3a1b25f40", Tool: "escalate", Reason: "migrate the orders table"})
	rec(now.Add(-12*time.Minute), audit.Event{Event: audit.ApprovalDecided, Outcome: audit.OK, Principal: "alice", Tier: "write", ApprovalID: "apr_9e77d0c3a1b25f40"})
	rec(now.Add(-12*time.Minute), audit.Event{Event: audit.GrantIssued, Outcome: audit.OK, Principal: "alice", Tier: "write", ApprovalID: "apr_9e77d0c3a1b25f40", Accessor: "Lr8sQe2nHx5mVd9kTw4pBc1u"})
	rec(now.Add(-41*time.Minute), audit.Event{Event: audit.ApprovalRequested, Outcome: audit.OK, Principal: "ci-runner", Tier: "read", ApprovalID: "apr_44c0e1d2b3a49586", Tool: "authenticate"})
	// deploy-bot loops: a write request every 20 seconds for 12 minutes.
	for i := range 36 {
		at := now.Add(-13*time.Minute + time.Duration(i)*20*time.Second)
		id := fmt.Sprintf("apr_%016x", 0xd3adb33f00000000+uint64(i))
		rec(at, audit.Event{Event: audit.ApprovalRequested, Outcome: audit.OK, Principal: "deploy-bot", Tier: "write", ApprovalID: id, Tool: "escalate", Reason: "retry deploy: rotate the registry password"})
		outcome, detail := audit.Denied, "the human denied it"
		if i%3 == 2 {
			outcome, detail = audit.TimedOut, "no answer in time"
		}
		rec(at.Add(15*time.Second), audit.Event{Event: audit.ApprovalDecided, Outcome: outcome, Principal: "deploy-bot", Tier: "write", ApprovalID: id, Detail: detail})
	}
	for i := range 6 {
		rec(now.Add(-time.Duration(6-i)*7*time.Second), audit.Event{Event: audit.ToolCall, Outcome: audit.OK, Principal: "alice", Tool: "read_secret", Path: "db/orders"})
	}
	rec(now.Add(-20*time.Second), audit.Event{Event: audit.ToolCall, Outcome: audit.OK, Principal: "ci-runner", Tool: "list_secrets", Path: "build/"})
	rec(now.Add(-95*time.Second), audit.Event{Event: audit.ApprovalRequested, Outcome: audit.OK, Principal: "deploy-bot", Tier: "write", ApprovalID: "apr_d3adb33fc0ffee01", Tool: "write_secret", Reason: "retry deploy: rotate the registry password"})
	return h
}

// TestStatusPageInChromium: the page as an operator uses it in an
// incident, in real Chromium with JavaScript off: the pending approval is
// on top, the looping agent's chart towers over the others, the filter
// hides the routine events, and Deny works.
func TestStatusPageInChromium(t *testing.T) {
	t.Parallel()
	h := incident(t)
	tab := browsertest.Tab(t, browsertest.Options{NoScript: true})
	browsertest.Do(t, tab,
		chromedp.EmulateViewport(1360, 1220),
		chromedp.Navigate(h.srv.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), testToken),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button`)),
		chromedp.WaitVisible(chromedp.CSS("table.agents")),
	)

	// The first thing on the page is what waits for a human.
	if first := browsertest.Read(t, tab, chromedp.Text(chromedp.CSS("main h2"))); !strings.HasPrefix(first, "Waiting for a human") {
		t.Errorf("the first heading is %q, want the pending approvals", first)
	}
	row := browsertest.Read(t, tab, chromedp.Text(chromedp.CSS("table.pending tr.pending")))
	for _, want := range []string{"1m 35s", "deploy-bot", "write", "registry/", "apr_d3adb33fc0ffee01", "Deny"} {
		if !strings.Contains(row, want) {
			t.Errorf("the pending approval's row lacks %q: %q", want, row)
		}
	}

	// The looping agent comes first among the agents, and its chart
	// towers over the others'.
	if first := browsertest.Read(t, tab, chromedp.AttributeValue(chromedp.CSS("table.agents tbody tr"), "data-principal")); first.Value != "deploy-bot" {
		t.Errorf("first agent = %q, want deploy-bot", first.Value)
	}
	peak := func(agent string) (total, tallest int) {
		svg := browsertest.Read(t, tab, chromedp.OuterHTML(chromedp.CSS(`tr.agent[data-principal="`+agent+`"] svg.approvals`)))
		total, _ = strconv.Atoi(regexp.MustCompile(`data-total="(\d+)"`).FindStringSubmatch(svg)[1])
		for _, m := range regexp.MustCompile(`class="b"[^>]* height="(\d+)"`).FindAllStringSubmatch(svg, -1) {
			n, _ := strconv.Atoi(m[1])
			tallest = max(tallest, n)
		}
		return total, tallest
	}
	botTotal, botTall := peak("deploy-bot")
	aliceTotal, aliceTall := peak("alice")
	if botTotal != 37 || aliceTotal != 1 || botTall != chartHeight || aliceTall*4 > botTall {
		t.Errorf("charts: deploy-bot %d requests, tallest bar %d; alice %d, %d: want the loop to stand out", botTotal, botTall, aliceTotal, aliceTall)
	}
	left := browsertest.Read(t, tab, chromedp.Text(chromedp.CSS(`tr.agent[data-principal="alice"] td.left`)))
	if !strings.Contains(left, "read 3h 08m") || !strings.Contains(left, "write 3m 00s") {
		t.Errorf("alice's time left = %q", left)
	}
	if last := browsertest.Read(t, tab, chromedp.Text(chromedp.CSS(`tr.agent[data-principal="alice"] td.last`))); !strings.Contains(last, "tool.call read_secret ok") {
		t.Errorf("alice's last action = %q", last)
	}

	// Routine authentications are folded, one row per agent.
	folded := browsertest.Read(t, tab, chromedp.Text(chromedp.CSS(`tr.folded[data-principal="alice"]`)))
	if !strings.Contains(folded, "412 successful authentications, last 08:59:52") {
		t.Errorf("alice's folded row = %q", folded)
	}
	if *screenshot != "" {
		png := browsertest.Read(t, tab, chromedp.CaptureScreenshot()) // the top: what an operator sees first
		if err := os.WriteFile(*screenshot, png, 0o644); err != nil { //nolint:gosec // G306: a picture for the docs
			t.Fatal(err)
		}
	}

	// The filter, a plain GET form: the looping agent's denials only.
	browsertest.Do(t, tab,
		chromedp.SetValue(chromedp.CSS(`select[name="agent"]`), "deploy-bot"),
		chromedp.SetValue(chromedp.CSS(`select[name="outcome"]`), "denied"),
		chromedp.Click(chromedp.ID("filter")),
		chromedp.WaitVisible(chromedp.ID("hidden")),
	)
	events := browsertest.Read(t, tab, chromedp.OuterHTML(chromedp.CSS("table.events tbody")))
	rows := regexp.MustCompile(`<tr class="([^"]*)" data-event="([^"]*)" data-outcome="([^"]*)" data-principal="([^"]*)"`).FindAllStringSubmatch(events, -1)
	if len(rows) != 24 {
		t.Errorf("filtered rows = %d, want deploy-bot's 24 denials", len(rows))
	}
	for _, r := range rows {
		if r[1] != "event" || r[2] != audit.ApprovalDecided || r[3] != "denied" || r[4] != "deploy-bot" {
			t.Errorf("the filter let through %v", r[1:])
		}
	}
	if loc := browsertest.Read(t, tab, chromedp.Location()); !strings.Contains(loc, "agent=deploy-bot") || !strings.Contains(loc, "outcome=denied") {
		t.Errorf("the filter's address = %q", loc)
	}

	// Deny, with JavaScript off: the approval ends through the access
	// model, named by the operator's session.
	browsertest.Do(t, tab,
		chromedp.Click(chromedp.CSS(`form.deny[data-approval="apr_d3adb33fc0ffee01"] button`)),
		chromedp.WaitVisible(chromedp.ID("notice")),
	)
	if notice := browsertest.Read(t, tab, chromedp.Text(chromedp.ID("notice"))); !strings.Contains(notice, "denied deploy-bot's write approval apr_d3adb33fc0ffee01") {
		t.Errorf("notice after Deny = %q", notice)
	}
	calls := h.access.called()
	if len(calls) != 1 || !strings.HasPrefix(calls[0], "deny deploy-bot apr_d3adb33fc0ffee01 (ops_") {
		t.Errorf("access calls = %v", calls)
	}
	if html := browsertest.Read(t, tab, chromedp.OuterHTML(chromedp.CSS("main"))); strings.Contains(html, `tr class="pending"`) {
		t.Error("the denied approval is still listed")
	}
}
