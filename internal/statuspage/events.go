package statuspage

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

// The list of recent events as an operator searches it in an incident:
// filtered by agent, event type and outcome (GET query parameters of a
// plain form, so it works with JavaScript off), with each agent's routine
// successful authentications folded into one row.

// filter is the event list's query: empty fields match everything.
type filter struct {
	Agent   string
	Event   string
	Outcome string
}

// outcomes are the outcomes an event can have, in the filter's order.
var outcomes = []string{string(audit.OK), string(audit.Denied), string(audit.TimedOut), string(audit.Failed), string(audit.Refused)}

// maxEventName bounds the event filter (event names are short).
const maxEventName = 64

// parseFilter reads the filter from the page's query; a value no event
// could have is refused.
func parseFilter(q url.Values) (filter, error) {
	f := filter{Agent: q.Get("agent"), Event: q.Get("event"), Outcome: q.Get("outcome")}
	switch {
	case len(f.Agent) > maxPrincipal:
		return f, fmt.Errorf("the agent to filter by is longer than %d bytes", maxPrincipal)
	case len(f.Event) > maxEventName:
		return f, fmt.Errorf("the event type to filter by is longer than %d bytes", maxEventName)
	case f.Outcome != "" && !slices.Contains(outcomes, f.Outcome):
		return f, fmt.Errorf("the outcome to filter by is none of %s", strings.Join(outcomes, ", "))
	}
	return f, nil
}

// Active reports whether the filter hides anything.
func (f filter) Active() bool { return f != filter{} }

func (f filter) match(e audit.Event) bool {
	return (f.Agent == "" || e.Principal == f.Agent) &&
		(f.Event == "" || e.Event == f.Event) &&
		(f.Outcome == "" || string(e.Outcome) == f.Outcome)
}

// eventRow is one row of the list: an event, or an agent's folded
// routine authentications (Folded > 0).
type eventRow struct {
	audit.Event
	Folded int
}

// eventRows merges the kept events and the folded authentications, newest
// first, keeps those f matches, and says how many it hid.
func eventRows(events []audit.Event, folded []foldedAuths, f filter) (rows []eventRow, hidden int) {
	all := make([]eventRow, 0, len(events)+len(folded))
	for _, e := range events {
		all = append(all, eventRow{Event: e})
	}
	for _, a := range folded {
		all = append(all, eventRow{
			Event: audit.Event{
				Time: a.Last, Event: audit.Authentication, Outcome: audit.OK, Principal: a.Principal,
				Detail: fmt.Sprintf("%d successful authentication%s, last %s", a.Count, plural(a.Count), a.Last.UTC().Format("15:04:05")),
			},
			Folded: a.Count,
		})
	}
	// Stable: events of one instant keep the order they were recorded in.
	slices.SortStableFunc(all, func(a, b eventRow) int { return b.Time.Compare(a.Time) })
	for _, r := range all {
		if f.match(r.Event) {
			rows = append(rows, r)
		} else {
			hidden++
		}
	}
	return rows, hidden
}

// eventChoices are the values the filter's lists offer: the event types
// and agents seen, plus those filtered by.
func eventChoices(events []audit.Event, folded []foldedAuths, agents []string, f filter) (names, principals []string) {
	for _, e := range events {
		names = append(names, e.Event)
		principals = append(principals, e.Principal)
	}
	if len(folded) > 0 {
		names = append(names, audit.Authentication)
	}
	names = append(names, f.Event)
	principals = append(append(principals, agents...), f.Agent)
	return compact(names), compact(principals)
}

// compact sorts and deduplicates, dropping "".
func compact(s []string) []string {
	s = slices.DeleteFunc(s, func(v string) bool { return v == "" })
	slices.Sort(s)
	return slices.Compact(s)
}

// shortTime is a timestamp that fits one line: the time of day, with the
// date in front when it is not today's (in UTC).
func shortTime(t, now time.Time) string {
	t, now = t.UTC(), now.UTC()
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format("15:04:05")
	}
	return t.Format("Jan 2 15:04")
}
