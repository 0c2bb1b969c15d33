package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A test binary started with this variable set is an MCP server on stdio,
// so that stdio targets are measured against a real process.
const stdioServerEnv = "GKBENCH_TEST_STDIO_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(stdioServerEnv) == "1" {
		if err := testServer(nil).Run(context.Background(), &mcp.StdioTransport{}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type echoIn struct {
	Text string `json:"text"`
	Fail bool   `json:"fail,omitempty"`
}

type echoOut struct {
	Text string `json:"text"`
	Who  string `json:"who"`
}

// testServer has one tool, echo, which fails when asked to and reports the
// X-Who header of the request (HTTP only).
func testServer(headers *sync.Map) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(_ context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, echoOut, error) {
		if in.Fail {
			return nil, echoOut{}, fmt.Errorf("asked to fail")
		}
		who := ""
		if req.Extra != nil && req.Extra.Header != nil {
			who = req.Extra.Header.Get("X-Who")
			if headers != nil {
				headers.Store(who, true)
			}
		}
		return nil, echoOut{Text: in.Text, Who: who}, nil
	})
	return s
}

func httpTarget(t *testing.T, headers *sync.Map) *Target {
	t.Helper()
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return testServer(headers) }, nil))
	t.Cleanup(srv.Close)
	tg := &Target{URL: srv.URL, Protocol: SessionProtocol, Headers: http.Header{"X-Common": {"1"}}}
	for _, who := range []string{"a", "b", "c"} {
		tg.SessionHeaders = append(tg.SessionHeaders, http.Header{"X-Who": {who}})
	}
	t.Cleanup(tg.CloseIdle)
	return tg
}

func TestToolCallOverHTTP(t *testing.T) {
	var seen sync.Map
	tg := httpTarget(t, &seen)
	sessions, err := Sessions(t.Context(), tg, 3, "echo", json.RawMessage(`{"text":"setup"}`))
	t.Cleanup(func() { closeAll(sessions) })
	if err != nil {
		t.Fatal(err)
	}
	res, err := Load(t.Context(), LoadOptions{Clients: 6, Count: 60}, ToolCall(sessions, "echo", json.RawMessage(`{"text":"hi"}`)))
	if err != nil {
		t.Fatal(err)
	}
	if res.Calls != 60 || res.Errors != 0 || res.P50 <= 0 {
		t.Errorf("result = %+v, want 60 calls without errors", res)
	}
	for _, who := range []string{"a", "b", "c"} {
		if _, ok := seen.Load(who); !ok {
			t.Errorf("no call came with session header %q", who)
		}
	}
	err = CallOnce(t.Context(), sessions[0], "echo", json.RawMessage(`{"text":"x","fail":true}`))
	if err == nil || !strings.Contains(err.Error(), "asked to fail") {
		t.Errorf("a failing tool gave %v", err)
	}
	if err := CallOnce(t.Context(), sessions[0], "nope", nil); err == nil {
		t.Error("an unknown tool succeeded")
	}
}

func TestToolCallOverStdio(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tg := &Target{Command: []string{exe}, Env: []string{stdioServerEnv + "=1"}}
	sessions, err := Sessions(t.Context(), tg, 1, "", nil)
	t.Cleanup(func() { closeAll(sessions) })
	if err != nil {
		t.Fatal(err)
	}
	res, err := Load(t.Context(), LoadOptions{Clients: 3, Count: 30}, ToolCall(sessions, "echo", json.RawMessage(`{"text":"hi"}`)))
	if err != nil || res.Calls != 30 || res.Errors != 0 {
		t.Errorf("result = %+v, %v; want 30 calls without errors", res, err)
	}
}

func TestIdleSessions(t *testing.T) {
	tg := httpTarget(t, nil)
	// The server runs in this process: its resident size is ours.
	res, closeSessions, err := IdleSessions(t.Context(), tg, os.Getpid(), []int{5, 20}, time.Millisecond)
	t.Cleanup(closeSessions)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Sessions != 5 || res[1].Sessions != 20 || res[1].RSS <= 0 {
		t.Errorf("results = %+v", res)
	}
	for _, counts := range [][]int{nil, {0}, {5, 2}} {
		if _, c, err := IdleSessions(t.Context(), tg, os.Getpid(), counts, 0); err == nil {
			c()
			t.Errorf("counts %v accepted", counts)
		}
	}
}

func TestTargetValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    *Target
		ok   bool
	}{
		{"ok/stdio", &Target{Command: []string{"x"}}, true},
		{"ok/http", &Target{URL: "http://127.0.0.1:1/mcp"}, true},
		{"fail/none", &Target{}, false},
		{"fail/both", &Target{Command: []string{"x"}, URL: "http://127.0.0.1:1"}, false},
		{"fail/scheme", &Target{URL: "ftp://x"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.t.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func closeAll(s []*mcp.ClientSession) {
	for _, cs := range s {
		if cs != nil {
			_ = cs.Close()
		}
	}
}
