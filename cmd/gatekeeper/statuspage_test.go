package main_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/browsertest"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

const operatorToken = "op_status-page-token-for-tests-only-0000"

// statusPageURL is where the server said its status page listens.
var statusPageLine = regexp.MustCompile(`msg="status page" url=(\S+)`)

func (h *httpServer) statusPageURL(t *testing.T) string {
	t.Helper()
	// The line is logged before the server says it listens; stderr is
	// copied by another goroutine, so it may arrive a moment later.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := statusPageLine.FindStringSubmatch(h.stderr.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("gatekeeper did not say where its status page listens:\n%s", h.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStatusPageRevokeInChromium is the operator's one click: an agent
// earns read access, the operator signs in to the status page in a real
// browser (JavaScript off), sees the grant, clicks Revoke; the token is
// dead in Vault at once, and the agent's next read needs a new approval.
// Then a pending approval, at the top of the page, is denied with one
// click, through the real access model.
func TestStatusPageRevokeInChromium(t *testing.T) {
	t.Parallel()
	tab := browsertest.Tab(t, browsertest.Options{NoScript: true}) // the page must work without JavaScript

	e := &env{t: t, srv: vaulttest.Start(t)}
	e.vc, e.root = vaulttest.Client(t, e.srv), vaulttest.Root(e.srv)
	res, err := setup.Apply(t.Context(), e.vc, e.root, setup.Options{Layout: vaulttest.DefaultLayout, Agents: []setup.AgentSetup{{Name: "alice"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.res, e.auth = res, vaulttest.NewAuthenticator(t, res.TOTPURL)
	if _, err := e.vc.KVWrite(t.Context(), e.root, "secret", "agent/alice/db", map[string]any{"password": "pw-of-alice"}); err != nil {
		t.Fatal(err)
	}
	h := e.serveHTTP(`
auth:
  api_keys:
    - {id: alice-key, agent: alice, sha256: `+sha(aliceKey)+`, scopes: [read, list, write]}
agents:
  - {name: alice}
`, nil, "GATEKEEPER_OPERATOR_TOKEN="+operatorToken, "GATEKEEPER_STATUS_ADDR=127.0.0.1:0")
	page := h.statusPageURL(t)
	alice := &agent{t: t, e: e, name: "alice", session: h.connect(t, h.client(nil, map[string]string{"X-API-Key": aliceKey}), ""),
		stderr: h.stderr, audit: h.audit, closed: true}

	// alice earns read access and reads.
	alice.authenticate()
	if got := alice.ok("read_secret", map[string]any{"path": "db"}); got["data"].(map[string]any)["password"] != "pw-of-alice" {
		t.Fatalf("read_secret = %v", got)
	}
	accessor := alice.liveAccessors(1)[0]
	var approval string
	for _, ev := range alice.auditEvents() {
		if ev["event"] == "grant.issued" {
			approval = ev["approval_id"].(string)
		}
	}

	// The operator opens the page, is sent to sign in, signs in and sees
	// the grant.
	grantRow := `tr.grant[data-accessor="` + accessor + `"]`
	browsertest.Do(t, tab,
		chromedp.Navigate(page+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), operatorToken),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button`)),
		chromedp.WaitVisible(chromedp.CSS(grantRow)),
	)
	row := browsertest.Read(t, tab, chromedp.Text(chromedp.CSS(grantRow)))
	for _, want := range []string{"read", approval, accessor, "all of secret/agent/alice/"} {
		if !strings.Contains(row, want) {
			t.Errorf("the grant's row lacks %q: %q", want, row)
		}
	}
	if agentName := browsertest.Read(t, tab, chromedp.Text(chromedp.CSS(`section.agent[data-principal="alice"] h3 span`))); agentName != "alice" {
		t.Errorf("agent heading = %q", agentName)
	}

	// One click on the grant's Revoke button.
	browsertest.Do(t, tab,
		chromedp.Click(chromedp.CSS(`form.revoke-grant[data-approval="`+approval+`"] button`)),
		chromedp.WaitVisible(chromedp.ID("notice")),
	)
	notice := browsertest.Read(t, tab, chromedp.Text(chromedp.ID("notice")))
	if !strings.Contains(notice, "ended alice's read access") || !strings.Contains(notice, "Revoked in Vault") {
		t.Errorf("notice after Revoke = %q", notice)
	}
	html := browsertest.Read(t, tab, chromedp.OuterHTML(chromedp.CSS("main")))
	if strings.Contains(html, `data-accessor="`+accessor+`"`) {
		t.Error("the revoked grant is still listed")
	}
	if !strings.Contains(html, `data-event="grant.revoked"`) {
		t.Error("the page's audit events lack the revocation")
	}

	// The token is dead in Vault: looking it up by accessor fails.
	if e.tokenAlive(accessor) {
		t.Fatal("the revoked grant's token still works in Vault")
	}
	revoked := 0
	for _, ev := range alice.auditEvents() {
		if ev["event"] == "grant.revoked" {
			revoked++
			if ev["accessor"] != accessor || ev["detail"] != "revoked by an operator" || !strings.HasPrefix(ev["correlation_id"].(string), "ops_") {
				t.Errorf("grant.revoked = %v", ev)
			}
		}
	}
	if revoked != 1 {
		t.Errorf("grant.revoked events = %d, want 1", revoked)
	}

	// The agent's next read asks nobody by itself: it is told to
	// authenticate, and only that asks the human again.
	requested := func() int {
		n := 0
		for _, ev := range alice.auditEvents() {
			if ev["event"] == "approval.requested" {
				n++
			}
		}
		return n
	}
	before := requested()
	alice.fails("read_secret", map[string]any{"path": "db"}, "An operator revoked your access to secrets")
	if n := requested(); n != before {
		t.Errorf("the read after revocation started %d approval(s) by itself", n-before)
	}
	alice.authenticate()
	if got := alice.ok("read_secret", map[string]any{"path": "db"}); got["data"].(map[string]any)["password"] != "pw-of-alice" {
		t.Fatalf("read_secret after a new approval = %v", got)
	}

	// With read and write live again, one click on the agent's button ends
	// both, in Vault.
	alice.escalate()
	accessors := alice.accessors()
	now := []string{accessors["read"][1], accessors["write"][0]}
	browsertest.Do(t, tab,
		chromedp.Navigate(page+"/"),
		chromedp.WaitVisible(chromedp.CSS(`tr.grant[data-accessor="`+now[1]+`"]`)),
		chromedp.Click(chromedp.CSS(`form.revoke-agent[data-principal="alice"] button`)),
		chromedp.WaitVisible(chromedp.ID("notice")),
	)
	if notice := browsertest.Read(t, tab, chromedp.Text(chromedp.ID("notice"))); !strings.Contains(notice, "ended alice's read and write access") {
		t.Errorf("notice after Revoke all = %q", notice)
	}
	for _, acc := range now {
		if e.tokenAlive(acc) {
			t.Errorf("token %s still works in Vault after Revoke all", acc)
		}
	}
	if tier := alice.tier(); tier != "none" {
		t.Errorf("alice's tier after Revoke all = %s", tier)
	}
	alice.fails("write_secret", map[string]any{"path": "db", "data": map[string]any{"password": "x"}}, "escalate")

	// A new approval waits for a human: it is at the top of the page, and
	// the operator's Deny ends it through the access model, in the audit
	// log under the operator's session.
	if r := alice.call("authenticate", nil); !r.isError || linkIn(r.text) == "" {
		t.Fatalf("authenticate = %v %q, want the approval page's link to relay", r.isError, r.text)
	}
	pendingRow := `table.pending tr.pending[data-principal="alice"]`
	browsertest.Do(t, tab,
		chromedp.Navigate(page+"/"),
		chromedp.WaitVisible(chromedp.CSS(pendingRow)),
	)
	if first := browsertest.Read(t, tab, chromedp.Text(chromedp.CSS("main h2"))); !strings.HasPrefix(first, "Waiting for a human") {
		t.Errorf("the page's first section is %q, want the pending approvals", first)
	}
	pendingID := browsertest.Read(t, tab, chromedp.AttributeValue(chromedp.CSS(pendingRow), "data-approval")).Value
	browsertest.Do(t, tab,
		chromedp.Click(chromedp.CSS(`form.deny[data-approval="`+pendingID+`"] button`)),
		chromedp.WaitVisible(chromedp.ID("notice")),
	)
	if notice := browsertest.Read(t, tab, chromedp.Text(chromedp.ID("notice"))); !strings.Contains(notice, "denied alice's read approval "+pendingID) {
		t.Errorf("notice after Deny = %q", notice)
	}
	var denied []map[string]any
	for _, ev := range alice.auditEvents() {
		if ev["event"] == "approval.decided" && ev["approval_id"] == pendingID {
			denied = append(denied, ev)
		}
	}
	if len(denied) != 1 || denied[0]["outcome"] != "denied" || !strings.HasPrefix(denied[0]["detail"].(string), "denied by an operator (ops_") {
		t.Errorf("approval.decided of the denied approval = %v", denied)
	}
	if tier := alice.tier(); tier != "none" {
		t.Errorf("alice's tier after Deny = %s", tier)
	}
	alice.fails("authenticate", nil, "denied")

	// Sign out ends the session: the page asks to sign in again.
	browsertest.Do(t, tab,
		chromedp.Navigate(page+"/"),
		chromedp.Click(chromedp.ID("logout")),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.Navigate(page+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
	)

	// Neither the operator token nor a grant's token reached a log line.
	logs, _ := os.ReadFile(h.audit)
	for _, where := range []string{string(logs), h.stderr.String()} {
		if strings.Contains(where, operatorToken) || strings.Contains(where, "hvs.") || strings.Contains(where, "pw-of-alice") {
			t.Fatal("a token or a secret value reached the audit log or the debug log")
		}
	}
}
