package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/page/pagetest"
	"github.com/gatekeeper-mcp/gatekeeper/internal/devvault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// binary is the gatekeeper binary built once for these tests: they drive
// the real program over stdio, as an agent's MCP client does.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatekeeper-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "gatekeeper")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building gatekeeper:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// env is one Vault, set up, with sample secrets.
type env struct {
	t   testing.TB
	srv *devvault.Server
	// addr, if set, is the Vault address serve is given instead of srv's
	// (a node of a Raft cluster, which has no dev server).
	addr string
	vc   *vault.Client
	root sensitive.String
	res  *setup.Result
	auth *vaulttest.Authenticator
	// authFor holds the authenticators of agents that have a TOTP method
	// of their own (ownTOTP); the others use auth.
	authFor map[string]*vaulttest.Authenticator
	extra   []string // environment for gatekeeper serve
}

var samples = map[string]map[string]any{
	"app/db":     {"username": "app", "password": "pw-db-5f2c9e"},
	"app/api":    {"key": "api-key-77b1d0"},
	"team/notes": {"text": "hello"},
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, srv: vaulttest.Start(t)}
	e.vc, e.root = vaulttest.Client(t, e.srv), vaulttest.Root(e.srv)
	e.res = vaulttest.SetUp(t, e.srv, vaulttest.DefaultLayout)
	e.auth = vaulttest.NewAuthenticator(t, e.res.TOTPURL)
	for p, data := range samples {
		if _, err := e.vc.KVWrite(t.Context(), e.root, "secret", "agent/"+p, data); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// vaultAddr is the Vault address serve is given.
func (e *env) vaultAddr() string {
	if e.addr != "" {
		return e.addr
	}
	return e.srv.Addr
}

// auditKey keys the audit file's hash chain (base64 of 32 bytes).
const auditKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// agent is one running `gatekeeper serve` and the MCP client talking to it.
type agent struct {
	t       testing.TB
	e       *env
	name    string // the named agent, "" for the stdio agent
	session *mcp.ClientSession
	cmd     *exec.Cmd
	stderr  *lockedBuffer
	audit   string
	closed  bool
}

// serve starts gatekeeper serve with the env's bootstrap token and connects
// an MCP client over stdio.
func (e *env) serve(extraEnv ...string) *agent {
	t := e.t
	t.Helper()
	a := &agent{t: t, e: e, stderr: &lockedBuffer{}, audit: filepath.Join(t.TempDir(), "audit.jsonl")}
	a.cmd = exec.Command(binary, "serve")
	a.cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"VAULT_ADDR=" + e.vaultAddr(),
		"VAULT_TOKEN=" + e.res.BootstrapToken.Reveal(),
		"GATEKEEPER_AUDIT_FILE=" + a.audit,
		"GATEKEEPER_AUDIT_KEY=" + auditKey,
		"GATEKEEPER_LOG_LEVEL=debug",
	}, append(e.extra, extraEnv...)...)
	a.cmd.Stderr = a.stderr
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := client.Connect(ctx, &mcp.CommandTransport{Command: a.cmd, TerminateDuration: 20 * time.Second}, nil)
	if err != nil {
		t.Fatalf("connecting to gatekeeper serve: %v\n%s", err, a.stderr)
	}
	a.session = s
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			t.Logf("gatekeeper stderr:\n%s", a.stderr)
		}
	})
	return a
}

// stop closes stdin, as an MCP client does when it exits, and waits for
// the process.
func (a *agent) stop() {
	if a.closed {
		return
	}
	a.closed = true
	if err := a.session.Close(); err != nil {
		a.t.Logf("closing the session: %v", err)
	}
}

// result is a tool call's outcome as the model sees it.
type result struct {
	isError bool
	text    string
	out     map[string]any
}

func (a *agent) call(name string, args map[string]any) result {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(a.t.Context(), time.Minute)
	defer cancel()
	if args == nil {
		args = map[string]any{}
	}
	res, err := a.session.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		a.t.Fatalf("%s: protocol error: %v\n%s", name, err, a.stderr)
	}
	r := result{isError: res.IsError}
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			r.text += tc.Text
		}
	}
	if res.StructuredContent != nil {
		b, _ := json.Marshal(res.StructuredContent)
		_ = json.Unmarshal(b, &r.out)
	}
	return r
}

// ok calls a tool that must succeed.
func (a *agent) ok(name string, args map[string]any) map[string]any {
	a.t.Helper()
	r := a.call(name, args)
	if r.isError {
		a.t.Fatalf("%s(%v) failed: %s", name, args, r.text)
	}
	return r.out
}

