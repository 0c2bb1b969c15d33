package nodetest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// ClaudeProjectMCPList checks a project's .mcp.json the way Claude Code
// reads it: it writes mcpJSON as .mcp.json in a scratch project folder,
// approves the named servers in the scratch user's ~/.claude/settings.json
// (enabledMcpjsonServers; Claude Code ignores approvals in the project's own
// settings, so a cloned repository cannot approve its own servers), and
// returns what `claude mcp list` prints. env is the environment Claude Code
// starts with, for the ${VAR} references a shared .mcp.json uses instead of
// committed tokens.
func ClaudeProjectMCPList(t testing.TB, mcpJSON []byte, approve []string, env map[string]string) string {
	t.Helper()
	claude := newClaude(t, env)
	if err := os.WriteFile(filepath.Join(claude.home, ".mcp.json"), mcpJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	settings, err := json.Marshal(map[string]any{"enabledMcpjsonServers": approve})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(claude.home, ".claude")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "settings.json"), settings, 0o600); err != nil {
		t.Fatal(err)
	}
	return claude.run(t, "mcp", "list")
}

// ClaudeProjectAdd runs `claude mcp add --scope project NAME addArgs...` in a
// scratch project and returns the .mcp.json Claude Code wrote, so a test can
// hold the documented file format against the one Claude Code itself writes.
func ClaudeProjectAdd(t testing.TB, name string, addArgs ...string) []byte {
	t.Helper()
	claude := newClaude(t, nil)
	claude.run(t, append([]string{"mcp", "add", "--scope", "project", name}, addArgs...)...)
	b, err := os.ReadFile(filepath.Join(claude.home, ".mcp.json"))
	if err != nil {
		t.Fatalf("nodetest: claude mcp add --scope project wrote no .mcp.json: %v", err)
	}
	return b
}
