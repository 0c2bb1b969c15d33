package mcptools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/egress"
	"github.com/gatekeeper-mcp/gatekeeper/internal/execsecret"
	"github.com/gatekeeper-mcp/gatekeeper/internal/paths"
	"github.com/gatekeeper-mcp/gatekeeper/internal/secretuse"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// The fuzzed principal's folder and the values its secret holds: no error
// message and no audit record may show them.
const (
	fuzzFolder = "agent/p"
	fuzzValue  = "pw-value-7f3a19"
	fuzzValue2 = "user-value-c0d2e4"
)

// fuzzTools are the tools FuzzToolCall picks from (the tool byte, modulo).
var fuzzTools = []string{
	"authenticate", "escalate", "token_status", "release", "logout",
	"read_secret", "secret_metadata", "list_secrets", "write_secret", "patch_secret",
	"delete_secret", "undelete_secret", "destroy_secret",
	"encrypt", "decrypt", "rewrap", "sign", "verify", "run_with_secret",
	"http_request",
}

// FuzzToolCall calls a tool with arbitrary JSON arguments through a real MCP
// client and server (in memory), with the access model, Vault and the
// command runner stubbed to record what reaches them. Whatever the
// arguments:
//   - the call ends with a tool result or a JSON-RPC error, never a broken
//     session; a call the tool ran is audited exactly once, and one the
//     SDK refused for its schema reached nothing;
//   - whatever reaches Vault stays inside the agent's folder (a clean path
//     under agent/p/), names only the agent's transit keys, carries
//     bounded data and versions numbered from 1, sorted, without repeats;
//   - approvals get a trimmed, printable reason and passcode and valid
//     paths; the runner gets 1 to 16 variables;
//   - input refused as invalid changed nothing: nothing reached the access
//     model, Vault or the runner;
//   - no error message and no audit record holds a secret value or the
//     passcode.
//
// The seed corpus (testdata/fuzz/FuzzToolCall) has a call of every tool and
// the attacks on each: traversal in every spelling, wrong types, bounds.
func FuzzToolCall(f *testing.F) {
	rec := &fuzzRecorder{}
	cs := fuzzSession(f, rec)
	f.Fuzz(func(t *testing.T, tool uint8, args []byte) {
		if !json.Valid(args) || len(args) > 256<<10 {
			return // the client cannot send it
		}
		name := fuzzTools[int(tool)%len(fuzzTools)]
		rec.reset()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: json.RawMessage(args)})
		calls, events := rec.take()
		var rpc *jsonrpc.Error
		switch {
		case err != nil && !errors.As(err, &rpc):
			t.Fatalf("%s(%s): the session broke: %v", name, args, err)
		case err != nil:
			if len(events) != 0 {
				t.Fatalf("%s(%s): refused by the protocol, yet audited: %+v", name, args, events)
			}
			return
		}
		var text string
		for _, c := range res.Content {
			if tc, ok := c.(*mcp.TextContent); ok {
				text += tc.Text
			}
		}
		// Every call the protocol carries is audited once, one whose
		// arguments do not fit the tool's schema too (refused, nothing
		// attempted).
		if n := countTool(events, name); n != 1 {
			t.Fatalf("%s(%s): %d tool.call records, want 1 (result %q, calls %v)", name, args, n, text, calls)
		}
		passcode := passcodeOf(args)
		for _, secret := range []string{fuzzValue, fuzzValue2, passcode} {
			if len(secret) < 6 {
				continue
			}
			if res.IsError && strings.Contains(text, secret) {
				t.Fatalf("%s(%s): the error %q holds a secret", name, args, text)
			}
			if e := fmt.Sprintf("%+v", events); strings.Contains(e, secret) {
				t.Fatalf("%s(%s): the audit records hold a secret: %s", name, args, e)
			}
		}
		if name == "http_request" && !res.IsError {
			b, _ := json.Marshal(res.StructuredContent)
			for _, secret := range []string{fuzzValue, fuzzValue2} {
				if strings.Contains(text+string(b), secret) {
					t.Fatalf("%s(%s): the result holds a secret value: %s", name, args, b)
				}
			}
		}
		if res.IsError && refusedAsInput(text) && len(calls) > 0 {
			t.Fatalf("%s(%s): refused as invalid (%q), yet called %v", name, args, text, calls)
		}
		for _, c := range calls {
			if msg := c.check(); msg != "" {
				t.Fatalf("%s(%s): %s: %s", name, args, c, msg)
			}
		}
	})
}

