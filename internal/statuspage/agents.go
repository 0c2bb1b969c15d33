package statuspage

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

// maxAgentRows bounds the agents listed; those that wait for an approval
// and those that asked for the most come first.
const maxAgentRows = 50

// agentRow is one agent as an operator sees it in an incident: its tier,
// the time its grants have left, the last thing it did, its approval
// requests over time; and, for the revoke buttons, its live grants and
// pending approvals.
type agentRow struct {
	Principal string
	Tier      access.Tier
	Grants    []access.GrantView
	Pending   []access.PendingView
	Bars      []timeBar
	Last      *eventRow
	Chart     chart
}

// timeBar is a live grant's time left, drawn as a bar.
type timeBar struct {
	Tier  access.Tier
	Width int // of barWidth
	Left  string
	Low   bool // a fifth or less of its time is left
}

// barWidth is the time-left bar's width in pixels.
const barWidth = 120

func barOf(g access.GrantView) timeBar {
	total := g.ExpiresAt.Sub(g.IssuedAt).Seconds()
	w := barWidth
	if total > 0 {
		w = min(int(float64(g.SecondsLeft)*barWidth/total), barWidth)
	}
	return timeBar{Tier: g.Tier, Width: w, Left: duration(time.Duration(g.SecondsLeft) * time.Second), Low: w*5 <= barWidth}
}

// duration is d in two units at most: "3h 12m", "9m 40s", "40s".
func duration(d time.Duration) string {
	d = d.Round(time.Second)
	switch h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60; {
	case h > 0:
		return fmt.Sprintf("%dh %02dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm %02ds", m, s)
	default:
		return fmt.Sprintf("%ds", s)
	}
}

// agentRows lists every agent the snapshot or the recent events know,
// bounded by maxAgentRows, and says how many more there are.
func agentRows(snap access.Snapshot, events []audit.Event, folded []foldedAuths, known []string, requests map[string][]time.Time) (rows []agentRow, more int) {
	byName := map[string]*agentRow{}
	row := func(p string) *agentRow {
		if byName[p] == nil {
			byName[p] = &agentRow{Principal: p}
		}
		return byName[p]
	}
	for _, g := range snap.Grants {
		r := row(string(g.Principal))
		r.Grants = append(r.Grants, g)
		r.Bars = append(r.Bars, barOf(g))
		r.Tier = max(r.Tier, g.Tier)
	}
	for _, pv := range snap.Pending {
		r := row(string(pv.Principal))
		r.Pending = append(r.Pending, pv)
	}
	for _, p := range known {
		row(p)
	}
	for _, e := range events { // newest first
		if r := byName[e.Principal]; r != nil && r.Last == nil {
			r.Last = &eventRow{Event: e}
		}
	}
	for _, a := range folded {
		if r := byName[a.Principal]; r != nil && r.Last == nil {
			r.Last = &eventRow{Event: audit.Event{Time: a.Last, Event: audit.Authentication, Outcome: audit.OK, Principal: a.Principal}, Folded: a.Count}
		}
	}
	counts := map[string][chartBuckets]int{}
	for p := range byName {
		counts[p] = bucketize(requests[p], snap.At)
	}
	for p, c := range charts(counts, snap.At) {
		byName[p].Chart = c
	}
	for _, r := range byName {
		rows = append(rows, *r)
	}
	slices.SortFunc(rows, func(a, b agentRow) int {
		return cmp.Or(
			cmp.Compare(len(b.Pending), len(a.Pending)),
			cmp.Compare(b.Chart.Total, a.Chart.Total),
			cmp.Compare(a.Principal, b.Principal),
		)
	})
	if len(rows) > maxAgentRows {
		more = len(rows) - maxAgentRows
		rows = rows[:maxAgentRows]
	}
	return rows, more
}
