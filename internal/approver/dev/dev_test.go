package dev

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

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
