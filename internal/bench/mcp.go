package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// SessionProtocol is the MCP protocol version with server-side sessions
// (Mcp-Session-Id). The SDK's default is newer and sessionless.
const SessionProtocol = "2025-11-25"

// Target is an MCP server to measure: a command line served over stdio, or
// a Streamable HTTP endpoint.
type Target struct {
	// Command is a stdio server's argv; each session starts its own
	// process. Env is added to BaseEnv (nil: this process's environment).
	Command []string
	Env     []string
	BaseEnv []string
	// Stderr receives the stdio servers' stderr (nil: discarded).
	Stderr io.Writer

	// URL is a Streamable HTTP endpoint. Headers go on every request;
	// SessionHeaders, if set, give session i also SessionHeaders[i%len]
	// (one identity per session).
	URL            string
	Headers        http.Header
	SessionHeaders []http.Header
	// StandaloneSSE opens the GET stream on which a server sends messages
	// of its own, as interactive clients do. Off, a session makes no
	// request between calls.
	StandaloneSSE bool

	// Protocol is the MCP protocol version to ask for; "" is the SDK's
	// newest.
	Protocol string

	transportOnce sync.Once
	transport     *http.Transport
}

// Validate says whether the target names exactly one server.
func (t *Target) Validate() error {
	if (len(t.Command) > 0) == (t.URL != "") {
		return errors.New("give exactly one of a stdio command and a URL")
	}
	if t.URL != "" && !strings.HasPrefix(t.URL, "http://") && !strings.HasPrefix(t.URL, "https://") {
		return fmt.Errorf("the URL %q is not http:// or https://", t.URL)
	}
	return nil
}

// String names the transport, for tables.
func (t *Target) String() string {
	if t.URL != "" {
		return "HTTP"
	}
	return "stdio"
}

// Connect opens session i (its process, or its HTTP session).
func (t *Target) Connect(ctx context.Context, i int) (*mcp.ClientSession, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	var tr mcp.Transport
	if t.URL != "" {
		h := t.Headers.Clone()
		if h == nil {
			h = http.Header{}
		}
		if len(t.SessionHeaders) > 0 {
			for k, v := range t.SessionHeaders[i%len(t.SessionHeaders)] {
				h[k] = v
			}
		}
		tr = &mcp.StreamableClientTransport{
			Endpoint:             t.URL,
			HTTPClient:           &http.Client{Transport: &headerTransport{base: t.httpTransport(), headers: h}},
			DisableStandaloneSSE: !t.StandaloneSSE,
		}
	} else {
		cmd := exec.Command(t.Command[0], t.Command[1:]...)
		base := t.BaseEnv
		if base == nil {
			base = os.Environ()
		}
		cmd.Env = append(slices.Clip(base), t.Env...)
		cmd.Stderr = t.Stderr
		tr = &mcp.CommandTransport{Command: cmd, TerminateDuration: 10 * time.Second}
	}
	var opts *mcp.ClientSessionOptions
	if t.Protocol != "" {
		opts = &mcp.ClientSessionOptions{ProtocolVersion: t.Protocol}
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "gkbench", Version: "1"}, nil)
	cs, err := client.Connect(ctx, tr, opts)
	if err != nil {
		return nil, fmt.Errorf("connecting session %d over %s: %w", i, t, err)
	}
	return cs, nil
}

// CloseIdle closes the HTTP connections no request is using.
func (t *Target) CloseIdle() { t.httpTransport().CloseIdleConnections() }

// httpTransport is one connection pool for every session, large enough
// that no concurrency level opens and closes connections per call.
func (t *Target) httpTransport() *http.Transport {
	t.transportOnce.Do(func() {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = 0
		tr.MaxIdleConnsPerHost = 1 << 16
		t.transport = tr
	})
	return t.transport
}

type headerTransport struct {
	base    http.RoundTripper
	headers http.Header
}

func (h *headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.headers {
		r.Header[k] = v
	}
	return h.base.RoundTrip(r)
}

// Sessions connects n sessions at once (at most 64 connecting at a time)
// and, if setupTool is set, has each call it once.
func Sessions(ctx context.Context, t *Target, n int, setupTool string, setupArgs json.RawMessage) ([]*mcp.ClientSession, error) {
	return sessionsFrom(ctx, t, 0, n, setupTool, setupArgs)
}

// sessionsFrom connects sessions first to first+n-1.
func sessionsFrom(ctx context.Context, t *Target, first, n int, setupTool string, setupArgs json.RawMessage) ([]*mcp.ClientSession, error) {
	sessions := make([]*mcp.ClientSession, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			cs, err := t.Connect(ctx, first+i)
			if err != nil {
				errs[i] = err
				return
			}
			sessions[i] = cs
			if setupTool != "" {
				if err := CallOnce(ctx, cs, setupTool, setupArgs); err != nil {
					errs[i] = fmt.Errorf("session %d: %w", first+i, err)
				}
			}
		})
	}
	wg.Wait()
	return sessions, firstErrors(errs, 5)
}

// firstErrors joins the first limit errors of errs and counts the others.
func firstErrors(errs []error, limit int) error {
	var kept []error
	n := 0
	for _, err := range errs {
		if err == nil {
			continue
		}
		if n++; n <= limit {
			kept = append(kept, err)
		}
	}
	if n > limit {
		kept = append(kept, fmt.Errorf("and %d more errors", n-limit))
	}
	return errors.Join(kept...)
}

// ToolCall returns a Call that calls tool with args on sessions[client %
// len(sessions)]. A result with isError set is a failed call.
func ToolCall(sessions []*mcp.ClientSession, tool string, args json.RawMessage) Call {
	return func(ctx context.Context, client int) error {
		return CallOnce(ctx, sessions[client%len(sessions)], tool, args)
	}
}

// CallOnce calls tool once and turns an error result into an error.
func CallOnce(ctx context.Context, cs *mcp.ClientSession, tool string, args json.RawMessage) error {
	if len(args) == 0 {
		args = json.RawMessage("{}")
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return fmt.Errorf("calling %s: %w", tool, err)
	}
	if res.IsError {
		var text strings.Builder
		for _, c := range res.Content {
			if tc, ok := c.(*mcp.TextContent); ok {
				text.WriteString(tc.Text)
			}
		}
		msg := text.String()
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		return fmt.Errorf("%s returned an error: %s", tool, msg)
	}
	return nil
}
