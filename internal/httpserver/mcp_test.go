package httpserver

import (
	"bytes"
	"context"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestCallsChooseJSONOrStream: a call that only answers gets a plain
// application/json body; a call that reports progress first streams it as
// text/event-stream, and the client sees every notification and the result.
func TestCallsChooseJSONOrStream(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MCPServer = answerAndWait })
	types := &contentTypes{rt: keyHeader{"key-alice", h.transport}, byTool: map[string]string{}}
	progress := make(chan string, 2)
	c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "v0"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			progress <- req.Params.Message
		},
	})
	cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{
		Endpoint:             h.url + "/mcp",
		HTTPClient:           &http.Client{Transport: types},
		MaxRetries:           -1,
		DisableStandaloneSSE: true,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cs.Close() }()

	for tool, want := range map[string]string{"answer": "at once", "wait": "after waiting"} {
		params := &mcp.CallToolParams{Name: tool, Arguments: map[string]any{}}
		params.SetProgressToken("tok-" + tool)
		res, err := cs.CallTool(t.Context(), params)
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		if got := res.Content[0].(*mcp.TextContent).Text; got != want {
			t.Errorf("%s answered %q, want %q", tool, got, want)
		}
	}
	if diff := cmp.Diff(map[string]string{"answer": "application/json", "wait": "text/event-stream"}, types.got()); diff != "" {
		t.Errorf("Content-Type of the calls' responses: mismatch (-want +got):\n%s", diff)
	}
	// The client hands notifications to its handler on its own goroutine.
	for range 2 {
		select {
		case msg := <-progress:
			if msg != "waiting" {
				t.Errorf("progress message %q, want waiting", msg)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the client did not see both progress notifications")
		}
	}
}

// answerAndWait is a server with two tools: answer returns at once, wait
// reports progress twice first.
func answerAndWait(string, []string) *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "v0"}, nil)
	answer := func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "at once"}}}, nil, nil
	}
	wait := func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		for i := range 2 {
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
				ProgressToken: req.Params.GetProgressToken(), Progress: float64(i), Message: "waiting",
			}); err != nil {
				return nil, nil, err
			}
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "after waiting"}}}, nil, nil
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "answer"}, answer)
	mcp.AddTool(srv, &mcp.Tool{Name: "wait"}, wait)
	return srv
}

// BenchmarkToolCall: one call that only answers, client and server in this
// process, over loopback HTTP with API-key authentication: the cost of the
// transport around a tool, on both sides.
//
//	go test -run XXX -bench ToolCall -benchmem ./internal/httpserver
func BenchmarkToolCall(b *testing.B) {
	h := newHarness(b, func(o *Options) {
		o.MCPServer = answerAndWait
		o.Audit = discard{}
	})
	cs, err := h.connect(b.Context(), "alice")
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cs.Close() }()
	params := &mcp.CallToolParams{Name: "answer", Arguments: map[string]any{}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cs.CallTool(b.Context(), params); err != nil {
			b.Fatal(err)
		}
	}
}

// contentTypes records the Content-Type of the response to each tools/call
// POST, by tool name.
type contentTypes struct {
	rt     http.RoundTripper
	mu     sync.Mutex
	byTool map[string]string
}

func (c *contentTypes) RoundTrip(r *http.Request) (*http.Response, error) {
	var tool string
	if r.Method == http.MethodPost && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		for _, name := range []string{"answer", "wait"} {
			if strings.Contains(string(body), `"method":"tools/call"`) && strings.Contains(string(body), `"name":"`+name+`"`) {
				tool = name
			}
		}
	}
	resp, err := c.rt.RoundTrip(r)
	if err == nil && tool != "" {
		mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		c.mu.Lock()
		c.byTool[tool] = mt
		c.mu.Unlock()
	}
	return resp, err
}

func (c *contentTypes) got() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byTool
}
