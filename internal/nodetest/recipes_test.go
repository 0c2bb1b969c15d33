package nodetest_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/nodetest"
)

// The helpers behind the client recipes in docs/clients.md, each against
// the echo server; cmd/gatekeeper runs the same recipes against Gatekeeper.

func TestInspector(t *testing.T) {
	url := httpServer(t)
	tests := []struct {
		name string
		args []string
	}{
		{"ok/http", []string{url, "--transport", "http", "--header", "Authorization: " + token, "--method", "tools/list"}},
		{"ok/stdio", []string{"-e", stdioServerEnv + "=1", testBinary(t), "--method", "tools/list"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := nodetest.ToolNames(t, nodetest.Inspector(t, tc.args...)); !slices.Equal(got, []string{"echo"}) {
				t.Errorf("tools = %v, want [echo]", got)
			}
		})
	}
	t.Run("fail/http-no-header", func(t *testing.T) {
		t.Parallel()
		out := nodetest.InspectorFails(t, url, "--transport", "http", "--method", "tools/list")
		t.Logf("refused as: %.200s", out)
	})
}

// TestInspectorConfigFile reads servers from an mcp.json-style file: the
// command/args/env entry is Cursor's stdio shape verbatim; a URL entry needs
// a "type" here (Cursor infers it, the Inspector reads an untyped entry as a
// command).
func TestInspectorConfigFile(t *testing.T) {
	dir := t.TempDir()
	cfg := map[string]any{"mcpServers": map[string]any{
		"stdio":  map[string]any{"command": testBinary(t), "env": map[string]string{stdioServerEnv: "1"}},
		"remote": map[string]any{"type": "streamable-http", "url": httpServer(t), "headers": map[string]string{"Authorization": token}},
	}}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "mcp.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, server := range []string{"stdio", "remote"} {
		t.Run("ok/"+server, func(t *testing.T) {
			t.Parallel()
			out := nodetest.Inspector(t, "--config", file, "--server", server, "--method", "tools/list")
			if got := nodetest.ToolNames(t, out); !slices.Equal(got, []string{"echo"}) {
				t.Errorf("tools = %v, want [echo]", got)
			}
		})
	}
}

// TestMCPRemote drives the HTTP server from a stdio client through
// mcp-remote, with the header built from an environment variable as the
// recipe does.
func TestMCPRemote(t *testing.T) {
	cmd, args := nodetest.MCPRemote(t)
	env := nodetest.MCPRemoteEnv(t)
	env["NODETEST_AUTH"] = token
	got := nodetest.ClientScript(t, nodetest.ClientSpec{
		Command: cmd,
		Args:    append(args, httpServer(t), "--header", "Authorization:${NODETEST_AUTH}", "--transport", "http-only"),
		Env:     env,
		Calls:   echoCalls,
	})
	checkEchoResult(t, got)
}

func TestClaudeProjectMCPList(t *testing.T) {
	url := httpServer(t)
	mcpJSON := `{"mcpServers": {
	  "echo-stdio": {"command": "` + testBinary(t) + `", "env": {"` + stdioServerEnv + `": "${NODETEST_ON}"}},
	  "echo-http": {"type": "http", "url": "` + url + `", "headers": {"Authorization": "${NODETEST_AUTH}"}},
	  "echo-untyped": {"url": "` + url + `", "headers": {"Authorization": "${NODETEST_AUTH}"}}
	}}`
	env := map[string]string{"NODETEST_ON": "1", "NODETEST_AUTH": token}
	out := nodetest.ClaudeProjectMCPList(t, []byte(mcpJSON), []string{"echo-stdio", "echo-http", "echo-untyped"}, env)
	for _, name := range []string{"echo-stdio", "echo-http"} {
		if !connected(out, name) {
			t.Errorf("%s not connected:\n%s", name, out)
		}
	}
	// Claude Code skips a URL entry without "type" (Cursor's mcp.json does
	// not need one): docs/clients.md gives each client its own shape.
	if connected(out, "echo-untyped") {
		t.Errorf("an untyped URL entry connected; the docs say Claude Code needs \"type\": \"http\":\n%s", out)
	}
	// Not approved: listed, not started.
	out = nodetest.ClaudeProjectMCPList(t, []byte(mcpJSON), []string{"echo-stdio"}, env)
	if connected(out, "echo-http") || !connected(out, "echo-stdio") {
		t.Errorf("approval of echo-stdio only:\n%s", out)
	}
}

func TestClaudeProjectAdd(t *testing.T) {
	b := nodetest.ClaudeProjectAdd(t, "gk", "--transport", "http", "http://127.0.0.1:9/mcp", "--header", "Authorization: Bearer x")
	var got struct {
		MCPServers map[string]struct {
			Type    string            `json:"type"`
			URL     string            `json:"url"`
			Headers map[string]string `json:"headers"`
		} `json:"mcpServers"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	s := got.MCPServers["gk"]
	if s.Type != "http" || s.URL != "http://127.0.0.1:9/mcp" || s.Headers["Authorization"] != "Bearer x" {
		t.Errorf(".mcp.json = %s", b)
	}
}

// connected reports whether `claude mcp list` shows name as connected.
func connected(out, name string) bool {
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, name+":") && strings.Contains(line, "✔ Connected") {
			return true
		}
	}
	return false
}