// fails calls a tool that must fail with a message containing want.
func (a *agent) fails(name string, args map[string]any, want string) string {
	a.t.Helper()
	r := a.call(name, args)
	if !r.isError {
		a.t.Fatalf("%s(%v) succeeded, want an error containing %q: %v", name, args, want, r.out)
	}
	if !strings.Contains(r.text, want) {
		a.t.Fatalf("%s(%v) error %q, want it to contain %q", name, args, r.text, want)
	}
	if !strings.Contains(r.text, "(ref ") {
		a.t.Errorf("%s error %q has no correlation id", name, r.text)
	}
	return r.text
}

func (a *agent) tier() string {
	a.t.Helper()
	return a.ok("token_status", nil)["tier"].(string)
}

func (a *agent) authenticate() {
	a.t.Helper()
	if out := a.approved("authenticate", nil); out["tier"] != "read" {
		a.t.Fatalf("after authenticate: %v", out)
	}
}

func (a *agent) escalate() {
	a.t.Helper()
	if out := a.approved("escalate", map[string]any{"reason": "rotate the API key"}); out["tier"] != "write" {
		a.t.Fatalf("after escalate: %v", out)
	}
}

// approved makes a call that needs an approval, as the default flow goes
// for a client without URL elicitation (this one): the call returns the
// approval page's link for the agent to relay, the human types the current
// code on the page, and the same call again then succeeds.
func (a *agent) approved(name string, args map[string]any) map[string]any {
	a.t.Helper()
	r := a.call(name, args)
	link := linkIn(r.text)
	if !r.isError || link == "" {
		a.t.Fatalf("%s(%v) = %v %q, want the approval page's link to relay", name, args, r.isError, r.text)
	}
	if state := human.Code(a.t, link, a.code()); state != "approved" {
		a.t.Fatalf("the approval page after the code: %s", state)
	}
	return a.ok(name, args)
}

// callAnswered makes a call that waits for the human, who answers (on
// the approval page) while it waits.
func (a *agent) callAnswered(name string, args map[string]any, answer func()) result {
	a.t.Helper()
	res := make(chan result, 1)
	go func() { res <- a.call(name, args) }()
	answer()
	return <-res
}

// human answers approval pages.
var human pagetest.Human

// approvalLink is an approval page's link, as Gatekeeper gives it.
var approvalLink = regexp.MustCompile(`https?://[a-z0-9.:]+/approve/[A-Za-z0-9_-]{43}`)

// linkIn returns the approval page's link in text, or "".
func linkIn(text string) string { return approvalLink.FindString(text) }

// announcedLink waits for the link that serve announces on stderr for an
// approval of tier, after the first skip such links.
func (a *agent) announcedLink(tier string, skip int) string {
	a.t.Helper()
	re := regexp.MustCompile(`asks for ` + tier + ` access \(request apr_[0-9a-f]+, digest [0-9a-f ]+\)\. Answer it at (\S+)`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := re.FindAllStringSubmatch(a.stderr.String(), -1); len(m) > skip {
			return m[skip][1]
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("serve announced no %s approval on stderr:\n%s", tier, a.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// code is the approver's current code for this agent's MFA method.
func (a *agent) code() string {
	if auth, ok := a.e.authFor[a.name]; ok {
		return auth.Code(a.t)
	}
	return a.e.auth.Code(a.t)
}

// auditEvents reads the audit file.
func (a *agent) auditEvents() []map[string]any {
	a.t.Helper()
	f, err := os.Open(a.audit)
	if err != nil {
		a.t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			a.t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, ev)
	}
	return out
}

// accessors returns the accessors of every grant issued, by tier.
func (a *agent) accessors() map[string][]string {
	out := map[string][]string{}
	for _, ev := range a.auditEvents() {
		if ev["event"] == "grant.issued" {
			out[ev["tier"].(string)] = append(out[ev["tier"].(string)], ev["accessor"].(string))
		}
	}
	return out
}

// liveAccessors returns the accessors of every grant issued so far and
// checks that there are n and that Vault honours each: a test that checks
// revocation must not pass because there was nothing to revoke.
func (a *agent) liveAccessors(n int) []string {
	a.t.Helper()
	var out []string
	for _, list := range a.accessors() {
		out = append(out, list...)
	}
	if len(out) != n {
		a.t.Fatalf("issued grants = %d, want %d", len(out), n)
	}
	for _, acc := range out {
		if !a.e.tokenAlive(acc) {
			a.t.Fatalf("token %s is not valid before the test ends it", acc)
		}
	}
	return out
}

// tokenAlive asks Vault, as root, whether the token behind accessor works.
func (e *env) tokenAlive(accessor string) bool {
	e.t.Helper()
	_, err := e.vc.Write(e.t.Context(), e.root, "auth/token/lookup-accessor", map[string]any{"accessor": accessor})
	return err == nil
}

// revokeAccessor revokes a token from outside Gatekeeper, as an operator would.
func (e *env) revokeAccessor(accessor string) {
	e.t.Helper()
	if _, err := e.vc.Write(e.t.Context(), e.root, "auth/token/revoke-accessor", map[string]any{"accessor": accessor}); err != nil {
		e.t.Fatal(err)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
