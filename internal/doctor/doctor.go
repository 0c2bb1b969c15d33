package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Check is one thing serve needs.
type Check struct {
	Name string
	// Needs names checks that must pass first: when one did not, this
	// one is skipped (a sealed Vault has no token to look up).
	Needs []string
	// Run returns what it found (one line, no secret) or why it failed:
	// an error from Fail carries the fix, one from Skip says why the
	// check does not apply.
	Run func(ctx context.Context) (string, error)
}

// Status is a check's outcome.
type Status string

// Outcomes.
const (
	OK      Status = "ok"
	Failed  Status = "fail"
	Skipped Status = "skip"
)

// Result is one check's outcome, as doctor prints it.
type Result struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Fix says how to make a failed check pass.
	Fix string `json:"fix,omitempty"`
}

// Report is every check's outcome, in order.
type Report struct {
	OK     bool     `json:"ok"`
	Checks []Result `json:"checks"`
}

// Failure is the first failed check, if any.
func (r Report) Failure() (Result, bool) {
	for _, c := range r.Checks {
		if c.Status == Failed {
			return c, true
		}
	}
	return Result{}, false
}

// problem is a failure with its fix.
type problem struct {
	err error
	fix string
}

func (p *problem) Error() string { return p.err.Error() }
func (p *problem) Unwrap() error { return p.err }

// Fail is a failed check's error with the fix for it.
func Fail(fix string, format string, args ...any) error {
	return &problem{err: fmt.Errorf(format, args...), fix: fix}
}

// skip is a check that does not apply.
type skip struct{ why string }

func (s *skip) Error() string { return s.why }

// Skip says why a check does not apply here.
func Skip(why string) error { return &skip{why: why} }

// fixOf is the fix an error carries, if any.
func fixOf(err error) string {
	if p, ok := errors.AsType[*problem](err); ok {
		return p.fix
	}
	return ""
}

// checkTimeout bounds each check.
const checkTimeout = 10 * time.Second

// Run runs checks in order, each bounded by checkTimeout. A check whose
// Needs did not all pass is skipped.
func Run(ctx context.Context, checks []Check) Report {
	rep := Report{OK: true}
	status := map[string]Status{}
	for _, c := range checks {
		r := run(ctx, c, status)
		status[c.Name] = r.Status
		if r.Status == Failed {
			rep.OK = false
		}
		rep.Checks = append(rep.Checks, r)
	}
	return rep
}

func run(ctx context.Context, c Check, status map[string]Status) Result {
	for _, n := range c.Needs {
		if status[n] != OK {
			return Result{Name: c.Name, Status: Skipped, Detail: "needs " + n}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	detail, err := c.Run(ctx)
	if s, ok := errors.AsType[*skip](err); ok {
		return Result{Name: c.Name, Status: Skipped, Detail: s.why}
	}
	if err != nil {
		fix := fixOf(err)
		if fix == "" {
			fix = "see the detail; gatekeeper doctor --json shows every check"
		}
		return Result{Name: c.Name, Status: Failed, Detail: err.Error(), Fix: fix}
	}
	return Result{Name: c.Name, Status: OK, Detail: detail}
}

// WriteText prints one line per check: its status, name and what it found,
// and for a failure the fix.
func (r Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range r.Checks {
		line := c.Detail
		if c.Status == Failed {
			line += " -> fix: " + c.Fix
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", strings.ToUpper(string(c.Status)), c.Name, oneLine(line))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var failed []string
	for _, c := range r.Checks {
		if c.Status == Failed {
			failed = append(failed, c.Name)
		}
	}
	if len(failed) > 0 {
		_, err := fmt.Fprintf(w, "\n%d check(s) failed: %s\n", len(failed), strings.Join(failed, ", "))
		return err
	}
	_, err := fmt.Fprintln(w, "\nevery check passed: gatekeeper serve has what it needs")
	return err
}

// WriteJSON prints the report as one JSON document.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// oneLine keeps a detail on its line: errors.Join separates with newlines.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }
