package nodetest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ClaudeTimeout bounds each claude command; `claude mcp list` waits on every
// configured server's health check.
const ClaudeTimeout = 90 * time.Second

// ClaudeMCPList registers one MCP server with Claude Code and returns what
// `claude mcp list` prints, which health-checks it: callers look for
// "✔ Connected". It runs
//
//	claude mcp add NAME addArgs...
//	claude mcp list
//
// in a scratch HOME (and working directory), so the developer's own Claude
// configuration is neither read nor changed, with Claude's update checks and
// telemetry off. Claude's argument parser takes options after NAME, but the
// value lists of -e and --header are greedy: put the URL before --header, and
// a stdio command after "--":
//
//	ClaudeMCPList(t, "gk", "--transport", "http", url, "--header", "Authorization: Bearer "+tok)
//	ClaudeMCPList(t, "gk", "-e", "K=V", "--", bin, "serve")
func ClaudeMCPList(t testing.TB, name string, addArgs ...string) string {
	t.Helper()
	claude := newClaude(t, nil)
	claude.run(t, append([]string{"mcp", "add", name}, addArgs...)...)
	return claude.run(t, "mcp", "list")
}

// claudeCLI runs Claude Code's CLI in a scratch HOME, which is also its
// working directory (the "project").
type claudeCLI struct {
	bin  string
	home string
	env  []string
}

// newClaude prepares a scratch HOME; extraEnv is added to the environment
// (for ${VAR} expansion in .mcp.json).
func newClaude(t testing.TB, extraEnv map[string]string) *claudeCLI {
	t.Helper()
	c := &claudeCLI{bin: filepath.Join(Install(t), "node_modules", ".bin", "claude"), home: t.TempDir()}
	c.env = []string{
		"HOME=" + c.home,
		"DISABLE_AUTOUPDATER=1",
		"DISABLE_TELEMETRY=1",
		"DISABLE_ERROR_REPORTING=1",
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "HOME" || k == "XDG_CONFIG_HOME" || strings.HasPrefix(k, "CLAUDE_") || strings.HasPrefix(k, "ANTHROPIC_") {
			continue
		}
		if _, ok := extraEnv[k]; ok {
			continue
		}
		c.env = append(c.env, kv)
	}
	for k, v := range extraEnv {
		c.env = append(c.env, k+"="+v)
	}
	return c
}

func (c *claudeCLI) run(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ClaudeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Dir, cmd.Env = c.home, c.env
	stdout, stderr, err := run(ctx, cmd)
	out := string(stdout) + string(stderr)
	if err != nil {
		t.Fatalf("nodetest: claude %s: %v\n%s", strings.Join(args[:min(2, len(args))], " "), err, out)
	}
	return out
}
