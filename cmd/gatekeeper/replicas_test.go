package main_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/duo/duotest"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// Several replicas of `gatekeeper serve --http` in front of one real Vault,
// sharing grants and pending approvals through it (state.backend: vault),
// with the brokered strategy and the local Duo API: every push the human
// would get is counted there.

const replicaKey = "replica-test-key-alice-000000000000"

// replicaEnv is a Vault set up for replicas and the brokered strategy, with
// agent alice and her secret, and a Duo that approves.
func replicaEnv(t testing.TB) (*env, *duotest.Server) {
	t.Helper()
	e := &env{t: t, srv: vaulttest.Start(t)}
	e.vc, e.root = vaulttest.Client(t, e.srv), vaulttest.Root(e.srv)
	l := vaulttest.DefaultLayout
	l.SharedState = true
	res, err := setup.Apply(t.Context(), e.vc, e.root, setup.Options{Layout: l, Agents: []setup.AgentSetup{{Name: "alice"}}, Brokered: true})
	if err != nil {
		t.Fatal(err)
	}
	e.res = res
	if _, err := e.vc.KVWrite(t.Context(), e.root, "secret", "agent/alice/db", map[string]any{"password": "pw-of-alice"}); err != nil {
		t.Fatal(err)
	}
	d := duotest.Start(t)
	d.SetUser("ada", duotest.User{Script: duotest.Script{Answer: duotest.Allow, AfterPolls: 1}})
	return e, d
}

// replicaConfig is one replica's configuration; backend is the state
// backend. With stateless, any replica serves any request (the SDK's
// sessionless protocol needs it); without, a session lives on one replica.
func replicaConfig(t testing.TB, d *duotest.Server, backend, revalidate string, stateless bool) string {
	return replicaDuoConfig(t, d) + fmt.Sprintf("http: {stateless: %v}\n", stateless) + `
auth:
  api_keys:
    - {id: alice-key, agent: alice, sha256: ` + sha(replicaKey) + `, scopes: [read, list, write]}
agents:
  - {name: alice}
limits: {rate: {per_minute: 1000000, burst: 100000}, approvals: {per_minute: 1000, burst: 1000}}
state: {backend: ` + backend + `, revalidate: ` + revalidate + `, poll: 100ms, heartbeat: 1s}
`
}

// replicaDuoConfig is the brokered strategy with the local Duo API.
func replicaDuoConfig(t testing.TB, d *duotest.Server) string {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "duo-ca.pem")
	if err := os.WriteFile(ca, d.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return "approval:\n  strategy: brokered\n  approver: duo\n  duo: {host: \"" + d.Host + "\", integration_key: " + d.IKey +
		", username: ada, ca_file: " + ca + "}\n"
}

func (e *env) serveReplica(cfg string, d *duotest.Server, extra ...string) *httpServer {
	return e.serveHTTP(cfg, nil, append([]string{"VAULT_TOKEN=" + e.res.BrokerToken.Reveal(),
		"GATEKEEPER_DUO_SECRET_KEY=" + d.SKey}, extra...)...)
}

// balancer spreads requests over the replicas in turn, as a load balancer
// without affinity does. A replica that fails a request is taken out (its
// health check would have failed) and the request goes to the next one:
// the test's calls are reads, which a client may safely repeat.
type balancer struct {
	base http.RoundTripper
	// sticky keeps every request on the first healthy replica, as a
	// load balancer with session affinity does.
	sticky bool
	mu     sync.Mutex
	urls   []*url.URL
	down   map[string]bool
	next   int
}

func newBalancer(replicas ...*httpServer) *balancer {
	b := &balancer{base: &http.Transport{MaxIdleConnsPerHost: 64}, down: map[string]bool{}}
	for _, h := range replicas {
		u, _ := url.Parse(h.url)
		b.urls = append(b.urls, u)
	}
	return b
}

func (b *balancer) pick() *url.URL {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sticky {
		b.next = 0
	}
	for range b.urls {
		u := b.urls[b.next%len(b.urls)]
		b.next++
		if !b.down[u.Host] {
			return u
		}
	}
	return nil
}

