package nodetest

import (
	"path/filepath"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/child"
)

// MCPRemote returns how to start mcp-remote, the npm package that lets a
// stdio-only MCP client reach a Streamable HTTP server: a command (Node 22)
// and the first argument (mcp-remote's proxy script). Append the server URL
// and its options, e.g.
//
//	cmd, args := nodetest.MCPRemote(t)
//	args = append(args, url, "--header", "Authorization:${GK_AUTH}", "--transport", "http-only")
//
// and give the result to a stdio client (ClientSpec.Command/Args). Set
// MCPRemoteEnv in the client's environment so mcp-remote keeps its state in
// a scratch folder rather than in ~/.mcp-auth.
func MCPRemote(t testing.TB) (command string, args []string) {
	t.Helper()
	node := Node22(t)
	return node, []string{filepath.Join(Install(t), "node_modules", "mcp-remote", "dist", "proxy.js")}
}

// MCPRemoteEnv is the environment mcp-remote needs in a test: its config
// folder in a scratch directory.
func MCPRemoteEnv(t testing.TB) map[string]string {
	t.Helper()
	return map[string]string{"MCP_REMOTE_CONFIG_DIR": t.TempDir()}
}

// cleanEnv is this process's environment without the variables that would
// point a child at the developer's own configuration or accounts.
func cleanEnv() []string {
	return child.Env("HOME=", "XDG_CONFIG_HOME=", "MCP_", "CLAUDE_", "ANTHROPIC_")
}
