package mcptools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// These tests cover the adapter alone: the access model and Vault are
// stubbed, since their real behaviour is tested in their own packages and
// end to end in cmd/gatekeeper.

type stubAccess struct {
	Access
	authenticate func(ctx context.Context) (access.Status, error)
	readErr      error
}

func (s *stubAccess) Authenticate(ctx context.Context, _ access.Principal, _ sensitive.String) (access.Status, error) {
	return s.authenticate(ctx)
}

func (s *stubAccess) ForRead(context.Context, access.Principal, string) (*access.Grant, error) {
	if s.readErr != nil {
		return nil, s.readErr
	}
	return &access.Grant{Tier: access.Read}, nil
}

func (s *stubAccess) Status(p access.Principal) access.Status { return access.Status{Principal: p} }

type stubKV struct {
	Vault
	reads, writes []string
}

func (s *stubKV) KVReadVersion(_ context.Context, _ sensitive.String, mount, path string, _ int64) (*vault.KVSecret, error) {
	s.reads = append(s.reads, mount+"/"+path)
	return &vault.KVSecret{Data: map[string]any{"k": "v"}, Version: 3}, nil
}

type recorder struct {
	mu  sync.Mutex
	all []audit.Event
	// fail names the events that cannot be recorded.
	fail string
}

func (r *recorder) Record(_ context.Context, e audit.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Event == r.fail {
		return audit.ErrUnavailable
	}
	r.all = append(r.all, e)
	return nil
}

func connect(t *testing.T, acc Access, kv Vault, rec Recorder, copts *mcp.ClientOptions) *mcp.ClientSession {
	return connectVersion(t, acc, kv, rec, copts, "")
}

// connectVersion connects with a protocol version ("" for the SDK's newest).
func connectVersion(t *testing.T, acc Access, kv Vault, rec Recorder, copts *mcp.ClientOptions, version string) *mcp.ClientSession {
	t.Helper()
	return connectWith(t, Options{Access: acc, Vault: kv, Audit: rec}, copts, version)
}

// connectWith registers the tools with opts (test defaults for what it
// leaves empty) and connects a client.
func connectWith(t testing.TB, opts Options, copts *mcp.ClientOptions, version string) *mcp.ClientSession {
	t.Helper()
	opts.KVMount, opts.TransitMount, opts.ProgressEvery = "secret", "transit", 5*time.Millisecond
	opts.KeyName = func(_ access.Principal, k string) string { return "p." + k }
	opts.Folder = func(access.Principal) string { return "agent" }
	opts.Caller = func(context.Context, *mcp.CallToolRequest) (Caller, error) { return Caller{Principal: "p"}, nil }
	s := mcp.NewServer(&mcp.Implementation{Name: "gatekeeper", Version: "test"}, nil)
	Register(s, opts)
	st, ct := mcp.NewInMemoryTransports()
	ss, err := s.Connect(t.Context(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ss.Close() })
	var sopts *mcp.ClientSessionOptions
	if version != "" {
		sopts = &mcp.ClientSessionOptions{ProtocolVersion: version}
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, copts).Connect(t.Context(), ct, sopts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func TestProgressWhileApprovalPending(t *testing.T) {
	progressed := make(chan struct{})
	var once sync.Once
	acc := &stubAccess{authenticate: func(ctx context.Context) (access.Status, error) {
		select { // the human approves only once the client has seen progress
		case <-progressed:
			return access.Status{Tier: access.Read}, nil
		case <-ctx.Done():
			return access.Status{}, ctx.Err()
		}
	}}
	var messages []string
	var mu sync.Mutex
	cs := connect(t, acc, &stubKV{}, &recorder{}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			mu.Lock()
			messages = append(messages, req.Params.Message)
			mu.Unlock()
			once.Do(func() { close(progressed) })
		},
	})
	params := &mcp.CallToolParams{Name: "authenticate", Arguments: map[string]any{}}
	params.SetProgressToken("tok-1")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, params)
	if err != nil || res.IsError {
		t.Fatalf("authenticate: %v %+v", err, res)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(messages) == 0 || !strings.Contains(messages[0], "waiting for the human to approve read access") {
		t.Errorf("progress messages = %q", messages)
	}
}

func TestErrorsBecomeActionableMessages(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		want    string
		outcome audit.Outcome
	}{
		{"passcode-refused", access.ErrPasscodeRefused, "does not take approval codes from you", audit.Refused},
		{"passcode-required", access.ErrPasscodeRequired, "only on its approval page", audit.Failed},
		{"wrong-code", fmt.Errorf("%w: %w", access.ErrDenied, access.ErrWrongPasscode), "code was not accepted", audit.Denied},
		{"denied", access.ErrDenied, "denied", audit.Denied},
		{"operator-denied", fmt.Errorf("%w: %w", access.ErrOperatorDenied, access.ErrDenied), "An operator denied the approval", audit.Denied},
		{"timeout", access.ErrApprovalTimeout, "Nobody approved in time", audit.TimedOut},
		{"spent", access.ErrNotAuthenticated, "Call authenticate", audit.Refused},
		{"hidden-text", fmt.Errorf("%w: reason has U+202E at byte 10; use plain text", access.ErrHiddenText), "reason has U+202E at byte 10", audit.Refused},
		{"sealed", &vault.Error{Kind: vault.ErrSealed, Op: "reading", Path: "secret/data/gatekeeper/tier/read"}, "Vault is sealed", audit.Failed},
		{"unknown", errors.New("internal: secret/data/gatekeeper/tier/read exploded"), "could not complete", audit.Failed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			kv := &stubKV{}
			cs := connect(t, &stubAccess{readErr: tc.err}, kv, rec, nil)
			res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "read_secret", Arguments: map[string]any{"path": "db"}})
			if err != nil {
				t.Fatal(err)
			}
			text := res.Content[0].(*mcp.TextContent).Text
			if !res.IsError || !strings.Contains(text, tc.want) || !strings.Contains(text, "(ref ") {
				t.Fatalf("result %v %q, want an error containing %q and a ref", res.IsError, text, tc.want)
			}
			if strings.Contains(text, "gatekeeper/tier") {
				t.Errorf("message leaks internal paths: %q", text)
			}
			if len(kv.reads) != 0 {
				t.Errorf("Vault was asked although access failed: %v", kv.reads)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.all) != 1 || rec.all[0].Outcome != tc.outcome || rec.all[0].Path != "db" || rec.all[0].CorrelationID == "" {
				t.Fatalf("audit = %+v, want one tool.call with outcome %s", rec.all, tc.outcome)
			}
			if !strings.Contains(text, rec.all[0].CorrelationID) {
				t.Errorf("message %q does not carry the audit correlation id %s", text, rec.all[0].CorrelationID)
			}
		})
	}
}

func TestReadResolvesUnderPrefix(t *testing.T) {
	kv := &stubKV{}
	cs := connect(t, &stubAccess{}, kv, &recorder{}, nil)
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "read_secret", Arguments: map[string]any{"path": "db/pg"}})
	if err != nil || res.IsError {
		t.Fatalf("read: %v %+v", err, res)
	}
	if len(kv.reads) != 1 || kv.reads[0] != "secret/agent/db/pg" {
		t.Errorf("reads = %v", kv.reads)
	}
}

func TestAllowed(t *testing.T) {
	all := []string{"authenticate", "escalate", "read_secret", "write_secret", "list_secrets", "token_status", "release", "logout"}
	tests := []struct {
		scopes []string
		want   []string
	}{
		{nil, nil},
		{[]string{"transit-admin", "bogus"}, nil},
		{[]string{"read"}, []string{"authenticate", "read_secret", "token_status", "logout"}},
		{[]string{"list"}, []string{"authenticate", "list_secrets", "token_status", "logout"}},
		{[]string{"read", "list", "write"}, all},
	}
	for _, tc := range tests {
		var got []string
		for _, tool := range all {
			if Allowed(tool, tc.scopes) {
				got = append(got, tool)
			}
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("scopes %v (-want +got):\n%s", tc.scopes, diff)
		}
	}
	if Allowed("no_such_tool", []string{"read", "list", "write"}) {
		t.Error("an unknown tool is allowed")
	}
}

func TestScopesCheckedOnEveryCall(t *testing.T) {
	// A server that lists read_secret, reached by a caller whose credential
	// only has list (for example a session opened with a broader key).
	s := mcp.NewServer(&mcp.Implementation{Name: "gatekeeper", Version: "test"}, nil)
	kv := &stubKV{}
	Register(s, Options{
		Access: &stubAccess{}, Vault: kv, KVMount: "secret", TransitMount: "transit",
		KeyName: func(_ access.Principal, k string) string { return "p." + k },
		Folder:  func(access.Principal) string { return "agent" },
		Caller: func(context.Context, *mcp.CallToolRequest) (Caller, error) {
			return Caller{Principal: "p", Scopes: []string{"list"}}, nil
		},
	})
	st, ct := mcp.NewInMemoryTransports()
	ss, err := s.Connect(t.Context(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil).Connect(t.Context(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "read_secret", Arguments: map[string]any{"path": "db"}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, `needs the "read" scope`) {
		t.Fatalf("read_secret without the read scope: %+v", res)
	}
	if len(kv.reads) != 0 {
		t.Errorf("Vault was read: %v", kv.reads)
	}
}

func TestRateLimitSaysWhenToRetry(t *testing.T) {
	s := mcp.NewServer(&mcp.Implementation{Name: "gatekeeper", Version: "test"}, nil)
	Register(s, Options{
		Access: &stubAccess{}, Vault: &stubKV{}, KVMount: "secret", TransitMount: "transit",
		KeyName: func(_ access.Principal, k string) string { return "p." + k },
		Folder:  func(access.Principal) string { return "agent" },
		Caller:  func(context.Context, *mcp.CallToolRequest) (Caller, error) { return Caller{Principal: "p"}, nil },
		Limit:   func(access.Principal) (time.Duration, bool) { return 1500 * time.Millisecond, false },
	})
	st, ct := mcp.NewInMemoryTransports()
	ss, _ := s.Connect(t.Context(), st, nil)
	defer ss.Close()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil).Connect(t.Context(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "token_status", Arguments: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	if text := res.Content[0].(*mcp.TextContent).Text; !res.IsError || !strings.Contains(text, "Retry after 2 seconds") {
		t.Fatalf("rate-limited call: %q", text)
	}
}

// TestApprovalLinkOfferedAsURLElicitation: an approver that has a link (the
// passkey page) offers it to a client that supports URL elicitation (on the
// session-based protocol, where the server may send requests).
func TestApprovalLinkOfferedAsURLElicitation(t *testing.T) {
	got := make(chan *mcp.ElicitParams, 1)
	acc := &stubAccess{authenticate: func(ctx context.Context) (access.Status, error) {
		approver.ShowLink(ctx, approver.Link{URL: "http://localhost:8444/approve/apr_1", Answer: true}, access.Request{
			ID: "apr_1", Principal: "p", Tier: access.Read, Reason: "session access\u202e", Expires: time.Now().Add(time.Minute),
		})
		select {
		case <-time.After(10 * time.Second):
		case p := <-got:
			got <- p
		}
		return access.Status{Tier: access.Read}, nil
	}}
	cs := connectVersion(t, acc, &stubKV{}, &recorder{}, &mcp.ClientOptions{
		Capabilities: &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{URL: &mcp.URLElicitationCapabilities{}}},
		ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			got <- req.Params
			return &mcp.ElicitResult{Action: "accept"}, nil
		},
	}, "2025-11-25")
	if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "authenticate", Arguments: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p.Mode != "url" || p.URL != "http://localhost:8444/approve/apr_1" || p.ElicitationID != "apr_1" || !strings.Contains(p.Message, `session access\u202E`) || strings.ContainsRune(p.Message, '\u202e') {
			t.Errorf("elicitation = %+v", p)
		}
	default:
		t.Fatal("no elicitation reached the client")
	}
}

// TestApprovalLinkCompletes: once the approval is over, a client that
// opened the page hears that the elicitation is complete.
func TestApprovalLinkCompletes(t *testing.T) {
	completed := make(chan string, 1)
	acc := &stubAccess{authenticate: func(ctx context.Context) (access.Status, error) {
		lctx, end := context.WithCancel(ctx)
		approver.ShowLink(lctx, approver.Link{URL: "http://localhost:8444/approve/tok", Answer: true}, access.Request{
			ID: "apr_2", Principal: "p", Tier: access.Read, Expires: time.Now().Add(time.Minute),
		})
		end() // the human answered; the page is closed
		return access.Status{Tier: access.Read}, nil
	}}
	cs := connectVersion(t, acc, &stubKV{}, &recorder{}, &mcp.ClientOptions{
		Capabilities: &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{URL: &mcp.URLElicitationCapabilities{}}},
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept"}, nil
		},
		ElicitationCompleteHandler: func(_ context.Context, req *mcp.ElicitationCompleteNotificationRequest) {
			completed <- req.Params.ElicitationID
		},
	}, "2025-11-25")
	if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "authenticate", Arguments: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-completed:
		if id != "apr_2" {
			t.Errorf("completed elicitation %q, want apr_2", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no elicitation/complete reached the client")
	}
}

// TestApprovalLinkRelayed: a client that cannot show the link (no URL
// elicitation, or it declines) gets it in the tool result for the agent
// to pass on, at once; the approval goes on without the call. The link
// stays out of the audit trail and the debug log.
func TestApprovalLinkRelayed(t *testing.T) {
	const link = "http://localhost:8444/approve/Zm9vYmFyLWxpbmstdG9rZW4tZm9yLXRlc3RzLW9ubHk"
	for _, tc := range []struct {
		name  string
		copts *mcp.ClientOptions
		tier  access.Tier
		want  string
	}{
		{"ok/no-elicitation", nil, access.Read, "call authenticate"},
		{"ok/declined", &mcp.ClientOptions{
			Capabilities: &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{URL: &mcp.URLElicitationCapabilities{}}},
			ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
				return &mcp.ElicitResult{Action: "decline"}, nil
			},
		}, access.Read, "call authenticate"},
		{"ok/write", nil, access.Write, "call escalate again with the same reason"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			approvalGoesOn := make(chan struct{})
			acc := &stubAccess{authenticate: func(ctx context.Context) (access.Status, error) {
				lctx := context.WithoutCancel(ctx) // the approval outlives the call
				approver.ShowLink(lctx, approver.Link{URL: link, Answer: true}, access.Request{ID: "apr_3", Principal: "p", Tier: tc.tier, Expires: time.Now().Add(time.Minute)})
				<-ctx.Done() // the call stops waiting
				close(approvalGoesOn)
				return access.Status{}, ctx.Err()
			}}
			rec := &recorder{}
			logs := &lockedWriter{}
			cs := connectWith(t, Options{Access: acc, Vault: &stubKV{}, Audit: rec, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}, tc.copts, "2025-11-25")
			res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "authenticate", Arguments: map[string]any{}})
			if err != nil {
				t.Fatal(err)
			}
			text := res.Content[0].(*mcp.TextContent).Text
			if !res.IsError || !strings.Contains(text, link) || !strings.Contains(text, tc.want) || !strings.Contains(text, "never ask them for a code") {
				t.Fatalf("result %v %q, want the link and what to call next", res.IsError, text)
			}
			<-approvalGoesOn
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for _, e := range rec.all {
				if strings.Contains(e.Detail, "Zm9vYmFy") {
					t.Errorf("the audit trail holds the link: %+v", e)
				}
			}
			if log := logs.String(); strings.Contains(log, "Zm9vYmFy") {
				t.Errorf("the debug log holds the link:\n%s", log)
			}
		})
	}
}

type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (s *stubAccess) ForWrite(access.Principal, string) (*access.Grant, error) {
	return &access.Grant{Tier: access.Write, Accessor: "acc-w", ApprovalID: "apr_w"}, nil
}

func (s *stubKV) KVWriteCAS(_ context.Context, _ sensitive.String, mount, path string, _ map[string]any, _ *int64) (int64, error) {
	s.writes = append(s.writes, mount+"/"+path)
	return 4, nil
}

// A call whose audit record cannot be written gives the agent nothing: a
// read reveals no value, and a write is not attempted at all.
func TestUnrecordedCallsDoNothing(t *testing.T) {
	tests := []struct {
		name, fail, tool string
		args             map[string]any
		reads, writes    int
	}{
		{"fail/read", audit.ToolCall, "read_secret", map[string]any{"path": "db"}, 1, 0},
		{"fail/write-intent", audit.ToolRequest, "write_secret", map[string]any{"path": "db", "data": map[string]any{"k": "v"}}, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kv := &stubKV{}
			cs := connect(t, &stubAccess{}, kv, &recorder{fail: tc.fail}, nil)
			res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tc.tool, Arguments: tc.args})
			if err != nil {
				t.Fatal(err)
			}
			text := res.Content[0].(*mcp.TextContent).Text
			if !res.IsError || !strings.Contains(text, "cannot write its audit log") || res.StructuredContent != nil {
				t.Fatalf("result %v %q %v, want an audit error and no content", res.IsError, text, res.StructuredContent)
			}
			if strings.Contains(text, `"v"`) {
				t.Errorf("the value reached the agent: %q", text)
			}
			if len(kv.reads) != tc.reads || len(kv.writes) != tc.writes {
				t.Errorf("vault reads %v writes %v, want %d and %d", kv.reads, kv.writes, tc.reads, tc.writes)
			}
		})
	}
}