func (b *balancer) RoundTrip(r *http.Request) (*http.Response, error) {
	var lastErr error
	for range b.urls {
		u := b.pick()
		if u == nil {
			break
		}
		req := r.Clone(r.Context())
		req.URL.Scheme, req.URL.Host, req.Host = u.Scheme, u.Host, u.Host
		if r.GetBody != nil {
			body, err := r.GetBody()
			if err != nil {
				return nil, err
			}
			req.Body = body
		}
		resp, err := b.base.RoundTrip(req)
		if err == nil {
			return resp, nil
		}
		if r.Context().Err() != nil {
			return nil, err
		}
		lastErr = err
		b.mu.Lock()
		b.down[u.Host] = true
		b.mu.Unlock()
		if r.GetBody == nil {
			break
		}
	}
	return nil, fmt.Errorf("no replica answered: %w", lastErr)
}

// connectVia opens alice's MCP client whose every request goes through
// rt, on the sessionless protocol (any replica serves any request), or on
// protocol if given.
func connectVia(t testing.TB, endpoint string, rt http.RoundTripper, protocol ...string) *mcp.ClientSession {
	t.Helper()
	return connectAs(t, replicaKey, endpoint, rt, protocol...)
}

// connectAs is connectVia for the agent whose API key is key.
func connectAs(t testing.TB, key, endpoint string, rt http.RoundTripper, protocol ...string) *mcp.ClientSession {
	t.Helper()
	hc := &http.Client{Timeout: 3 * time.Minute, Transport: &headerTransport{base: rt, headers: map[string]string{"X-API-Key": key}}}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var opts *mcp.ClientSessionOptions
	if len(protocol) > 0 {
		opts = &mcp.ClientSessionOptions{ProtocolVersion: protocol[0]}
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e-replicas", Version: "1"}, nil).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: endpoint + "/mcp", HTTPClient: hc}, opts)
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// callOn is one tool call; a protocol error (the replica went away under
// the call) is retried once, as a client behind a load balancer does.
func callOn(t testing.TB, cs *mcp.ClientSession, name string, args map[string]any) result {
	t.Helper()
	var res *mcp.CallToolResult
	var err error
	for range 2 {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		cancel()
		if err == nil {
			break
		}
	}
	if err != nil {
		return result{isError: true, text: "protocol error: " + err.Error()}
	}
	r := result{isError: res.IsError}
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			r.text += tc.Text
		}
	}
	return r
}

// tierVia is the agent's tier as token_status reports it through cs.
func tierVia(t *testing.T, cs *mcp.ClientSession) string {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "token_status", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("token_status: %v %v", err, res)
	}
	out, _ := res.StructuredContent.(map[string]any)
	tier, _ := out["tier"].(string)
	return tier
}

func mustRead(t testing.TB, cs *mcp.ClientSession, via string) {
	t.Helper()
	if r := callOn(t, cs, "read_secret", map[string]any{"path": "db"}); r.isError || !strings.Contains(r.text, "pw-of-alice") {
		t.Fatalf("read_secret through %s: %s", via, r.text)
	}
}

// auditOf collects every replica's audit events.
func auditOf(t *testing.T, replicas ...*httpServer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, h := range replicas {
		out = append(out, h.auditEvents(t)...)
	}
	return out
}

func countEvents(evs []map[string]any, name string) int {
	n := 0
	for _, ev := range evs {
		if ev["event"] == name {
			n++
		}
	}
	return n
}