// refusedAsInput says the tool refused its input before doing anything.
// A missing field of a secret, or a value that cannot be used, is found
// only after the secret was read, so it does not count.
func refusedAsInput(text string) bool {
	if strings.HasPrefix(text, "Cannot use that secret:") {
		return false
	}
	return strings.HasPrefix(text, "Invalid input:") || strings.HasPrefix(text, paths.ErrInvalid.Error()) ||
		strings.HasPrefix(text, "escalate needs a reason")
}

func countTool(events []audit.Event, tool string) int {
	n := 0
	for _, e := range events {
		if e.Event == audit.ToolCall && e.Tool == tool {
			n++
		}
	}
	return n
}

// passcodeOf returns the passcode in args, or "" when the same text is
// also elsewhere in them (where it may be shown: a path, a reason).
func passcodeOf(args []byte) string {
	var in map[string]any
	_ = json.Unmarshal(args, &in)
	s, _ := in["passcode"].(string)
	delete(in, "passcode")
	rest, _ := json.Marshal(in)
	if s = strings.TrimSpace(s); strings.Contains(string(rest), s) {
		return ""
	}
	return s
}

// fuzzCall is one call that reached a stub.
type fuzzCall struct {
	what     string // the method
	mount    string
	path     string // full path in the mount, or a transit key
	paths    []string
	versions []int64
	data     map[string]any
	cas      *int64
	reason   string
	passcode string
	env      map[string]secretuse.Secret
	request  egress.Request
	err      error // what the real allowlist says of request
}

func (c fuzzCall) String() string { return c.what + " " + c.path }

// check returns what is wrong with a call, or "".
func (c fuzzCall) check() string {
	switch {
	case strings.HasPrefix(c.what, "KV"):
		if c.mount != "secret" {
			return "mount " + c.mount
		}
		rest, ok := strings.CutPrefix(c.path, fuzzFolder+"/")
		if c.what == "KVList" && c.path == fuzzFolder {
			rest, ok = "", true
		}
		if !ok {
			return "outside the agent's folder"
		}
		if clean, err := paths.Parse(rest, c.what == "KVList"); err != nil || clean != rest {
			return fmt.Sprintf("unclean path %q (%v)", rest, err)
		}
		if c.data != nil {
			b, err := json.Marshal(c.data)
			if err != nil || len(b) > maxWrite || len(c.data) == 0 {
				return "unbounded or empty data"
			}
		}
		if c.cas != nil && *c.cas < 0 {
			return "negative cas"
		}
		if len(c.versions) > maxVersions || !slices.IsSorted(c.versions) || len(slices.Compact(slices.Clone(c.versions))) != len(c.versions) {
			return fmt.Sprintf("versions %v", c.versions)
		}
		for _, v := range c.versions {
			if v < 1 {
				return fmt.Sprintf("version %d", v)
			}
		}
	case strings.HasPrefix(c.what, "Transit"):
		name, ok := strings.CutPrefix(c.path, "p.")
		if c.mount != "transit" || !ok || !keyName.MatchString(name) {
			return "not one of the agent's keys"
		}
	case c.what == "Escalate" || c.what == "Once" || c.what == "Authenticate":
		// Hidden and control characters are the access model's to refuse
		// (access.ErrHiddenText), for every front door.
		if c.what != "Authenticate" && (c.reason == "" || len(c.reason) > maxReason || strings.TrimSpace(c.reason) != c.reason) {
			return fmt.Sprintf("reason %q", c.reason)
		}
		if len(c.passcode) > 64 || strings.IndexFunc(c.passcode, func(r rune) bool { return r < '!' || r > '~' }) >= 0 {
			return fmt.Sprintf("passcode %q", c.passcode)
		}
		if len(c.paths) > maxPaths {
			return "too many paths"
		}
		for _, p := range c.paths {
			if clean, err := paths.Parse(strings.TrimSuffix(p, "/"), false); err != nil || clean != strings.TrimSuffix(p, "/") {
				return fmt.Sprintf("path %q", p)
			}
		}
	case c.what == "Run":
		if len(c.env) == 0 || len(c.env) > 16 {
			return fmt.Sprintf("%d variables", len(c.env))
		}
	case c.what == "Do":
		if c.err != nil {
			return fmt.Sprintf("sent a request the allowlist refuses: %v", c.err)
		}
	}
	return ""
}

// fuzzRecorder is the stubs' shared record of the calls that reached
// them, and the audit log.
type fuzzRecorder struct {
	mu     sync.Mutex
	calls  []fuzzCall
	events []audit.Event
}

func (r *fuzzRecorder) add(c fuzzCall) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

func (r *fuzzRecorder) Record(_ context.Context, e audit.Event) error {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	return nil
}