func TestWriteIsRecordedBeforeItHappens(t *testing.T) {
	rec := &recorder{}
	cs := connect(t, &stubAccess{}, &stubKV{}, rec, nil)
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "write_secret", Arguments: map[string]any{"path": "db", "data": map[string]any{"k": "v"}}})
	if err != nil || res.IsError {
		t.Fatalf("write: %v %+v", err, res)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var got []string
	for _, e := range rec.all {
		got = append(got, e.Event+" "+e.Tier+" "+e.Accessor+" "+e.Path)
	}
	want := []string{"tool.request write acc-w db", "tool.call write acc-w db"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
}

func TestEachCallIsASpan(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	cs := connectWith(t, Options{Access: &stubAccess{readErr: access.ErrDenied}, Vault: &stubKV{}, Audit: &recorder{}, Tracer: tp.Tracer("test")}, nil, "")
	if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "read_secret", Arguments: map[string]any{"path": "db"}}); err != nil {
		t.Fatal(err)
	}
	ended := spans.Ended()
	if len(ended) != 1 || ended[0].Name() != "tool read_secret" || ended[0].Status().Code != codes.Error {
		t.Fatalf("spans = %v, want one failed tool span", ended)
	}
	got := map[string]string{}
	for _, a := range ended[0].Attributes() {
		got[string(a.Key)] = a.Value.AsString()
	}
	if got["gatekeeper.outcome"] != "denied" || got["gatekeeper.principal"] != "p" || got["gatekeeper.path"] != "db" || got["gatekeeper.correlation_id"] == "" {
		t.Errorf("span attributes = %v", got)
	}
}

// TestPushLinkNotRelayed: a page that only shows a push's request (the
// human answers on their phone) is not relayed: the call waits for the
// push and succeeds.
func TestPushLinkNotRelayed(t *testing.T) {
	acc := &stubAccess{authenticate: func(ctx context.Context) (access.Status, error) {
		approver.ShowLink(ctx, approver.Link{URL: "http://localhost:8444/approve/push", Answer: false}, access.Request{
			ID: "apr_4", Principal: "p", Tier: access.Read, Expires: time.Now().Add(time.Minute),
		})
		select {
		case <-ctx.Done():
			return access.Status{}, ctx.Err()
		case <-time.After(200 * time.Millisecond): // the human approves the push
			return access.Status{Tier: access.Read}, nil
		}
	}}
	cs := connect(t, acc, &stubKV{}, &recorder{}, nil)
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "authenticate", Arguments: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError {
		t.Fatalf("authenticate with a push: %q, want it to wait for the push", res.Content[0].(*mcp.TextContent).Text)
	}
}

// treeKV lists a tree of folders: every folder holds width subfolders, down
// to depth levels, and counts the lists.
type treeKV struct {
	stubKV
	width, depth int
	mu           sync.Mutex
	lists        int
}

func (k *treeKV) KVList(_ context.Context, _ sensitive.String, _, path string) ([]string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.lists++
	if strings.Count(path, "/") >= k.depth {
		return []string{"leaf"}, nil
	}
	var keys []string
	for i := range k.width {
		keys = append(keys, fmt.Sprintf("d%d/", i))
	}
	return keys, nil
}

// TestRecursiveListIsChargedPerVaultCall: every folder a recursive
// list_secrets lists counts against the caller's rate limit, so one call
// cannot make more Vault calls than the agent may make tool calls.
func TestRecursiveListIsChargedPerVaultCall(t *testing.T) {
	kv := &treeKV{width: 4, depth: 4}
	var mu sync.Mutex
	tokens := 10 // what the agent may still spend
	limit := func(access.Principal) (time.Duration, bool) {
		mu.Lock()
		defer mu.Unlock()
		if tokens == 0 {
			return time.Second, false
		}
		tokens--
		return 0, true
	}
	cs := connectWith(t, Options{Access: &stubAccess{}, Vault: kv, Audit: &recorder{}, Limit: limit}, nil, "")
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "list_secrets", Arguments: map[string]any{"path": "", "recursive": true}})
	if err != nil || res.IsError {
		t.Fatalf("list_secrets = %+v, %v", res, err)
	}
	var out ListOut
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if kv.lists != 10 || !out.Truncated || !out.RateLimited {
		t.Errorf("Vault lists = %d, truncated %v, rate_limited %v; want 10 (the tokens the agent had), true, true", kv.lists, out.Truncated, out.RateLimited)
	}
	if len(out.Keys) == 0 || out.Keys[0] != "d0/" {
		t.Errorf("keys = %v, want the shallow entries first", out.Keys)
	}
}
