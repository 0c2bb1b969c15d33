package httpserver

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/ratelimit"
)

const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"v0"}}}`

type initResult struct {
	status     int
	retryAfter string
	sessionID  string
	message    string // the JSON-RPC error's
}

// initialize opens a session as agent with a bare POST, as any client does.
func (h *harness) initialize(t *testing.T, agent string) initResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+"/mcp", strings.NewReader(initializeBody))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("X-API-Key", "key-"+agent)
	resp, err := (&http.Client{Transport: h.transport}).Do(req)
	if err != nil {
		t.Error(err)
		return initResult{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	res := initResult{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), sessionID: resp.Header.Get(sessionIDHeader)}
	if resp.StatusCode != http.StatusOK {
		var v struct {
			JSONRPC string `json:"jsonrpc"`
			Error   struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(b, &v); err != nil || v.JSONRPC != "2.0" || v.Error.Code == 0 {
			t.Errorf("refusal is not a JSON-RPC error: %s", b)
		}
		res.message = v.Error.Message
	}
	return res
}

// Beyond the cap an agent's new session is refused with a clear JSON-RPC
// error; other agents are not affected, and a closed session makes room.
func TestSessionsPerAgentAreCapped(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxSessionsPerAgent = 3 })
	ctx := t.Context()
	var open []interface{ Close() error }
	for range 3 {
		cs, err := h.connect(ctx, "alice")
		if err != nil {
			t.Fatalf("session within the cap: %v", err)
		}
		open = append(open, cs)
	}
	r := h.initialize(t, "alice")
	if r.status != http.StatusTooManyRequests || r.sessionID != "" || !strings.Contains(r.message, "max_sessions_per_agent") {
		t.Fatalf("session beyond the cap: %+v, want 429 and an error naming the setting", r)
	}
	if _, err := h.connect(ctx, "alice"); err == nil {
		t.Error("an MCP client opened a session beyond the cap")
	}
	bob, err := h.connect(ctx, "bob")
	if err != nil {
		t.Fatalf("another agent's session: %v", err)
	}
	defer bob.Close()

	if err := open[0].Close(); err != nil { // DELETE /mcp
		t.Fatal(err)
	}
	if r := h.initialize(t, "alice"); r.status != http.StatusOK || r.sessionID == "" {
		t.Errorf("session after one closed: %+v", r)
	}

	var refused int
	for _, ev := range h.audit.list() {
		if ev.Event == audit.RateLimited && ev.Principal == "alice" && ev.Outcome == audit.Refused {
			refused++
		}
	}
	if refused < 2 {
		t.Errorf("%d refused sessions audited, want one for each (2 or more: the client may retry)", refused)
	}
}

// Concurrent initialize calls cannot open more sessions than the cap
// between them.
func TestConcurrentSessionsStayWithinTheCap(t *testing.T) {
	const maxSessions = 4
	h := newHarness(t, func(o *Options) { o.MaxSessionsPerAgent = maxSessions })
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			r := h.initialize(t, "alice")
			mu.Lock()
			codes[r.status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[http.StatusOK] == 0 || codes[http.StatusOK] > maxSessions || codes[http.StatusOK]+codes[http.StatusTooManyRequests] != 40 {
		t.Errorf("40 concurrent initialize: %v, want at most %d 200s and 429s for the rest", codes, maxSessions)
	}
	if n := h.s.servers.sessions("alice"); n > maxSessions {
		t.Errorf("%d sessions open, want at most %d", n, maxSessions)
	}
}

// Opening sessions takes tokens from the agent's own rate limit.
func TestSessionCreationIsRateLimited(t *testing.T) {
	var h *harness
	h = newHarness(t, func(o *Options) {
		limiter := ratelimit.New(func(string) ratelimit.Rate { return ratelimit.Rate{PerMinute: 6, Burst: 2} },
			func() time.Time { return h.clock.Now() })
		o.AllowSession = limiter.Allow
	})
	for range 2 {
		if r := h.initialize(t, "alice"); r.status != http.StatusOK {
			t.Fatalf("session within the rate: %+v", r)
		}
	}
	r := h.initialize(t, "alice")
	if r.status != http.StatusTooManyRequests || r.retryAfter != "10" || !strings.Contains(r.message, "too fast") {
		t.Errorf("third session at once: %+v, want 429, Retry-After 10 and a clear error", r)
	}
	if r := h.initialize(t, "bob"); r.status != http.StatusOK {
		t.Errorf("another agent's session: %+v", r)
	}
	h.clock.Advance(10 * time.Second)
	if r := h.initialize(t, "alice"); r.status != http.StatusOK {
		t.Errorf("session after the wait: %+v", r)
	}
}