// TestReplicasShareGrantsThroughVault is issue 9's check: three replicas
// in front of one Vault, a client spreading calls across them.
func TestReplicasShareGrantsThroughVault(t *testing.T) {
	t.Parallel()
	e, d := replicaEnv(t)
	cfg := replicaConfig(t, d, "vault", "1s", true)
	var reps []*httpServer
	for range 3 {
		reps = append(reps, e.serveReplica(cfg, d, "GATEKEEPER_OPERATOR_TOKEN="+operatorToken, "GATEKEEPER_STATUS_ADDR=127.0.0.1:0"))
	}
	a, b, c := reps[0], reps[1], reps[2]
	pinned := func(h *httpServer) *mcp.ClientSession { return connectVia(t, h.url, newBalancer(h)) }

	// Approved through A, read through B and C with no new approval.
	onA, onB, onC := pinned(a), pinned(b), pinned(c)
	mustRead(t, onA, "A")
	mustRead(t, onB, "B")
	mustRead(t, onC, "C")
	if n := d.PushCount(); n != 1 {
		t.Fatalf("pushes after reads through A, B and C = %d, want 1", n)
	}
	if n := countEvents(auditOf(t, b, c), "approval.requested"); n != 0 {
		t.Errorf("B and C asked for %d approvals", n)
	}

	// 50 concurrent calls that need an approval, spread over the three:
	// one push. (After a logout reads ask by themselves.)
	if r := callOn(t, onC, "logout", nil); r.isError {
		t.Fatal(r.text)
	}
	// A and B notice within their revalidation interval (until then, a
	// read through them is told to authenticate: Vault refuses the token).
	waitFor(t, 10*time.Second, func() bool { return tierVia(t, onA) == "none" && tierVia(t, onB) == "none" })
	lb := newBalancer(a, b, c)
	spread := connectVia(t, a.url, lb)
	d.SetUser("ada", duotest.User{Script: duotest.Script{Answer: duotest.Allow, AfterPolls: 2}})
	var wg sync.WaitGroup
	fails := make([]string, 50)
	for i := range fails {
		wg.Go(func() {
			if r := callOn(t, spread, "read_secret", map[string]any{"path": "db"}); r.isError {
				fails[i] = r.text
			}
		})
	}
	wg.Wait()
	for i, f := range fails {
		if f != "" {
			t.Fatalf("concurrent read %d: %s", i, f)
		}
	}
	if n := d.PushCount(); n != 2 {
		t.Fatalf("pushes after 50 concurrent reads across 3 replicas = %d, want 2 (one more)", n)
	}
	if n := countEvents(auditOf(t, a, b, c), "approval.requested"); n != 2 {
		t.Errorf("approval.requested across the replicas = %d, want 2", n)
	}

	// kill -9 one replica in the middle of a run of reads: the agent goes
	// on through the others, with no new approval.
	var done atomic.Int32
	var runErr error
	var mu sync.Mutex
	wg.Go(func() {
		for i := range 60 {
			if r := callOn(t, spread, "read_secret", map[string]any{"path": "db"}); r.isError {
				mu.Lock()
				runErr = fmt.Errorf("read %d: %s", i, r.text)
				mu.Unlock()
				return
			}
			done.Add(1)
		}
	})
	for done.Load() < 20 {
		time.Sleep(10 * time.Millisecond)
	}
	if err := b.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if runErr != nil {
		t.Fatalf("after kill -9 of B: %v", runErr)
	}
	if n := d.PushCount(); n != 2 {
		t.Errorf("pushes after B died = %d, want still 2", n)
	}

	// The operator revokes through C's status page, which shows the grant
	// approved elsewhere: the next call through any replica needs a new
	// approval, which only the agent's authenticate asks for.
	accessor := storedAccessor(t, e)
	ops := signIn(t, c)
	if page := ops.get(t, "/"); !strings.Contains(page, `data-accessor="`+accessor+`"`) {
		t.Fatalf("C's status page does not show the live grant %s", accessor)
	}
	if page := ops.post(t, "/revoke-agent", url.Values{"principal": {"alice"}}); !strings.Contains(page, "Revoked in Vault") {
		t.Fatalf("revoking through C's status page: %s", page)
	}
	if e.tokenAlive(accessor) {
		t.Fatal("the revoked grant's token still works in Vault")
	}
	for name, cs := range map[string]*mcp.ClientSession{"A": onA, "C": onC} {
		if r := callOn(t, cs, "read_secret", map[string]any{"path": "db"}); !r.isError || !strings.Contains(r.text, "An operator revoked your access") {
			t.Errorf("read through %s after the revocation: %+v", name, r)
		}
	}
	if n := d.PushCount(); n != 2 {
		t.Errorf("pushes after the revocation = %d, want still 2", n)
	}
	if r := callOn(t, spread, "authenticate", nil); r.isError {
		t.Fatal(r.text)
	}
	mustRead(t, spread, "the balancer")
	if n := d.PushCount(); n != 3 {
		t.Errorf("pushes after authenticate = %d, want 3", n)
	}

	// Rolling restart: A stops (SIGTERM) while C still serves; the grant
	// stays and C serves it. Then C, the last one out, revokes it.
	accessor = storedAccessor(t, e)
	stop(t, a)
	if !e.tokenAlive(accessor) {
		t.Fatal("A's stop revoked a grant that C still serves")
	}
	mustRead(t, onC, "C after A stopped")
	if n := d.PushCount(); n != 3 {
		t.Errorf("pushes after A stopped = %d, want still 3", n)
	}
	stop(t, c)
	if e.tokenAlive(accessor) {
		t.Error("the last replica out left the grant's token valid")
	}

	// No token reached a log.
	for _, h := range reps {
		logs, _ := os.ReadFile(h.audit)
		if strings.Contains(string(logs), "hvs.") || strings.Contains(h.stderr.String(), "hvs.") {
			t.Error("a token reached a replica's audit or debug log")
		}
		if strings.Contains(h.stderr.String(), "DATA RACE") {
			t.Errorf("a replica reported a data race:\n%s", h.stderr)
		}
	}
}

