package nodetest

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// InspectorTimeout bounds one run of the MCP Inspector's CLI.
const InspectorTimeout = 90 * time.Second

// Inspector runs the MCP Inspector (@modelcontextprotocol/inspector) in its
// CLI mode, `mcp-inspector --cli ARGS...`, with Node 22 and a scratch HOME
// (its catalog lives there), and returns stdout. The CLI takes the server
// as a URL (with --transport http and --header "Name: value") or as a
// command and its arguments (with -e KEY=VALUE), or --config FILE --server
// NAME for an mcp.json-style file, plus --method tools/list and the like.
// It fails the test if the CLI exits non-zero.
func Inspector(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := inspector(t, args...)
	if err != nil {
		t.Fatalf("nodetest: mcp-inspector --cli: %v\nstderr:\n%s\nstdout:\n%s", err, errOut, out)
	}
	return out
}

// InspectorFails runs the Inspector like Inspector but expects it to fail,
// and returns its combined output.
func InspectorFails(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := inspector(t, args...)
	if err == nil {
		t.Fatalf("nodetest: mcp-inspector --cli %s succeeded, want a failure:\n%s", strings.Join(args, " "), out)
	}
	return out + errOut
}

func inspector(t testing.TB, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	node := Node22(t)
	cli := filepath.Join(Install(t), "node_modules", "@modelcontextprotocol", "inspector", "clients", "launcher", "build", "index.js")
	ctx, cancel := context.WithTimeout(context.Background(), InspectorTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{cli, "--cli"}, args...)...)
	home := t.TempDir()
	cmd.Dir = home
	// Its catalog goes to HOME/.mcp-inspector; OAuth secrets, which these
	// servers never ask for, stay in memory.
	cmd.Env = append(cleanEnv(), "HOME="+home, "MCP_INSPECTOR_SECRET_STORE=memory")
	o, e, err := run(ctx, cmd)
	return string(o), string(e), err
}

// ToolNames reads the tool names out of the Inspector's tools/list output.
func ToolNames(t testing.TB, inspectorOut string) []string {
	t.Helper()
	var res struct {
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
	}
	if err := json.Unmarshal([]byte(inspectorOut), &res); err != nil {
		t.Fatalf("nodetest: reading tools/list from the Inspector: %v\n%s", err, inspectorOut)
	}
	names := make([]string, 0, len(res.Tools))
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	return names
}