func (r *fuzzRecorder) reset() {
	r.mu.Lock()
	r.calls, r.events = nil, nil
	r.mu.Unlock()
}

func (r *fuzzRecorder) take() ([]fuzzCall, []audit.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls, r.events
}

// fuzzSession serves the tools, stubs recording into rec, to an in-memory
// client.
func fuzzSession(t testing.TB, rec *fuzzRecorder) *mcp.ClientSession {
	s := mcp.NewServer(&mcp.Implementation{Name: "gatekeeper", Version: "fuzz"}, nil)
	Register(s, Options{
		Access: &fuzzAccess{rec: rec}, Vault: &fuzzVault{rec: rec}, Exec: &fuzzRunner{rec: rec}, Egress: newFuzzEgress(t, rec), Audit: rec,
		KVMount: "secret", TransitMount: "transit",
		Folder:  func(access.Principal) string { return fuzzFolder },
		KeyName: func(_ access.Principal, k string) string { return "p." + k },
		Caller: func(context.Context, *mcp.CallToolRequest) (Caller, error) {
			return Caller{Principal: "p"}, nil
		},
	})
	st, ct := mcp.NewInMemoryTransports()
	ss, err := s.Connect(context.Background(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ss.Close() })
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "fuzz", Version: "1"}, nil).Connect(context.Background(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// fuzzAccess grants everything at once and records what it was asked.
type fuzzAccess struct{ rec *fuzzRecorder }

var fuzzGrant = &access.Grant{Principal: "p", Tier: access.Write, Token: sensitive.New("s.fuzz-token"), Accessor: "acc", ApprovalID: "apr_fuzz"}

func (a *fuzzAccess) Authenticate(_ context.Context, _ access.Principal, passcode sensitive.String) (access.Status, error) {
	a.rec.add(fuzzCall{what: "Authenticate", passcode: passcode.Reveal()})
	return access.Status{Tier: access.Read}, nil
}

func (a *fuzzAccess) Escalate(_ context.Context, _ access.Principal, reason string, ps []string, passcode sensitive.String) (access.Status, error) {
	a.rec.add(fuzzCall{what: "Escalate", reason: reason, paths: ps, passcode: passcode.Reveal()})
	return access.Status{Tier: access.Write}, nil
}

func (a *fuzzAccess) ForRead(context.Context, access.Principal, string) (*access.Grant, error) {
	a.rec.add(fuzzCall{what: "ForRead"})
	return fuzzGrant, nil
}

func (a *fuzzAccess) ForWrite(_ access.Principal, path string) (*access.Grant, error) {
	a.rec.add(fuzzCall{what: "ForWrite", path: path})
	return fuzzGrant, nil
}

func (a *fuzzAccess) Once(_ context.Context, _ access.Principal, reason, _ string, ps []string, passcode sensitive.String, fn func(sensitive.String) error) error {
	a.rec.add(fuzzCall{what: "Once", reason: reason, paths: ps, passcode: passcode.Reveal()})
	return fn(sensitive.New("s.fuzz-once"))
}

func (a *fuzzAccess) Recheck(context.Context, *access.Grant) error { return nil }

func (a *fuzzAccess) Status(access.Principal) access.Status { return access.Status{Tier: access.Write} }

func (a *fuzzAccess) Credential(access.Principal, string) (access.Credential, error) {
	return access.Credential{}, access.ErrNoCredential
}

func (a *fuzzAccess) Credentials(access.Principal) []access.CredentialView { return nil }

func (a *fuzzAccess) Release(context.Context, access.Principal) (access.Status, error) {
	a.rec.add(fuzzCall{what: "Release"})
	return access.Status{Tier: access.Read}, nil
}

func (a *fuzzAccess) Logout(context.Context, access.Principal) (access.Status, error) {
	a.rec.add(fuzzCall{what: "Logout"})
	return access.Status{}, nil
}

// fuzzVault answers like a Vault holding one secret everywhere.
type fuzzVault struct{ rec *fuzzRecorder }

func (v *fuzzVault) kv(what, mount, path string) {
	v.rec.add(fuzzCall{what: what, mount: mount, path: path})
}

func (v *fuzzVault) KVReadVersion(_ context.Context, _ sensitive.String, mount, path string, _ int64) (*vault.KVSecret, error) {
	v.kv("KVRead", mount, path)
	return &vault.KVSecret{Data: map[string]any{"password": fuzzValue, "user": fuzzValue2}, Version: 3, Created: time.Unix(1_900_000_000, 0)}, nil
}

func (v *fuzzVault) KVWriteCAS(_ context.Context, _ sensitive.String, mount, path string, data map[string]any, cas *int64) (int64, error) {
	v.rec.add(fuzzCall{what: "KVWrite", mount: mount, path: path, data: data, cas: cas})
	return 4, nil
}

func (v *fuzzVault) KVPatch(_ context.Context, _ sensitive.String, mount, path string, data map[string]any, cas *int64) (int64, error) {
	v.rec.add(fuzzCall{what: "KVPatch", mount: mount, path: path, data: data, cas: cas})
	return 4, nil
}

func (v *fuzzVault) KVList(_ context.Context, _ sensitive.String, mount, path string) ([]string, error) {
	v.kv("KVList", mount, path)
	return []string{"app", "db/"}, nil
}

func (v *fuzzVault) KVMetadata(_ context.Context, _ sensitive.String, mount, path string) (*vault.KVMetadata, error) {
	v.kv("KVMetadata", mount, path)
	return &vault.KVMetadata{CurrentVersion: 3, OldestVersion: 1, Versions: []vault.KVVersion{{Version: 3}}}, nil
}

func (v *fuzzVault) versions(what, mount, path string, vs []int64) error {
	v.rec.add(fuzzCall{what: what, mount: mount, path: path, versions: vs})
	return nil
}

func (v *fuzzVault) KVDelete(_ context.Context, _ sensitive.String, mount, path string, vs []int64) error {
	return v.versions("KVDelete", mount, path, vs)
}

func (v *fuzzVault) KVUndelete(_ context.Context, _ sensitive.String, mount, path string, vs []int64) error {
	return v.versions("KVUndelete", mount, path, vs)
}

func (v *fuzzVault) KVDestroy(_ context.Context, _ sensitive.String, mount, path string, vs []int64) error {
	return v.versions("KVDestroy", mount, path, vs)
}

func (v *fuzzVault) TransitEncrypt(_ context.Context, _ sensitive.String, mount, key, _ string) (string, error) {
	v.kv("TransitEncrypt", mount, key)
	return "vault:v1:Y2lwaGVy", nil
}

func (v *fuzzVault) TransitDecrypt(_ context.Context, _ sensitive.String, mount, key, _ string) (string, error) {
	v.kv("TransitDecrypt", mount, key)
	return "aGVsbG8=", nil
}

func (v *fuzzVault) TransitRewrap(_ context.Context, _ sensitive.String, mount, key, _ string) (string, error) {
	v.kv("TransitRewrap", mount, key)
	return "vault:v2:Y2lwaGVy", nil
}

func (v *fuzzVault) TransitSign(_ context.Context, _ sensitive.String, mount, key, _ string) (string, error) {
	v.kv("TransitSign", mount, key)
	return "vault:v1:c2ln", nil
}

func (v *fuzzVault) TransitVerify(_ context.Context, _ sensitive.String, mount, key, _, _ string) (bool, error) {
	v.kv("TransitVerify", mount, key)
	return true, nil
}

// fuzzRunner records the command instead of running it.
type fuzzRunner struct{ rec *fuzzRecorder }

func (r *fuzzRunner) Run(_ context.Context, command string, _ []string, env map[string]secretuse.Secret) (execsecret.Result, error) {
	r.rec.add(fuzzCall{what: "Run", path: command, env: env})
	return execsecret.Result{Stdout: "ok"}, nil
}

// fuzzEgress decides with the real allowlist and, instead of sending,
// answers with an echo of everything it was given, secrets included:
// the tool must redact every one of them.
type fuzzEgress struct {
	rec  *fuzzRecorder
	real *egress.Client
}

func newFuzzEgress(t testing.TB, rec *fuzzRecorder) *fuzzEgress {
	c, err := egress.New(egress.Options{Destinations: []egress.Destination{
		{URL: "https://api.example.com/v1/", Methods: []string{"GET", "POST", "PUT"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return &fuzzEgress{rec: rec, real: c}
}

func (e *fuzzEgress) Allows(agent string) bool { return e.real.Allows(agent) }

func (e *fuzzEgress) Check(agent string, r egress.Request) error { return e.real.Check(agent, r) }

func (e *fuzzEgress) Do(_ context.Context, agent string, r egress.Request) (*egress.Response, error) {
	e.rec.add(fuzzCall{what: "Do", path: r.URL, request: r, err: e.real.Check(agent, r)})
	echo := r.URL + "\n" + string(r.Body)
	h := http.Header{}
	for name, v := range r.Header {
		echo += "\n" + name + ": " + v[0]
		h.Set("X-Echo-"+name, v[0])
	}
	return &egress.Response{Status: 200, Header: h, Body: []byte(echo)}, nil
}
