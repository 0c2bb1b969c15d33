package main_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestAuditSinkDownGrantsNothing: while the audit collector refuses
// records, every call is refused and no access is granted; the file keeps
// a chain that verifies, and the collector's copy shows what it missed.
func TestAuditSinkDownGrantsNothing(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	var mu sync.Mutex
	var collected []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		mu.Lock()
		collected = append(collected, string(b))
		mu.Unlock()
	}))
	defer srv.Close()

	e := newEnv(t)
	a := e.serve("GATEKEEPER_AUDIT_HTTP_URL=" + srv.URL)
	a.authenticate()
	a.ok("read_secret", map[string]any{"path": "app/db"})
	before := len(a.liveAccessors(1))

	down.Store(true)
	const refused = "cannot write its audit log"
	a.fails("read_secret", map[string]any{"path": "app/db"}, refused)
	a.fails("escalate", map[string]any{"reason": "rotate the API key"}, refused)
	a.fails("write_secret", map[string]any{"path": "app/api", "data": map[string]any{"key": "never"}}, "") // refused either way
	down.Store(false)

	if tier := a.tier(); tier != "read" {
		t.Errorf("tier after the collector came back = %q, want read (nothing granted while it was down)", tier)
	}
	if live := a.liveAccessors(before); len(live) != before {
		t.Errorf("live tokens = %d, want %d", len(live), before)
	}
	if stored, err := e.vc.KVRead(t.Context(), e.root, "secret", "agent/app/api"); err == nil && stored.Data["key"] == "never" {
		t.Error("a write went through while the audit log could not be written")
	}
	a.stop()

	// The file took every record: it verifies. The collector missed some:
	// its copy shows them removed.
	key := "GATEKEEPER_AUDIT_KEY=" + auditKey
	if out, errOut, code := run(t, []string{key}, "audit", "verify", a.audit); code != 0 || !strings.Contains(out, "ok: ") {
		t.Errorf("audit verify on the file: exit %d\n%s%s", code, out, errOut)
	}
	mu.Lock()
	copyPath := filepath.Join(t.TempDir(), "collected.jsonl")
	err := os.WriteFile(copyPath, []byte(strings.Join(collected, "\n")+"\n"), 0o600)
	mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if out, _, code := run(t, []string{key}, "audit", "verify", copyPath); code == 0 || !strings.Contains(out, "removed records") {
		t.Errorf("audit verify on the collector's copy: exit %d\n%s", code, out)
	}
}
