package httpserver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func (h *harness) readyz(t *testing.T) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Transport: h.transport}).Get(h.url + "/readyz")
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// A flood of /readyz makes one round of checks per interval, not one per
// request.
func TestReadyzSharesOneRunPerInterval(t *testing.T) {
	var runs atomic.Int32
	h := newHarness(t, func(o *Options) {
		o.Ready = []Check{{Name: "vault", Run: func(context.Context) error { runs.Add(1); return nil }}}
	})
	flood := func() {
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				if code, body := h.readyz(t); code != http.StatusOK || body != `{"status":"ready"}` {
					t.Errorf("/readyz = %d %s", code, body)
				}
			})
		}
		wg.Wait()
	}
	flood()
	if n := runs.Load(); n != 1 {
		t.Errorf("50 concurrent /readyz ran the checks %d times, want once", n)
	}
	h.clock.Advance(h.s.opts.ReadyInterval - 1)
	flood()
	if n := runs.Load(); n != 1 {
		t.Errorf("within the interval the checks ran %d times, want once", n)
	}
	h.clock.Advance(1)
	flood()
	if n := runs.Load(); n != 2 {
		t.Errorf("after the interval the checks ran %d times in all, want twice", n)
	}
}

// Unhealthy, /readyz says only "not ready": which check failed and why
// (agent names, Vault paths) is for the log.
func TestReadyzNamesNothingWhenUnhealthy(t *testing.T) {
	logs := &syncBuffer{}
	var broken atomic.Bool
	broken.Store(true)
	h := newHarness(t, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
		o.Ready = []Check{
			{Name: "vault", Run: func(context.Context) error { return nil }},
			{Name: "approver", Run: func(context.Context) error {
				if broken.Load() {
					return errors.New(`agent "alice": reading auth/userpass/login/alice-read: permission denied`)
				}
				return nil
			}},
		}
	})
	code, body := h.readyz(t)
	if code != http.StatusServiceUnavailable || body != `{"status":"not ready"}` {
		t.Errorf("unhealthy /readyz = %d %s, want 503 and only the status", code, body)
	}
	if leak := contains(body, "alice", "auth/", "approver", "vault"); leak != "" {
		t.Errorf("unhealthy /readyz discloses %q: %s", leak, body)
	}
	if !strings.Contains(logs.String(), "approver: agent") {
		t.Errorf("the log does not say which check failed:\n%s", logs.String())
	}

	broken.Store(false)
	h.clock.Advance(h.s.opts.ReadyInterval)
	if code, body := h.readyz(t); code != http.StatusOK || body != `{"status":"ready"}` {
		t.Errorf("healthy again: /readyz = %d %s", code, body)
	}
}
