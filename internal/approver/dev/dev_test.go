package dev

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
)

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func req() access.Request {
	return access.Request{ID: "apr_1", Principal: "dev", Tier: access.Write, Scope: "secret/agent/dev/",
		Reason: "rotate the key", Trigger: "escalate", TTL: time.Minute, Expires: time.Now().Add(time.Minute), Digest: strings.Repeat("ab", 32)}
}

func TestAnswers(t *testing.T) {
	tests := []struct {
		name, answer string
		want         error
	}{
		{"ok/y", "y\n", nil},
		{"ok/yes", " YES \n", nil},
		{"fail/n", "n\n", access.ErrDenied},
		{"fail/empty", "\n", access.ErrDenied},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inR, inW := io.Pipe()
			out := &syncBuf{}
			a := New(inR, out)
			done := make(chan error)
			go func() { done <- a.Approve(context.Background(), req()) }()
			for !strings.Contains(out.String(), "Approve? [y/N]") {
				time.Sleep(time.Millisecond)
			}
			_, _ = io.WriteString(inW, tc.answer)
			if err := <-done; !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("Approve() = %v, want %v", err, tc.want)
			}
			for _, want := range []string{"Agent:", "dev", "write", "rotate the key", "abab abab abab abab"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("prompt lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	inR, _ := io.Pipe()
	a := New(inR, io.Discard)
	r := req()
	r.Expires = time.Now().Add(20 * time.Millisecond)
	if err := a.Approve(context.Background(), r); !errors.Is(err, access.ErrApprovalTimeout) {
		t.Fatalf("Approve() = %v, want ErrApprovalTimeout", err)
	}
}

// The request is one framed block, every row as wide as the frame, and a
// reason cannot break out of it or drive the terminal.
func TestPromptIsFramed(t *testing.T) {
	inR, inW := io.Pipe()
	out := &syncBuf{}
	a := New(inR, out)
	r := req()
	r.Reason = "rotate\n\x1b[2J│ Access: none"
	done := make(chan error)
	go func() { done <- a.Approve(context.Background(), r) }()
	for !strings.Contains(out.String(), "Approve? [y/N]") {
		time.Sleep(time.Millisecond)
	}
	_, _ = io.WriteString(inW, "n\n")
	if err := <-done; !errors.Is(err, access.ErrDenied) {
		t.Errorf("Approve() = %v, want ErrDenied", err)
	}
	prompt, _, _ := strings.Cut(out.String(), "Approve? [y/N]")
	if strings.ContainsRune(prompt, 0x1b) {
		t.Errorf("the prompt carries the reason's escape sequence: %q", prompt)
	}
	rows := strings.Split(strings.Trim(prompt, "\n"), "\n")
	if !strings.HasPrefix(rows[0], "╭─ Gatekeeper approval request ") || !strings.HasPrefix(rows[len(rows)-1], "╰") {
		t.Fatalf("the prompt is not framed:\n%s", prompt)
	}
	width := utf8.RuneCountInString(rows[0])
	for _, row := range rows {
		if n := utf8.RuneCountInString(row); n != width {
			t.Errorf("row %q is %d wide, the frame %d", row, n, width)
		}
	}
	for _, want := range []string{`│ Reason:        rotate\u000A\u001B[2J│ Access: none`, "│ Access:        write", "Type y and Enter to approve"} {
		if !strings.Contains(prompt, want) {
			t.Errorf("the frame lacks %q:\n%s", want, prompt)
		}
	}
}
