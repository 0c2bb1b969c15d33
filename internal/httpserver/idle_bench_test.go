package httpserver

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

// BenchmarkIdleSessions: what an idle MCP session holds in the server, as
// Go heap and goroutine stack, with the keep-alive connections that opened
// the sessions closed (scripts/bench measures the resident size of a
// whole process; this is the in-tree, allocation-exact part of it).
//
//	go test -run XXX -bench IdleSessions -benchtime 1x ./internal/httpserver
func BenchmarkIdleSessions(b *testing.B) {
	const sessions = 2000
	h := newHarness(b, func(o *Options) {
		o.MaxSessionsPerAgent = sessions + 1
		o.Audit = discard{} // the harness's recorder keeps every event
	})
	b.Cleanup(func() { h.transport.CloseIdleConnections() })
	client := &http.Client{Transport: h.transport}
	// post sends one JSON-RPC message and returns the status and the
	// session id answered.
	post := func(body, session string) (int, string, error) {
		req, err := http.NewRequest(http.MethodPost, h.url+"/mcp", strings.NewReader(body))
		if err != nil {
			return 0, "", err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("X-API-Key", "key-alice")
		req.Header.Set("MCP-Protocol-Version", "2025-11-25")
		if session != "" {
			req.Header.Set(sessionIDHeader, session)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header.Get(sessionIDHeader), err
	}
	for range b.N {
		before := settled()
		for range sessions {
			status, id, err := post(initializeBody, "")
			if err != nil || status != http.StatusOK {
				b.Fatalf("initialize: %d %v", status, err)
			}
			if status, _, err := post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, id); err != nil || status != http.StatusAccepted {
				b.Fatalf("initialized: %d %v", status, err)
			}
		}
		h.transport.CloseIdleConnections()
		after := settled()
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/sessions, "heap-B/session")
		b.ReportMetric(float64(after.StackInuse-before.StackInuse)/sessions, "stack-B/session")
		b.StopTimer()
		h.s.Forget("alice") // ends her sessions
		b.StartTimer()
	}
}

// settled is the runtime's memory after a collection.
func settled() runtime.MemStats {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

type discard struct{}

func (discard) Record(context.Context, audit.Event) error { return nil }
