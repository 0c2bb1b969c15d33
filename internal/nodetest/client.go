package nodetest

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// ClientTimeout bounds one run of client.mjs, connection to last call.
const ClientTimeout = 90 * time.Second

// ClientSpec tells test/node/client.mjs what to connect to and which tools
// to call. Set URL (Streamable HTTP) or Command (stdio).
type ClientSpec struct {
	URL     string            `json:"url,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`

	Command string            `json:"command,omitempty"`
	Args    []string          `json:"args,omitempty"`
	Env     map[string]string `json:"env,omitempty"` // added to the SDK's default (PATH, HOME, …)

	Calls []ToolCall `json:"calls,omitempty"`
}

// ToolCall is one tools/call.
type ToolCall struct {
	Name      string         `json:"name"`
	Arguments map[string]any `json:"arguments,omitempty"`
}

// ClientResult is what client.mjs saw: the tools/list names and each call's
// result, in order.
type ClientResult struct {
	Tools []string     `json:"tools"`
	Calls []CallResult `json:"calls"`
}

// CallResult is one call's result. Error is set, and the rest empty, when the
// call failed at the protocol level (a JSON-RPC error) rather than returning
// a tool result.
type CallResult struct {
	Name              string         `json:"name"`
	IsError           bool           `json:"isError"`
	Text              string         `json:"text"` // text blocks joined by newlines
	StructuredContent map[string]any `json:"structuredContent"`
	Error             string         `json:"error,omitempty"`
}

// ClientScript runs test/node/client.mjs (the official TypeScript SDK) with
// Node 22 and returns its result. The spec goes on stdin, so tokens in
// Headers or Env stay out of the process list. It fails the test, with the
// script's stderr, if the client cannot connect or list tools.
func ClientScript(t testing.TB, spec ClientSpec) ClientResult {
	t.Helper()
	node := Node22(t)
	script := filepath.Join(Install(t), "client.mjs")
	in, err := json.Marshal(spec)
	if err != nil {
		t.Fatalf("nodetest: encoding client spec: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ClientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Stdin = bytes.NewReader(in)
	stdout, stderr, err := run(ctx, cmd)
	if err != nil {
		t.Fatalf("nodetest: client.mjs: %v\nstderr:\n%s\nstdout:\n%s", err, stderr, stdout)
	}
	if len(stderr) > 0 {
		t.Logf("client.mjs stderr:\n%s", stderr)
	}
	var res ClientResult
	if err := json.Unmarshal(stdout, &res); err != nil {
		t.Fatalf("nodetest: decoding client.mjs output: %v\n%s", err, stdout)
	}
	return res
}
