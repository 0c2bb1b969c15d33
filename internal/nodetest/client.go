package nodetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
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

	// Elicit declares URL-mode elicitation: the client accepts each
	// elicitation and reports it (ClientScriptEvents).
	Elicit bool `json:"elicit,omitempty"`
	// Trace reports every JSON-RPC message the client sends or receives.
	Trace bool `json:"trace,omitempty"`
}

// ClientEvent is one thing client.mjs reports while it runs.
type ClientEvent struct {
	Elicitation *Elicitation    `json:"elicitation,omitempty"`
	Complete    string          `json:"complete,omitempty"` // an elicitation's id
	Trace       json.RawMessage `json:"trace,omitempty"`    // a JSON-RPC message
}

// Elicitation is an elicitation/create the client accepted.
type Elicitation struct {
	Mode          string `json:"mode"`
	URL           string `json:"url"`
	ElicitationID string `json:"elicitationId"`
	Message       string `json:"message"`
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
	// Stderr is what the script (and, over stdio, the server) wrote there.
	Stderr string `json:"-"`
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
	return ClientScriptEvents(t, spec, nil)
}

// ClientScriptEvents is ClientScript that hands each event the client
// reports (spec.Elicit, spec.Trace) to on as it happens, in order, from one
// goroutine: on may take its time (answer an approval in a browser) while
// the client waits for the call it made.
func ClientScriptEvents(t testing.TB, spec ClientSpec, on func(ClientEvent)) ClientResult {
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
	events, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.ExtraFiles = []*os.File{w} // fd 3
	handled := make(chan struct{})
	go func() {
		defer close(handled)
		sc := bufio.NewScanner(events)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for sc.Scan() {
			var ev ClientEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Errorf("nodetest: client.mjs reported %q: %v", sc.Bytes(), err)
				continue
			}
			if on != nil {
				on(ev)
			}
		}
	}()
	stdout, stderr, err := run(ctx, cmd)
	_ = w.Close()
	<-handled
	_ = events.Close()
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
	res.Stderr = string(stderr)
	return res
}
