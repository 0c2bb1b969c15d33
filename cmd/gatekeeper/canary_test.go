package main_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// Canaries: values that must never appear anywhere but in what a tool
// deliberately returns to the agent.
const (
	canarySecret   = "CANARY-SECRET-7d1e0b-must-not-leak"
	canaryWritten  = "CANARY-WRITTEN-4a9c2f-must-not-leak"
	canaryPasscode = "CANARY-PASSCODE-3e7d91"
	canaryKey      = "gk_canary-agent-key-for-tests-only-00000"
)

// TestCanariesNeverLeak sends a canary secret and a canary passcode through
// every tool and every failure path it can reach, then searches the debug
// log, the audit file and the metrics for them.
func TestCanariesNeverLeak(t *testing.T) {
	t.Parallel()
	e := &env{t: t, srv: vaulttest.Start(t)}
	e.vc, e.root = vaulttest.Client(t, e.srv), vaulttest.Root(e.srv)
	res, err := setup.Apply(t.Context(), e.vc, e.root, setup.Options{Layout: vaulttest.DefaultLayout, Agents: []setup.AgentSetup{{Name: "canary"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.res, e.auth = res, vaulttest.NewAuthenticator(t, res.TOTPURL)
	if _, err := e.vc.KVWrite(t.Context(), e.root, "secret", "agent/canary/db", map[string]any{"password": canarySecret}); err != nil {
		t.Fatal(err)
	}
	h := e.serveHTTP(`
auth:
  api_keys:
    - {id: canary-key, agent: canary, sha256: `+sha(canaryKey)+`, scopes: [read, list, write, delete, transit]}
agents:
  - {name: canary, approvals: {per_minute: 60, burst: 20}}
`, nil, "GATEKEEPER_OPERATOR_TOKEN="+operatorToken, "GATEKEEPER_STATUS_ADDR=127.0.0.1:0")
	a := &agent{t: t, e: e, name: "canary", session: h.connect(t, h.client(nil, map[string]string{"X-API-Key": canaryKey}), ""),
		stderr: h.stderr, audit: h.audit, closed: true}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

	// Failure paths before any access.
	// The read relays its approval's page, where three wrong codes end it:
	// reads then wait for authenticate.
	link := linkIn(a.fails("read_secret", map[string]any{"path": "db"}, "approval page"))
	a.fails("authenticate", map[string]any{"passcode": canaryPasscode}, "does not take approval codes")
	a.fails("write_secret", map[string]any{"path": "db", "data": map[string]any{"password": canaryWritten}}, "escalate")
	for range 3 {
		human.Code(t, link, e.auth.Wrong(t))
	}
	// The page ends a moment before the access model does.
	waitFor(t, 10*time.Second, func() bool { return len(a.ok("token_status", nil)["pending_approvals"].([]any)) == 0 })
	a.fails("encrypt", map[string]any{"plaintext": b64(canarySecret)}, "authenticate")

	a.authenticate()
	if out := a.ok("read_secret", map[string]any{"path": "db"}); out["data"].(map[string]any)["password"] != canarySecret {
		t.Fatalf("read_secret = %v", out)
	}
	a.fails("escalate", map[string]any{"reason": "rotate", "passcode": canaryPasscode}, "does not take approval codes")
	a.fails("write_secret", map[string]any{"path": "db", "data": map[string]any{"password": canaryWritten}}, "escalate")
	a.escalate()

	// Every tool, with the canaries in their inputs.
	a.ok("write_secret", map[string]any{"path": "db", "data": map[string]any{"password": canaryWritten}, "cas": 1})
	a.fails("write_secret", map[string]any{"path": "db", "data": map[string]any{"password": canaryWritten}, "cas": 1}, "cas")
	a.ok("patch_secret", map[string]any{"path": "db", "data": map[string]any{"note": canarySecret}})
	a.fails("patch_secret", map[string]any{"path": "nothing/here", "data": map[string]any{"password": canaryWritten}}, "")
	a.ok("secret_metadata", map[string]any{"path": "db"})
	a.ok("list_secrets", map[string]any{"path": "", "recursive": true})
	a.ok("delete_secret", map[string]any{"path": "db", "versions": []int{1}})
	a.fails("read_secret", map[string]any{"path": "db", "version": 1}, "deleted")
	a.ok("undelete_secret", map[string]any{"path": "db", "versions": []int{1}})
	a.fails("destroy_secret", map[string]any{"path": "db", "versions": []int{1}, "reason": "cleanup", "passcode": canaryPasscode}, "does not take approval codes")
	ct := a.ok("encrypt", map[string]any{"plaintext": b64(canarySecret)})["ciphertext"].(string)
	if out := a.ok("decrypt", map[string]any{"ciphertext": ct}); out["plaintext"] != b64(canarySecret) {
		t.Fatalf("decrypt = %v", out)
	}
	a.ok("rewrap", map[string]any{"ciphertext": ct})
	a.fails("decrypt", map[string]any{"ciphertext": "vault:v1:" + b64(canarySecret)}, "ciphertext")
	sig := a.ok("sign", map[string]any{"input": b64(canarySecret)})["signature"].(string)
	a.ok("verify", map[string]any{"input": b64(canarySecret), "signature": sig})
	a.ok("release", nil)
	a.ok("token_status", nil)

	// Vault sealed: the failure path of a read.
	if _, err := e.vc.Write(t.Context(), e.root, "sys/seal", nil); err != nil {
		t.Fatal(err)
	}
	a.fails("read_secret", map[string]any{"path": "db"}, "sealed")
	page := statusPageHTML(t, h.statusPageURL(t)) // while the grant is still listed
	a.call("logout", nil)                         // revoking fails while sealed: one more failure path

	resp, err := h.client(nil, nil).Get(h.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(metrics), "gatekeeper_tool_calls_total") {
		t.Fatalf("/metrics = %d", resp.StatusCode)
	}
	auditFile, err := os.ReadFile(h.audit)
	if err != nil {
		t.Fatal(err)
	}
	places := map[string]string{"debug log": h.stderr.String(), "audit file": string(auditFile), "metrics": string(metrics), "status page": page}
	for where, text := range places {
		if len(text) == 0 {
			t.Errorf("%s is empty: the search would prove nothing", where)
		}
		for _, c := range []string{canarySecret, b64(canarySecret), canaryWritten, canaryPasscode, canaryKey} {
			if strings.Contains(text, c) {
				t.Errorf("the %s contains the canary %q", where, c)
			}
		}
	}
	// The audit trail and the page did see the calls, so the search covered them.
	if !strings.Contains(page, "canary") || !strings.Contains(page, "tool.call") {
		t.Errorf("the status page shows neither the agent nor its calls:\n%s", page)
	}
	if n := strings.Count(string(auditFile), `"event":"tool.call"`); n < 25 {
		t.Errorf("audit has %d tool calls, want every call above", n)
	}
}

// statusPageHTML signs in to the status page as the operator, without a
// browser, and returns the page.
func statusPageHTML(t *testing.T, base string) string {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Jar: jar}
	req, err := http.NewRequest("POST", base+"/login", strings.NewReader(url.Values{"token": {operatorToken}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := hc.Do(req) // redirected to the page once signed in
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/" {
		t.Fatalf("signing in: %d at %s\n%s", resp.StatusCode, resp.Request.URL, b)
	}
	return string(b)
}
