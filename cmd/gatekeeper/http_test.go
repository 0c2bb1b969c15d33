package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

const (
	aliceKey = "gk_alice-key-for-tests-only-000000000000"
	daveKey  = "gk_dave-key-for-tests-only-0000000000000"
	oldKey   = "gk_revoked-key-for-tests-only-000000000"
)

// manyAgents is one Vault set up for alice (API key), bob (JWT from the
// test's JWKS), carol (client certificate) and dave (an API key that may
// only list), and one gatekeeper serve --http in front of it.
type manyAgents struct {
	e   *env
	h   *httpServer
	idp *idp
}

func newManyAgents(t *testing.T, extraEnv ...string) *manyAgents {
	t.Helper()
	e := &env{t: t, srv: vaulttest.Start(t)}
	e.vc, e.root = vaulttest.Client(t, e.srv), vaulttest.Root(e.srv)
	l := vaulttest.DefaultLayout
	res, err := setup.Apply(t.Context(), e.vc, e.root, setup.Options{Layout: l, Agents: []setup.AgentSetup{
		{Name: "alice"}, {Name: "bob"}, {Name: "carol"}, {Name: "dave"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	e.res = res
	e.auth = vaulttest.NewAuthenticator(t, res.TOTPURL)
	// Vault takes each TOTP code once per MFA method; with a method per
	// agent, the agents' approvals need not wait for each other's codes.
	e.authFor = map[string]*vaulttest.Authenticator{}
	for _, a := range []string{"alice", "bob", "carol", "dave"} {
		e.authFor[a] = ownTOTP(t, e, res.EntityID, a)
		if _, err := e.vc.KVWrite(t.Context(), e.root, "secret", "agent/"+a+"/db", map[string]any{"password": "pw-of-" + a}); err != nil {
			t.Fatal(err)
		}
	}
	p := newPKI(t)
	i := newIDP(t)
	cfg := `
http:
  tls_cert_file: ` + p.certFile + `
  tls_key_file: ` + p.keyFile + `
  client_ca_file: ` + p.caFile + `
auth:
  api_keys:
    - {id: alice-key, agent: alice, sha256: ` + sha(aliceKey) + `, scopes: [read, list, write, transit]}
    - {id: dave-key, agent: dave, sha256: ` + sha(daveKey) + `, scopes: [list]}
    - {id: old-key, agent: alice, sha256: ` + sha(oldKey) + `, scopes: [read], revoked: true}
  jwt:
    jwks_url: ` + i.url + `
    issuer: ` + idpIssuer + `
    audience: gatekeeper
  mtls:
    trusted_proxies: [10.99.0.0/16]
agents:
  - {name: alice}
  - {name: bob}
  - {name: carol, scopes: [read, list, write]}
  - {name: dave}
`
	return &manyAgents{e: e, h: e.serveHTTP(cfg, p, extraEnv...), idp: i}
}

// session connects as one of the agents.
func (m *manyAgents) session(t *testing.T, who, protocol string) *agent {
	t.Helper()
	return &agent{t: t, e: m.e, name: who, session: m.h.connect(t, m.httpClient(t, who), protocol), stderr: m.h.stderr, audit: m.h.audit, closed: true}
}

// httpClient is a plain HTTP client carrying one agent's credential.
func (m *manyAgents) httpClient(t *testing.T, who string) *http.Client {
	t.Helper()
	var hc *http.Client
	switch who {
	case "alice":
		hc = m.h.client(nil, map[string]string{"X-API-Key": aliceKey})
	case "bob":
		hc = m.h.client(nil, map[string]string{"Authorization": "Bearer " + m.idp.token(t, "bob", "read list write transit", time.Hour)})
	case "carol":
		cert := m.h.pki.clientCert("carol")
		hc = m.h.client(&cert, nil)
	case "dave":
		hc = m.h.client(nil, map[string]string{"Authorization": "Bearer " + daveKey})
	}
	return hc
}

// TestThreeAgents is the platform-team scenario: three agents, three ways
// of proving who they are, one server, no restarts. Each earns its own
// tiers, holds its own Vault tokens and reaches only its own secrets.
func TestThreeAgents(t *testing.T) {
	t.Parallel()
	m := newManyAgents(t)
	agents := map[string]*agent{
		"alice": m.session(t, "alice", ""),           // API key, sessionless protocol
		"bob":   m.session(t, "bob", "2025-11-25"),   // JWT, session-based protocol
		"carol": m.session(t, "carol", "2025-11-25"), // client certificate
	}
	for _, who := range []string{"alice", "bob", "carol"} {
		a := agents[who]
		if tier := a.tier(); tier != "none" {
			t.Fatalf("%s starts with %s", who, tier)
		}
		a.authenticate()
		got := a.ok("read_secret", map[string]any{"path": "db"})
		if got["data"].(map[string]any)["password"] != "pw-of-"+who {
			t.Errorf("%s read %v", who, got)
		}
		for _, other := range []string{"alice", "bob", "carol"} {
			if other == who {
				continue
			}
			for _, p := range []string{"../" + other + "/db", "%2e%2e/" + other + "/db", "/secret/data/agent/" + other + "/db"} {
				a.fails("read_secret", map[string]any{"path": p}, "invalid path")
			}
			// A plain relative path stays inside the agent's own folder.
			a.fails("read_secret", map[string]any{"path": other + "/db"}, "Nothing at that path")
		}
		if keys := a.ok("list_secrets", map[string]any{"path": ""})["keys"]; !cmp.Equal(keys, []any{"db"}) {
			t.Errorf("%s lists %v, want only its own db", who, keys)
		}
		a.escalate()
		a.ok("write_secret", map[string]any{"path": "notes", "data": map[string]any{"by": who}})
	}
	for _, who := range []string{"alice", "bob", "carol"} {
		s, err := m.e.vc.KVRead(t.Context(), m.e.root, "secret", "agent/"+who+"/notes")
		if err != nil || s.Data["by"] != who {
			t.Errorf("agent/%s/notes = %v, %v", who, s, err)
		}
	}

	// Every token in Vault belongs to exactly one agent: its policies are
	// that agent's tier policy and nothing else.
	issued := map[string]int{}
	for _, ev := range m.h.auditEvents(t) {
		if ev["event"] != "grant.issued" {
			continue
		}
		who, tier := ev["principal"].(string), ev["tier"].(string)
		info, err := m.e.vc.Write(t.Context(), m.e.root, "auth/token/lookup-accessor", map[string]any{"accessor": ev["accessor"]})
		if err != nil {
			t.Fatalf("looking up %s's %s token: %v", who, tier, err)
		}
		want := []any{"gatekeeper-" + who + "-" + tier}
		if diff := cmp.Diff(want, info.Data["policies"]); diff != "" {
			t.Errorf("%s's %s token policies (-want +got):\n%s", who, tier, diff)
		}
		issued[who]++
	}
	if diff := cmp.Diff(map[string]int{"alice": 2, "bob": 2, "carol": 2}, issued); diff != "" {
		t.Errorf("grants issued per agent (-want +got):\n%s", diff)
	}

	// Grants belong to the agent, not to the connection: alice on a second
	// connection (another protocol) holds the same access; dave holds none.
	if tier := m.session(t, "alice", "2025-11-25").tier(); tier != "write" {
		t.Errorf("alice's second connection sees %s, want write", tier)
	}
	if tier := m.session(t, "dave", "").tier(); tier != "none" {
		t.Errorf("dave sees %s", tier)
	}
}

func TestToolsDependOnScopes(t *testing.T) {
	t.Parallel()
	m := newManyAgents(t)
	list := func(a *agent) []string {
		res, err := a.session.ListTools(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tool := range res.Tools {
			names = append(names, tool.Name)
		}
		slices.Sort(names)
		return names
	}
	dave := m.session(t, "dave", "2025-11-25")
	if diff := cmp.Diff([]string{"authenticate", "list_secrets", "logout", "token_status"}, list(dave)); diff != "" {
		t.Errorf("dave (list) tools (-want +got):\n%s", diff)
	}
	if got := list(m.session(t, "alice", "")); len(got) != 15 {
		t.Errorf("alice (read, list, write, transit) tools = %v", got)
	}
	// A hidden tool does not exist for dave, even when called by name.
	for _, tool := range []string{"read_secret", "write_secret", "escalate"} {
		res, err := dave.session.CallTool(t.Context(), &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"path": "db", "reason": "x", "data": map[string]any{"k": "v"}}})
		if err == nil && !res.IsError {
			t.Errorf("dave called hidden %s: %+v", tool, res)
		}
	}
	// A JWT without scopes sees nothing at all.
	hc := m.h.client(nil, map[string]string{"Authorization": "Bearer " + m.idp.token(t, "bob", "", time.Hour)})
	bare := &agent{t: t, session: m.h.connect(t, hc, ""), stderr: m.h.stderr}
	if got := list(bare); len(got) != 0 {
		t.Errorf("a credential without scopes sees %v", got)
	}
}

// TestRefusedCredentials: every bad credential is refused with 401 and the
// RFC 9728 pointer, and every refusal is audited.
func TestRefusedCredentials(t *testing.T) {
	t.Parallel()
	m := newManyAgents(t)
	expired := m.idp.token(t, "bob", "read", -5*time.Minute)
	unknownAgent := m.idp.token(t, "mallory", "read", time.Hour)
	tests := []struct {
		name    string
		cert    bool
		headers map[string]string
		code    int
	}{
		{"fail/no-credential", false, nil, 401},
		{"fail/wrong-api-key", false, map[string]string{"X-API-Key": "gk_wrong"}, 401},
		{"fail/revoked-api-key", false, map[string]string{"X-API-Key": oldKey}, 401},
		{"fail/expired-jwt", false, map[string]string{"Authorization": "Bearer " + expired}, 401},
		{"fail/tampered-jwt", false, map[string]string{"Authorization": "Bearer " + tamper(unknownAgent)}, 401},
		{"fail/undeclared-agent", false, map[string]string{"Authorization": "Bearer " + unknownAgent}, 403},
		// 127.0.0.1 is not a trusted proxy: its identity header is refused,
		// even beside a valid key.
		{"fail/spoofed-proxy-header", false, map[string]string{"X-API-Key": aliceKey, "X-Forwarded-Client-Cert": `Subject="CN=carol";URI=spiffe://example.org/carol`}, 401},
	}
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hc := m.h.client(nil, tc.headers)
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, m.h.url+"/mcp", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.code {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.code, b)
			}
			if tc.code == 401 && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `resource_metadata="`+m.h.url+`/.well-known/oauth-protected-resource"`) {
				t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	refused := 0
	for _, ev := range m.h.auditEvents(t) {
		if ev["event"] == "authentication" && ev["outcome"] == "refused" {
			refused++
		}
	}
	if refused < len(tests) {
		t.Errorf("refused authentications audited = %d, want at least %d", refused, len(tests))
	}
	if strings.Contains(m.h.stderr.String(), aliceKey) || strings.Contains(m.h.stderr.String(), expired) {
		t.Error("a credential reached the log")
	}
}

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	var claims map[string]any
	b, _ := decodeSegment(parts[1])
	_ = json.Unmarshal(b, &claims)
	claims["sub"] = "alice"
	nb, _ := json.Marshal(claims)
	parts[1] = encodeSegment(nb)
	return strings.Join(parts, ".")
}

func TestOperationsEndpoints(t *testing.T) {
	t.Parallel()
	m := newManyAgents(t)
	hc := m.h.client(nil, nil)
	get := func(path string) (int, map[string]any, string) {
		resp, err := hc.Get(m.h.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var v map[string]any
		_ = json.Unmarshal(b, &v)
		return resp.StatusCode, v, string(b)
	}
	if code, v, _ := get("/healthz"); code != 200 || v["status"] != "ok" {
		t.Errorf("/healthz = %d %v", code, v)
	}
	if code, _, body := get("/readyz"); code != 200 || strings.TrimSpace(body) != `{"status":"ready"}` {
		t.Errorf("/readyz = %d %s", code, body)
	}
	if code, v, _ := get("/.well-known/oauth-protected-resource"); code != 200 || v["resource"] != m.h.url+"/mcp" {
		t.Errorf("protected resource metadata = %d %v", code, v)
	}
	// One tool call, then the metrics show it.
	a := m.session(t, "alice", "")
	a.tier()
	_, _, metrics := get("/metrics")
	for _, want := range []string{
		`gatekeeper_tool_calls_total{outcome="ok",tool="token_status"} 1`,
		`gatekeeper_authentications_total{method="api_key",outcome="ok"}`,
		`gatekeeper_live_grants{tier="read"} 0`,
		"gatekeeper_vault_request_duration_seconds_bucket",
		`gatekeeper_http_requests_total{code="200",handler="mcp"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Sealed Vault: not ready once the last result (shared for 2s) ages
	// out, and the body says no more than that.
	if _, err := m.e.vc.Write(t.Context(), m.e.root, "sys/seal", nil); err != nil {
		t.Fatal(err)
	}
	var code int
	var body string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if code, _, body = get("/readyz"); code == 503 {
			break
		}
	}
	if code != 503 || strings.TrimSpace(body) != `{"status":"not ready"}` {
		t.Errorf("/readyz with Vault sealed = %d %s", code, body)
	}
}

func TestStatelessServer(t *testing.T) {
	t.Parallel()
	m := newManyAgents(t, "GATEKEEPER_STATELESS=true")
	// Both protocols work without a session; grants still belong to the agent.
	first := m.session(t, "alice", "2025-11-25")
	first.authenticate()
	if tier := m.session(t, "alice", "").tier(); tier != "read" {
		t.Errorf("alice on the sessionless protocol sees %s, want read", tier)
	}
	first.ok("read_secret", map[string]any{"path": "db"})
}

func TestHTTPGuards(t *testing.T) {
	t.Parallel()
	m := newManyAgents(t)
	post := func(headers map[string]string, body string) int {
		hc := m.h.client(nil, map[string]string{"X-API-Key": aliceKey})
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, m.h.url+"/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	ping := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	if code := post(nil, ping); code != 200 {
		t.Fatalf("a plain request = %d", code)
	}
	// A browser page on another origin cannot drive the agent's session.
	if code := post(map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, ping); code != 403 {
		t.Errorf("cross-origin request = %d, want 403", code)
	}
	// A session belongs to the agent that opened it: another agent's
	// credential cannot use its id.
	alice := m.session(t, "alice", "2025-11-25")
	bobKey := "Bearer " + m.idp.token(t, "bob", "read list write", time.Hour)
	hc := m.h.client(nil, map[string]string{"Authorization": bobKey})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, m.h.url+"/mcp",
		strings.NewReader(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"token_status","arguments":{}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", alice.session.ID())
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Errorf("bob using alice's session = %d, want refused", resp.StatusCode)
	}

	// Request bodies are bounded.
	huge := `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + strings.Repeat("x", 2<<20) + `"}}`
	if code := post(nil, huge); code != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB body = %d, want 413", code)
	}
}

func TestAgentRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, err := runSetupAgent(t, e, "busy"); err != nil {
		t.Fatal(err)
	}
	h := e.serveHTTP(`
http: {max_sessions_per_agent: 1}
auth:
  api_keys:
    - {id: busy, agent: busy, sha256: `+sha(confKey)+`, scopes: [read]}
agents:
  - {name: busy, rate: {per_minute: 1, burst: 3}}
`, nil) // opening the session costs one of the three
	a := &agent{t: t, e: e, name: "busy", session: h.connect(t, h.client(nil, map[string]string{"X-API-Key": confKey}), ""), stderr: h.stderr, audit: h.audit, closed: true}
	a.tier()
	a.tier()
	a.fails("token_status", nil, "Retry after 60 seconds")
	limited := 0
	for _, ev := range h.auditEvents(t) {
		if ev["event"] == "tool.call" && ev["outcome"] == "refused" && ev["principal"] == "busy" {
			limited++
		}
	}
	if limited != 1 {
		t.Errorf("refused calls audited = %d, want 1", limited)
	}

	// A second session is beyond the agent's cap of one.
	req, _ := http.NewRequest(http.MethodPost, h.url+"/mcp", strings.NewReader(
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"second","version":"1"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := h.client(nil, map[string]string{"X-API-Key": confKey}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "max_sessions_per_agent") {
		t.Errorf("a second session = %d %s, want 429 naming http.max_sessions_per_agent", resp.StatusCode, body)
	}
}

func TestHTTPShutdownRevokesEveryAgentsGrants(t *testing.T) {
	t.Parallel()
	m := newManyAgents(t)
	m.session(t, "alice", "").authenticate()
	bob := m.session(t, "bob", "2025-11-25")
	bob.authenticate()
	bob.escalate()
	live := bob.liveAccessors(3)
	if err := m.h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool { return strings.Contains(m.h.stderr.String(), "all grants revoked") })
	for _, acc := range live {
		if m.e.tokenAlive(acc) {
			t.Errorf("token %s still valid after the HTTP server stopped", acc)
		}
	}
}
