package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/nodetest"
)

// The client recipes of docs/clients.md, run as written: the JSON blocks are
// read out of the document, their placeholders filled in, and handed to the
// clients they are for (or the nearest one that runs here).

const recipeKey = "gk_recipes-key-for-tests-only-0000000000"

// recipes returns the JSON blocks of docs/clients.md by their
// "<!-- recipe: NAME -->" marker, with the placeholders replaced.
func recipes(t *testing.T, replace map[string]string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "clients.md"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- recipe: ([a-z-]+) -->\n```json\n(.*?)\n```")
	out := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		text := m[2]
		for k, v := range replace {
			text = strings.ReplaceAll(text, k, v)
		}
		out[m[1]] = text
	}
	for _, want := range []string{"claude-project", "cursor-stdio", "cursor-http", "mcp-remote"} {
		if _, ok := out[want]; !ok {
			t.Fatalf("docs/clients.md has no recipe %q", want)
		}
	}
	return out
}

type mcpServers struct {
	MCPServers map[string]struct {
		Type    string            `json:"type,omitempty"`
		Command string            `json:"command,omitempty"`
		Args    []string          `json:"args,omitempty"`
		Env     map[string]string `json:"env,omitempty"`
		URL     string            `json:"url,omitempty"`
		Headers map[string]string `json:"headers,omitempty"`
	} `json:"mcpServers"`
}

func TestRecipes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, err := runSetupAgent(t, e, "remote"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.vc.KVWrite(t.Context(), e.root, "secret", "agent/remote/db", map[string]any{"password": "pw-remote"}); err != nil {
		t.Fatal(err)
	}
	h := e.serveHTTP(webhookHuman(t, func() string { return e.auth.Code(t) })+`
auth:
  api_keys:
    - {id: recipes, agent: remote, sha256: `+sha(recipeKey)+`, scopes: [read, list]}
agents:
  - {name: remote}
`, nil)
	bootstrap := e.res.BootstrapToken.Reveal()
	docs := recipes(t, map[string]string{
		"/usr/local/bin/gatekeeper":          binary,
		"https://vault.example:8200":         e.srv.Addr,
		"https://gatekeeper.example.com/mcp": h.url + "/mcp",
		"<bootstrap token>":                  bootstrap,
		"<agent API key>":                    recipeKey,
	})
	readList := []string{"authenticate", "list_secrets", "logout", "read_secret", "secret_metadata", "token_status"}

	t.Run("claude-project", func(t *testing.T) {
		t.Parallel()
		out := nodetest.ClaudeProjectMCPList(t, []byte(docs["claude-project"]), []string{"gatekeeper", "gatekeeper-team"},
			map[string]string{"GK_BOOTSTRAP_TOKEN": bootstrap, "GK_AGENT_KEY": recipeKey})
		for _, name := range []string{"gatekeeper", "gatekeeper-team"} {
			if !connectedIn(out, name) {
				t.Errorf("%s is not connected:\n%s", name, out)
			}
		}
	})

	t.Run("cursor-stdio", func(t *testing.T) {
		t.Parallel()
		file := writeFile(t, "mcp.json", docs["cursor-stdio"])
		tools := nodetest.ToolNames(t, nodetest.Inspector(t, "--config", file, "--server", "gatekeeper", "--method", "tools/list"))
		if len(tools) != 18 || !slices.Contains(tools, "write_secret") {
			t.Errorf("stdio tools = %v, want all 18", tools)
		}
	})

	t.Run("cursor-http", func(t *testing.T) {
		t.Parallel()
		// Cursor infers the transport from "url"; the Inspector needs it said.
		var cfg map[string]map[string]map[string]any
		if err := json.Unmarshal([]byte(docs["cursor-http"]), &cfg); err != nil {
			t.Fatal(err)
		}
		cfg["mcpServers"]["gatekeeper"]["type"] = "streamable-http"
		b, _ := json.Marshal(cfg)
		file := writeFile(t, "mcp.json", string(b))
		tools := nodetest.ToolNames(t, nodetest.Inspector(t, "--config", file, "--server", "gatekeeper", "--method", "tools/list"))
		slices.Sort(tools)
		if !slices.Equal(tools, readList) {
			t.Errorf("tools for a read,list key = %v, want %v", tools, readList)
		}
	})

	t.Run("inspector-cli", func(t *testing.T) {
		t.Parallel()
		tools := nodetest.ToolNames(t, nodetest.Inspector(t, h.url+"/mcp", "--transport", "http",
			"--header", "Authorization: Bearer "+recipeKey, "--method", "tools/list"))
		slices.Sort(tools)
		if !slices.Equal(tools, readList) {
			t.Errorf("tools = %v, want %v", tools, readList)
		}
		status := nodetest.Inspector(t, h.url+"/mcp", "--transport", "http", "--header", "Authorization: Bearer "+recipeKey,
			"--method", "tools/call", "--tool-name", "token_status")
		// Another subtest may have earned read access for the same agent
		// meanwhile: any tier shows the call went through.
		if !strings.Contains(status, `"tier": "none"`) && !strings.Contains(status, `"tier": "read"`) {
			t.Errorf("token_status through the Inspector:\n%s", status)
		}
		out := nodetest.InspectorFails(t, h.url+"/mcp", "--transport", "http", "--header", "Authorization: Bearer gk_wrong-key", "--method", "tools/list")
		if strings.Contains(out, "read_secret") {
			t.Errorf("a wrong key listed tools:\n%s", out)
		}
	})

	t.Run("mcp-remote", func(t *testing.T) {
		t.Parallel()
		var cfg mcpServers
		if err := json.Unmarshal([]byte(docs["mcp-remote"]), &cfg); err != nil {
			t.Fatal(err)
		}
		entry := cfg.MCPServers["gatekeeper"]
		// "npx -y mcp-remote@VERSION" is the pinned copy here, run by Node 22.
		i := slices.IndexFunc(entry.Args, func(a string) bool { return strings.HasPrefix(a, "mcp-remote@") })
		if entry.Command != "npx" || i < 0 {
			t.Fatalf("mcp-remote recipe is not npx ... mcp-remote@VERSION: %+v", entry)
		}
		command, args := nodetest.MCPRemote(t)
		env := nodetest.MCPRemoteEnv(t)
		for k, v := range entry.Env {
			env[k] = v
		}
		res := nodetest.ClientScript(t, nodetest.ClientSpec{
			Command: command,
			Args:    append(args, entry.Args[i+1:]...),
			Env:     env,
			Calls: []nodetest.ToolCall{
				{Name: "read_secret", Arguments: map[string]any{"path": "db"}},
				{Name: "authenticate"},
				{Name: "read_secret", Arguments: map[string]any{"path": "db"}},
			},
		})
		// The read relays the approval's page; the human (reached by the
		// notifier) answers there; authenticate waits for that answer.
		if c := res.Calls[0]; !c.IsError || linkIn(c.Text) == "" {
			t.Errorf("read before authenticate: %+v", c)
		}
		if c := res.Calls[2]; c.IsError || c.StructuredContent["data"].(map[string]any)["password"] != "pw-remote" {
			t.Errorf("read through mcp-remote: %+v", c)
		}
	})
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// connectedIn reports whether `claude mcp list` shows name as connected.
func connectedIn(out, name string) bool {
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, name+":") && strings.Contains(line, "✔ Connected") {
			return true
		}
	}
	return false
}
