package nodetest

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ClaudeUser is one user of Claude Code: a scratch HOME that outlives each
// command, for command lines a user pastes, again and from anywhere.
type ClaudeUser struct {
	cli *claudeCLI
}

// NewClaudeUser prepares a user with no MCP server configured.
func NewClaudeUser(t testing.TB) *ClaudeUser {
	t.Helper()
	return &ClaudeUser{cli: newClaude(t, nil)}
}

// Paste runs line with sh as the user would paste it: from a new scratch
// folder each time, with Claude Code's claude first on PATH. A non-zero exit
// fails the test. It returns what the line printed.
func (u *ClaudeUser) Paste(t testing.TB, line string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*ClaudeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", line)
	cmd.Dir = t.TempDir()
	bin := filepath.Dir(u.cli.bin)
	for _, kv := range u.cli.env {
		if path, ok := strings.CutPrefix(kv, "PATH="); ok {
			kv = "PATH=" + bin + string(os.PathListSeparator) + path
		}
		cmd.Env = append(cmd.Env, kv)
	}
	stdout, stderr, err := run(ctx, cmd)
	out := string(stdout) + string(stderr)
	if err != nil {
		t.Fatalf("nodetest: the pasted line failed: %v\n%s\n%s", err, line, out)
	}
	return out
}

// UserServer is the server name as Claude Code keeps it in the user's
// scope (~/.claude.json): type, command, args, env, or url and headers.
func (u *ClaudeUser) UserServer(t testing.TB, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(u.cli.home, ".claude.json"))
	if err != nil {
		t.Fatalf("nodetest: no Claude Code user configuration: %v", err)
	}
	var conf struct {
		MCPServers map[string]map[string]any `json:"mcpServers"`
	}
	if err := json.Unmarshal(b, &conf); err != nil {
		t.Fatalf("nodetest: reading ~/.claude.json: %v", err)
	}
	s, ok := conf.MCPServers[name]
	if !ok {
		t.Fatalf("nodetest: no user-scoped MCP server %q in ~/.claude.json", name)
	}
	return s
}