// TestLostSessionCostsAReconnectNotAnApproval: with session-based clients
// the load balancer keeps a session on its replica (affinity by
// Mcp-Session-Id); when that replica dies, the session is gone with it and
// the client connects again, through another replica, and goes on with the
// grant it had: the grant belongs to the agent, in the store.
func TestLostSessionCostsAReconnectNotAnApproval(t *testing.T) {
	t.Parallel()
	e, d := replicaEnv(t)
	cfg := replicaConfig(t, d, "vault", "2s", false)
	a, b := e.serveReplica(cfg, d), e.serveReplica(cfg, d)
	lb := newBalancer(a, b)
	lb.sticky = true
	first := connectVia(t, a.url, lb, "2025-11-25")
	if first.ID() == "" {
		t.Fatal("the session-based protocol gave no session")
	}
	mustRead(t, first, "A")
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if r := callOn(t, first, "read_secret", map[string]any{"path": "db"}); !r.isError {
		t.Fatalf("the session outlived its replica: %+v", r)
	}
	again := connectVia(t, a.url, lb, "2025-11-25")
	mustRead(t, again, "B, after reconnecting")
	if n := d.PushCount(); n != 1 {
		t.Errorf("pushes = %d, want 1: a lost session must not cost an approval", n)
	}
}

