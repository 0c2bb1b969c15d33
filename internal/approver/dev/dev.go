// Package dev is the approver of `gatekeeper dev`: a prompt on the
// developer's own terminal. Configuration validation refuses it anywhere
// else, because whoever holds the terminal is the approver.
package dev

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
)

// Approver asks on a terminal, one request at a time.
type Approver struct {
	out   io.Writer
	lines chan string
	mu    sync.Mutex // one prompt at a time
}

// New reads answers from in and prompts on out. It reads in until in ends.
func New(in io.Reader, out io.Writer) *Approver {
	a := &Approver{out: out, lines: make(chan string)}
	go func() {
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			a.lines <- sc.Text()
		}
		close(a.lines)
	}()
	return a
}

// Approve shows the request and waits for y or n.
func (a *Approver) Approve(ctx context.Context, req access.Request) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	// Anything typed before this prompt answers nothing.
	for drained := false; !drained; {
		select {
		case <-a.lines:
		default:
			drained = true
		}
	}
	var lines []string
	for _, f := range approver.Describe(req) {
		lines = append(lines, fmt.Sprintf("%-14s %s", f.Label+":", f.Value))
	}
	lines = append(lines, "", "Type y and Enter to approve; n, or Enter alone, denies.")
	_, _ = io.WriteString(a.out, "\n"+frame("Gatekeeper approval request", lines)+"Approve? [y/N] ")

	deadline := time.NewTimer(time.Until(req.Expires))
	defer deadline.Stop()
	select {
	case line, ok := <-a.lines:
		if !ok {
			return errors.New("dev approver: the terminal closed")
		}
		if answer := strings.ToLower(strings.TrimSpace(line)); answer == "y" || answer == "yes" {
			_, _ = io.WriteString(a.out, "approved\n")
			return nil
		}
		_, _ = io.WriteString(a.out, "denied\n")
		return fmt.Errorf("%w: by the developer at the terminal", access.ErrDenied)
	case <-deadline.C:
		_, _ = io.WriteString(a.out, "\nno answer in time\n")
		return access.ErrApprovalTimeout
	case <-ctx.Done():
		_, _ = io.WriteString(a.out, "\nno longer needed\n")
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return access.ErrApprovalTimeout
		}
		return ctx.Err()
	}
}

// frame draws a box around lines, under a title. The lines hold no control
// characters (approver.Describe escapes them), so each is one row.
func frame(title string, lines []string) string {
	width := utf8.RuneCountInString(title) + 2
	for _, l := range lines {
		width = max(width, utf8.RuneCountInString(l))
	}
	var b strings.Builder
	b.WriteString("╭─ " + title + " " + strings.Repeat("─", width-utf8.RuneCountInString(title)-1) + "╮\n")
	for _, l := range lines {
		b.WriteString("│ " + l + strings.Repeat(" ", width-utf8.RuneCountInString(l)) + " │\n")
	}
	b.WriteString("╰" + strings.Repeat("─", width+2) + "╯\n")
	return b.String()
}
