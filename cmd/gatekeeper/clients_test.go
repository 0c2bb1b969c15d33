package main_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/nodetest"
)

// Clients nobody here wrote: the MCP conformance suite, the official
// TypeScript SDK and Claude Code, against the real binary.

const confKey = "gk_conformance-key-for-tests-only-00000"

// TestConformance runs the conformance suite's generic server scenarios
// against serve --http. The suite cannot send an auth header, so a proxy in
// front adds an agent's API key, as a gateway would, and passes Host and
// Origin through untouched for the DNS-rebinding scenario.
func TestConformance(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	h := e.serveHTTP(`
auth:
  api_keys:
    - {id: conf, agent: conf, sha256: `+sha(confKey)+`, scopes: [read, list, write]}
agents:
  - {name: conf}
`, nil)
	url := nodetest.AuthProxy(t, h.url+"/mcp", "X-API-Key", confKey)
	for _, scenario := range []string{
		"server-initialize", "ping", "tools-list", "dns-rebinding-protection",
		"server-sse-polling", "server-sse-multiple-streams",
	} {
		t.Run(scenario, func(t *testing.T) {
			checks := nodetest.Conformance(t, url, scenario)
			if len(checks) == 0 {
				t.Errorf("%s reported no checks", scenario)
			}
		})
	}
}

// TestTypeScriptClient drives Gatekeeper with the official TypeScript SDK,
// over stdio and over HTTP with a JWT from `gatekeeper token`.
func TestTypeScriptClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	secret := strings.Repeat("s3cr3t-", 6)
	// A code is good for about a minute: take it only after the slow
	// first install of the Node packages, never before.
	nodetest.Install(t)
	nodetest.Node22(t)
	code := e.auth.Code(t)
	stdio := nodetest.ClientScript(t, nodetest.ClientSpec{
		Command: binary, Args: []string{"serve"},
		Env: map[string]string{"VAULT_ADDR": e.srv.Addr, "VAULT_TOKEN": e.res.BootstrapToken.Reveal()},
		Calls: []nodetest.ToolCall{
			{Name: "read_secret", Arguments: map[string]any{"path": "app/db"}},
			{Name: "authenticate", Arguments: map[string]any{"passcode": code}},
			{Name: "read_secret", Arguments: map[string]any{"path": "app/db"}},
		},
	})
	if len(stdio.Tools) != 18 || len(stdio.Calls) != 3 {
		t.Fatalf("stdio: %+v", stdio)
	}
	if c := stdio.Calls[0]; !c.IsError || !strings.Contains(c.Text, "authenticate") {
		t.Errorf("read before authenticate: %+v", c)
	}
	if c := stdio.Calls[2]; c.IsError || c.StructuredContent["data"].(map[string]any)["password"] != "pw-db-5f2c9e" {
		t.Errorf("read after authenticate: %+v", c)
	}

	// HTTP: the agent's JWT comes from `gatekeeper token` with the secret
	// the server reads.
	if _, err := e.vc.KVWrite(t.Context(), e.root, "secret", "agent/ts/db", map[string]any{"password": "pw-ts"}); err != nil {
		t.Fatal(err)
	}
	if _, err := runSetupAgent(t, e, "ts"); err != nil {
		t.Fatal(err)
	}
	h := e.serveHTTP("agents:\n  - {name: ts}\n", nil, "GATEKEEPER_JWT_SECRET="+secret)
	out, errOut, rc := run(t, []string{"GATEKEEPER_JWT_SECRET=" + secret}, "token", "--sub", "ts", "--scope", "read,list", "--ttl", "10m")
	if rc != 0 {
		t.Fatalf("gatekeeper token: %s", errOut)
	}
	res := nodetest.ClientScript(t, nodetest.ClientSpec{
		URL:     h.url + "/mcp",
		Headers: map[string]string{"Authorization": "Bearer " + strings.TrimSpace(out)},
		Calls: []nodetest.ToolCall{
			{Name: "authenticate", Arguments: map[string]any{"passcode": e.auth.Code(t)}},
			{Name: "read_secret", Arguments: map[string]any{"path": "db"}},
			{Name: "write_secret", Arguments: map[string]any{"path": "db", "data": map[string]any{"x": "y"}}},
		},
	})
	if len(res.Tools) != 6 {
		t.Errorf("read,list token sees tools %v", res.Tools)
	}
	if c := res.Calls[1]; c.IsError || c.StructuredContent["data"].(map[string]any)["password"] != "pw-ts" {
		t.Errorf("HTTP read: %+v", c)
	}
	if c := res.Calls[2]; c.Error == "" && !c.IsError {
		t.Errorf("write_secret without the write scope succeeded: %+v", c)
	}
}

// TestClaudeCode checks that Claude Code's own health check connects, over
// stdio and over HTTP, exactly as the README tells users to add Gatekeeper.
func TestClaudeCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out := nodetest.ClaudeMCPList(t, "gatekeeper",
		"-e", "VAULT_ADDR="+e.srv.Addr, "-e", "VAULT_TOKEN="+e.res.BootstrapToken.Reveal(), "--", binary, "serve")
	if !strings.Contains(out, "✔ Connected") {
		t.Errorf("claude mcp list (stdio):\n%s", out)
	}
	h := e.serveHTTP(`
auth:
  api_keys:
    - {id: cc, agent: cc, sha256: `+sha(confKey)+`, scopes: [read]}
agents:
  - {name: cc}
`, nil)
	out = nodetest.ClaudeMCPList(t, "gatekeeper", "--transport", "http", h.url+"/mcp", "--header", "X-API-Key: "+confKey)
	if !strings.Contains(out, "✔ Connected") {
		t.Errorf("claude mcp list (http):\n%s", out)
	}
}

// runSetupAgent runs `gatekeeper setup --agent NAME` against e's Vault.
func runSetupAgent(t *testing.T, e *env, name string) (string, error) {
	t.Helper()
	out, errOut, rc := run(t, []string{"VAULT_ADDR=" + e.srv.Addr, "VAULT_TOKEN=" + e.srv.RootToken}, "setup", "--agent", name)
	if rc != 0 {
		return out, &exec.ExitError{Stderr: []byte(errOut)}
	}
	return out, nil
}