// TestReplicasWithVaultLoginMFA: the default strategy, where Vault's own
// login MFA approves and Gatekeeper holds only the bootstrap token. Read
// access approved through A (a TOTP code) serves B; write access earned
// through B, from the read token A's approval gave, serves A's writes.
func TestReplicasWithVaultLoginMFA(t *testing.T) {
	t.Parallel()
	e := &env{t: t, srv: vaulttest.Start(t)}
	e.vc, e.root = vaulttest.Client(t, e.srv), vaulttest.Root(e.srv)
	l := vaulttest.DefaultLayout
	l.SharedState = true
	res, err := setup.Apply(t.Context(), e.vc, e.root, setup.Options{Layout: l, Agents: []setup.AgentSetup{{Name: "alice"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.res, e.auth = res, vaulttest.NewAuthenticator(t, res.TOTPURL)
	if _, err := e.vc.KVWrite(t.Context(), e.root, "secret", "agent/alice/db", map[string]any{"password": "pw-of-alice"}); err != nil {
		t.Fatal(err)
	}
	cfg := `http: {stateless: true}
auth:
  api_keys:
    - {id: alice-key, agent: alice, sha256: ` + sha(replicaKey) + `, scopes: [read, list, write]}
agents:
  - {name: alice}
state: {backend: vault}
`
	a, b := e.serveHTTP(cfg, nil), e.serveHTTP(cfg, nil)
	onA, onB := connectVia(t, a.url, newBalancer(a)), connectVia(t, b.url, newBalancer(b))
	// Each approval's page is on the replica that runs it; the agent
	// relays its link (a stateless client cannot be shown links).
	approveVia(t, onA, e.auth.Code(t), "authenticate", nil)
	mustRead(t, onB, "B")
	approveVia(t, onB, e.auth.Code(t), "escalate", map[string]any{"reason": "rotate"})
	if r := callOn(t, onA, "write_secret", map[string]any{"path": "db", "data": map[string]any{"password": "rotated"}}); r.isError {
		t.Fatalf("write through A with write access earned through B: %s", r.text)
	}
	evs := auditOf(t, a, b)
	if n := countEvents(evs, "approval.requested"); n != 2 {
		t.Errorf("approvals requested = %d, want 2 (read, write)", n)
	}
	// A's own token reaches the state, and still no secret.
	if _, err := e.vc.KVRead(t.Context(), res.BootstrapToken, "secret", "agent/alice/db"); err == nil {
		t.Error("the bootstrap token reads an agent's secret")
	}
}

// approveVia makes a call through cs that needs an approval: the result
// relays the page's link, the human types code there, and the same call
// again succeeds.
func approveVia(t *testing.T, cs *mcp.ClientSession, code, name string, args map[string]any) {
	t.Helper()
	r := callOn(t, cs, name, args)
	link := linkIn(r.text)
	if link == "" {
		t.Fatalf("%s: %q, want the approval page's link", name, r.text)
	}
	if state := human.Code(t, link, code); state != "approved" {
		t.Fatalf("%s: the approval page after the code: %s", name, state)
	}
	if r := callOn(t, cs, name, args); r.isError {
		t.Fatalf("%s after the approval: %s", name, r.text)
	}
}

// stop sends SIGTERM and waits for the replica to exit.
func stop(t *testing.T, h *httpServer) {
	t.Helper()
	if err := h.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.cmd.Wait() }()
	select {
	case <-done: //nolint:errcheck // only that it stopped matters
	case <-time.After(30 * time.Second):
		t.Fatalf("the replica did not stop:\n%s", h.stderr)
	}
}

// storedAccessor is the accessor of alice's read grant as the store holds
// it, read as root.
func storedAccessor(t *testing.T, e *env) string {
	t.Helper()
	sec, err := e.vc.KVRead(t.Context(), e.root, "secret", setup.StateFolder+"/slots/alice/read")
	if err != nil {
		t.Fatal(err)
	}
	g, _ := sec.Data["grant"].(map[string]any)
	acc, _ := g["accessor"].(string)
	if acc == "" {
		t.Fatalf("the store holds no read grant: %v", sec.Data)
	}
	return acc
}

// operator is a signed-in session on a replica's status page.
type operator struct {
	base string
	hc   *http.Client
	csrf string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func signIn(t *testing.T, h *httpServer) *operator {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	o := &operator{base: h.statusPageURL(t), hc: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	page := o.post(t, "/login", url.Values{"token": {operatorToken}})
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("signing in to the status page: %s", page)
	}
	o.csrf = m[1]
	return o
}

func (o *operator) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := o.hc.Get(o.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func (o *operator) post(t *testing.T, path string, form url.Values) string {
	t.Helper()
	if o.csrf != "" {
		form.Set("csrf", o.csrf)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, o.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", o.base)
	resp, err := o.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestReplicaWithoutStatePolicyRefusesToStart: a replica configured for
// shared state whose Vault identity lacks the state policy fails at start,
// saying what to run, rather than at the first approval.
func TestReplicaWithoutStatePolicyRefusesToStart(t *testing.T) {
	t.Parallel()
	e := brokeredEnv(t) // set up without --replicas
	d := duotest.Start(t)
	path := writeTemp(t, replicaConfig(t, d, "vault", "2s", true))
	out, errOut, code := run(t, []string{"VAULT_ADDR=" + e.srv.Addr, "VAULT_TOKEN=" + e.res.BrokerToken.Reveal(),
		"GATEKEEPER_DUO_SECRET_KEY=" + d.SKey}, "serve", "--http", "127.0.0.1:0", "--config", path)
	if code == 0 || !strings.Contains(errOut, "gatekeeper setup --replicas") {
		t.Errorf("serve without the state policy: code %d\nstdout %s\nstderr %s", code, out, errOut)
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "gatekeeper-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return f.Name()
}
