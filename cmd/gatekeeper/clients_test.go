package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/browsertest"
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

// TestTypeScriptClient is the default flow with a client nobody here
// wrote: the official TypeScript SDK, declaring URL-mode elicitation, goes
// none → read → write over stdio, and none → read over HTTP with a JWT from
// `gatekeeper token`. Each approval's page reaches the client as an
// elicitation; the human opens it in real Chromium and types the code
// there. No tool result, protocol message, log line or audit record the
// model side could see carries a code, and a passcode passed by the agent
// is refused without Vault being asked.
func TestTypeScriptClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	vaultAudit := filepath.Join(t.TempDir(), "vault-audit.jsonl")
	if _, err := e.vc.Write(t.Context(), e.root, "sys/audit/file", map[string]any{"type": "file", "options": map[string]any{"file_path": vaultAudit}}); err != nil {
		t.Fatal(err)
	}
	tab := browsertest.Tab(t, browsertest.Options{NoScript: true})
	// The events come from one goroutine, in order, and are all handled
	// before ClientScriptEvents returns.
	var codes, traces, completed []string
	// answer is the human: open the page the client was shown, type the
	// code (taken right before it is typed), see it approved.
	answer := func(ev nodetest.ClientEvent) {
		if ev.Elicitation.Mode != "url" || linkIn(ev.Elicitation.URL) != ev.Elicitation.URL || !strings.HasPrefix(ev.Elicitation.ElicitationID, "apr_") {
			t.Errorf("elicitation = %+v, want the approval page's link", ev.Elicitation)
			return
		}
		code := e.auth.Code(t)
		codes = append(codes, code)
		ctx, cancel := context.WithTimeout(tab, browsertest.Step)
		defer cancel()
		if err := chromedp.Do(ctx,
			chromedp.Navigate(ev.Elicitation.URL),
			chromedp.SendKeys(chromedp.ID("code"), code),
			chromedp.Click(chromedp.CSS("form.code button")),
			chromedp.WaitReady(`#status[data-state="approved"]`),
		); err != nil {
			t.Errorf("answering %s in Chromium: %v", ev.Elicitation.URL, err)
		}
	}
	on := func(ev nodetest.ClientEvent) {
		switch {
		case ev.Trace != nil:
			traces = append(traces, string(ev.Trace))
		case ev.Complete != "":
			completed = append(completed, ev.Complete)
		case ev.Elicitation != nil:
			if len(codes) == 0 {
				// Vault has been asked for exactly the start-up check's
				// login probe and this approval's login: the refused
				// passcode before it reached nothing.
				if logins, validations := vaultRequests(t, vaultAudit); logins != 2 || validations != 0 {
					t.Errorf("at the first page: Vault saw %d logins and %d MFA validations, want 2 and 0", logins, validations)
				}
			}
			answer(ev)
		}
	}
	auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
	stdio := nodetest.ClientScriptEvents(t, nodetest.ClientSpec{
		Command: binary, Args: []string{"serve"},
		Env: map[string]string{"VAULT_ADDR": e.srv.Addr, "VAULT_TOKEN": e.res.BootstrapToken.Reveal(),
			"GATEKEEPER_AUDIT_FILE": auditFile, "GATEKEEPER_AUDIT_KEY": auditKey, "GATEKEEPER_LOG_LEVEL": "debug"},
		Elicit: true, Trace: true,
		Calls: []nodetest.ToolCall{
			{Name: "authenticate", Arguments: map[string]any{"passcode": "123456"}},
			{Name: "read_secret", Arguments: map[string]any{"path": "app/db"}},
			{Name: "escalate", Arguments: map[string]any{"reason": "rotate the API key"}},
			{Name: "write_secret", Arguments: map[string]any{"path": "app/api", "data": map[string]any{"key": "rotated-by-ts"}}},
			{Name: "token_status"},
		},
	}, on)
	if len(stdio.Tools) != 18 || len(stdio.Calls) != 5 {
		t.Fatalf("stdio: %+v", stdio)
	}
	if c := stdio.Calls[0]; !c.IsError || !strings.Contains(c.Text, "does not take approval codes") {
		t.Errorf("authenticate with a passcode: %+v", c)
	}
	if c := stdio.Calls[1]; c.IsError || c.StructuredContent["data"].(map[string]any)["password"] != "pw-db-5f2c9e" {
		t.Errorf("read approved on the page: %+v", c)
	}
	if c := stdio.Calls[2]; c.IsError || c.StructuredContent["tier"] != "write" {
		t.Errorf("escalate approved on the page: %+v", c)
	}
	if c := stdio.Calls[3]; c.IsError {
		t.Errorf("write with write access: %+v", c)
	}
	if len(completed) != 2 {
		t.Errorf("elicitations completed: %v, want both approvals'", completed)
	}
	auditLog, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	modelSide := map[string]string{"protocol trace": strings.Join(traces, "\n"), "stderr (log and announcements)": stdio.Stderr, "audit file": string(auditLog)}
	for _, c := range stdio.Calls {
		modelSide["result of "+c.Name] += c.Text + fmt.Sprint(c.StructuredContent)
	}
	if len(codes) != 2 {
		t.Errorf("the human typed %d codes, want 2", len(codes))
	}
	for _, code := range codes {
		typed := regexp.MustCompile(`\b` + code + `\b`)
		for where, text := range modelSide {
			if typed.MatchString(text) {
				t.Errorf("the %s holds a code the human typed on the page (%s)", where, code)
			}
		}
	}
	if !strings.Contains(modelSide["protocol trace"], "elicitation/create") {
		t.Error("the trace holds no elicitation: the search covered nothing")
	}

	// HTTP: the agent's JWT comes from `gatekeeper token` with the secret
	// the server reads.
	secret := strings.Repeat("s3cr3t-", 6)
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
	res := nodetest.ClientScriptEvents(t, nodetest.ClientSpec{
		URL:     h.url + "/mcp",
		Headers: map[string]string{"Authorization": "Bearer " + strings.TrimSpace(out)},
		Elicit:  true,
		Calls: []nodetest.ToolCall{
			{Name: "authenticate"},
			{Name: "read_secret", Arguments: map[string]any{"path": "db"}},
			{Name: "write_secret", Arguments: map[string]any{"path": "db", "data": map[string]any{"x": "y"}}},
		},
	}, func(ev nodetest.ClientEvent) {
		if ev.Elicitation != nil {
			answer(ev)
		}
	})
	if len(res.Tools) != 6 {
		t.Errorf("read,list token sees tools %v", res.Tools)
	}
	if c := res.Calls[0]; c.IsError || c.StructuredContent["tier"] != "read" {
		t.Errorf("HTTP authenticate approved on the page: %+v", c)
	}
	if c := res.Calls[1]; c.IsError || c.StructuredContent["data"].(map[string]any)["password"] != "pw-ts" {
		t.Errorf("HTTP read: %+v", c)
	}
	if c := res.Calls[2]; c.Error == "" && !c.IsError {
		t.Errorf("write_secret without the write scope succeeded: %+v", c)
	}
}

// vaultRequests counts, in Vault's audit log, the requests that log in to
// a tier account and those that validate login MFA.
func vaultRequests(t *testing.T, file string) (logins, validations int) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		var rec struct {
			Type    string `json:"type"`
			Request struct {
				Path string `json:"path"`
			} `json:"request"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Type != "request" {
			continue
		}
		switch {
		case strings.HasPrefix(rec.Request.Path, "auth/gatekeeper-") && strings.Contains(rec.Request.Path, "/login/"):
			logins++
		case rec.Request.Path == "sys/mfa/validate":
			validations++
		}
	}
	return logins, validations
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
