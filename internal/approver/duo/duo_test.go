package duo_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/duo"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/duo/duotest"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// humans maps agents to the Duo users who approve for them.
var humans = map[access.Principal]string{"ci": "alice", "web": "bob"}

func options(srv *duotest.Server) duo.Options {
	return duo.Options{
		Host:           srv.Host,
		IntegrationKey: srv.IKey,
		SecretKey:      sensitive.New(srv.SKey),
		Username:       func(p access.Principal) string { return humans[p] },
		PollEvery:      5 * time.Millisecond,
		RootCAs:        srv.RootCAs,
	}
}

func newApprover(t *testing.T, opts duo.Options) *duo.Approver {
	t.Helper()
	a, err := duo.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func request(p access.Principal, expires time.Duration) access.Request {
	return access.Request{
		ID:        "apr_7f3c",
		Principal: p,
		Tier:      access.Write,
		Scope:     "secret/agent/" + string(p) + "/",
		Paths:     []string{"db/password", "tls/"},
		Reason:    "rotate the database password & restart",
		Trigger:   "write_secret db/password",
		TTL:       15 * time.Minute,
		Expires:   time.Now().Add(expires),
		Digest:    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	}
}

// outcome classifies an Approve result as the access model does.
func outcome(err error) string {
	switch {
	case err == nil:
		return "approved"
	case errors.Is(err, access.ErrDenied):
		return "denied"
	case errors.Is(err, access.ErrApprovalTimeout):
		return "timed out"
	}
	return "failed"
}

func TestApprove(t *testing.T) {
	t.Parallel()
	script := func(a duotest.Answer, after int) duotest.User {
		return duotest.User{Script: duotest.Script{Answer: a, AfterPolls: after}}
	}
	tests := []struct {
		name       string
		user       duotest.User
		principal  access.Principal
		edit       func(*access.Request, *duo.Options)
		want       string
		wantPushes int
		wantInErr  string
	}{
		{name: "ok", user: script(duotest.Allow, 0), want: "approved", wantPushes: 1},
		{name: "ok/after-3-polls", user: script(duotest.Allow, 3), want: "approved", wantPushes: 1},
		{name: "ok/long-reason-cut-to-fit", user: script(duotest.Allow, 0), want: "approved", wantPushes: 1,
			edit: func(r *access.Request, _ *duo.Options) { r.Reason = strings.Repeat("é", 30000) }},
		{name: "fail/denied", user: script(duotest.Deny, 1), want: "denied", wantPushes: 1, wantInErr: `"deny"`},
		{name: "fail/fraud", user: script(duotest.Fraud, 0), want: "denied", wantPushes: 1, wantInErr: `"fraud"`},
		{name: "fail/duo-push-timeout", user: script(duotest.Timeout, 0), want: "timed out", wantPushes: 1},
		{name: "fail/not-enrolled", user: duotest.User{Preauth: "enroll"}, want: "failed", wantInErr: "not enrolled"},
		{name: "fail/locked-out", user: duotest.User{Preauth: "deny"}, want: "failed", wantInErr: "refuses"},
		{name: "fail/bypass-user", user: duotest.User{Preauth: "allow", Script: duotest.Script{Answer: duotest.Allow}}, want: "failed", wantInErr: "bypass"},
		{name: "fail/no-push-device", user: duotest.User{Capabilities: []string{"sms", "phone"}, Script: duotest.Script{Answer: duotest.Allow}},
			want: "failed", wantInErr: "push"},
		{name: "fail/no-duo-user", user: script(duotest.Allow, 0), principal: "stranger", want: "failed", wantInErr: "no Duo user"},
		{name: "fail/expired-before-push", user: script(duotest.Allow, 0), want: "timed out",
			edit: func(_ *access.Request, o *duo.Options) {
				o.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
			}},
		{name: "fail/no-expiry", user: script(duotest.Allow, 0), want: "failed",
			edit: func(r *access.Request, _ *duo.Options) { r.Expires = time.Time{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := duotest.Start(t)
			srv.SetUser("alice", tt.user)
			p := tt.principal
			if p == "" {
				p = "ci"
			}
			req, opts := request(p, time.Hour), options(srv)
			if tt.edit != nil {
				tt.edit(&req, &opts)
			}
			err := newApprover(t, opts).Approve(t.Context(), req)
			if got := outcome(err); got != tt.want {
				t.Fatalf("Approve = %v (%s), want %s", err, got, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("error %q does not say %q", err, tt.wantInErr)
			}
			if n := srv.PushCount(); n != tt.wantPushes {
				t.Errorf("pushes = %d, want %d", n, tt.wantPushes)
			}
		})
	}
}

// TestNeverAnswered: a push nobody answers ends the wait at req.Expires or
// when ctx ends, whichever comes first.
func TestNeverAnswered(t *testing.T) {
	t.Parallel()
	t.Run("fail/expires", func(t *testing.T) {
		t.Parallel()
		srv := duotest.Start(t)
		srv.SetUser("alice", duotest.User{Script: duotest.Script{Answer: duotest.Wait}})
		req := request("ci", 300*time.Millisecond)
		// Bounded, so that ignoring req.Expires fails the test instead of hanging it.
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		err := newApprover(t, options(srv)).Approve(ctx, req)
		if got := outcome(err); got != "timed out" || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("Approve = %v, want a timeout at expiry", err)
		}
		if now := time.Now(); now.Before(req.Expires) {
			t.Errorf("returned %s before req.Expires", req.Expires.Sub(now))
		}
		if p := srv.Pushes(); len(p) != 1 || p[0].Polls == 0 {
			t.Errorf("pushes = %+v, want one, polled", p)
		}
	})
	t.Run("fail/cancelled", func(t *testing.T) {
		t.Parallel()
		srv := duotest.Start(t)
		srv.SetUser("alice", duotest.User{Script: duotest.Script{Answer: duotest.Wait}})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- newApprover(t, options(srv)).Approve(ctx, request("ci", time.Hour)) }()
		waitPending(t, srv, "alice", done)
		cancel()
		err := <-done
		if got := outcome(err); got != "timed out" || !strings.Contains(err.Error(), "cancelled") {
			t.Fatalf("Approve = %v, want a timeout on cancel", err)
		}
	})
}

// waitPending returns once user's push has been polled twice while its
// Approve call, which reports on done, is still waiting.
func waitPending(t *testing.T, srv *duotest.Server, user string, done <-chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	polled := make(chan error, 1)
	go func() { polled <- srv.WaitPolled(ctx, user, 2) }()
	select {
	case err := <-polled:
		if err != nil {
			t.Fatal(err)
		}
	case err := <-done:
		t.Fatalf("Approve = %v before anyone answered", err)
	}
}

// TestCredentials: whatever goes wrong between Gatekeeper and Duo is a
// failed approval, never access, and no push reaches the human.
func TestCredentials(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		edit      func(*duo.Options, *duotest.Server)
		wantInErr string
	}{
		{"fail/wrong-secret", func(o *duo.Options, s *duotest.Server) { o.SecretKey = sensitive.New(s.SKey[:39] + "x") }, "40103"},
		{"fail/wrong-integration-key", func(o *duo.Options, _ *duotest.Server) { o.IntegrationKey = "DI" + strings.Repeat("Z", 18) }, "40102"},
		{"fail/clock-skew", func(_ *duo.Options, s *duotest.Server) {
			s.SetNow(func() time.Time { return time.Now().Add(time.Hour) })
		}, "40105"},
		{"fail/untrusted-certificate", func(o *duo.Options, _ *duotest.Server) { o.RootCAs = nil }, "certificate"},
		{"fail/unreachable", func(_ *duo.Options, s *duotest.Server) { s.Close() }, "connect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := duotest.Start(t)
			srv.SetUser("alice", duotest.User{Script: duotest.Script{Answer: duotest.Allow}})
			opts := options(srv)
			tt.edit(&opts, srv)
			a := newApprover(t, opts)
			err := a.Approve(t.Context(), request("ci", time.Hour))
			if got := outcome(err); got != "failed" {
				t.Fatalf("Approve = %v (%s), want failed", err, got)
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("error %q does not say %q", err, tt.wantInErr)
			}
			if strings.Contains(err.Error(), srv.SKey) || strings.Contains(err.Error(), opts.SecretKey.Reveal()) {
				t.Errorf("error leaks the secret key: %s", err)
			}
			if n := srv.PushCount(); n != 0 {
				t.Errorf("pushes = %d, want 0", n)
			}
			if err := a.Check(t.Context()); err == nil || !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("Check = %v, want an error saying %q", err, tt.wantInErr)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	srv := duotest.Start(t)
	if err := newApprover(t, options(srv)).Check(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestPushShowsRequest: the push carries every field the human must see,
// in Describe's order, with a title naming the tier and the agent.
func TestPushShowsRequest(t *testing.T) {
	t.Parallel()
	srv := duotest.Start(t)
	srv.SetUser("alice", duotest.User{Script: duotest.Script{Answer: duotest.Allow}})
	req := request("ci", time.Hour)
	if err := newApprover(t, options(srv)).Approve(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	pushes := srv.Pushes()
	if len(pushes) != 1 {
		t.Fatalf("pushes = %d, want 1", len(pushes))
	}
	got := pushes[0]
	var shown []approver.Field
	for _, p := range got.PushInfo {
		shown = append(shown, approver.Field{Label: p.Key, Value: p.Value})
	}
	if diff := cmp.Diff(approver.Describe(req), shown); diff != "" {
		t.Errorf("pushinfo mismatch (-want +got):\n%s", diff)
	}
	want := map[string]string{
		"Agent":    "ci",
		"Access":   "write",
		"Paths":    "db/password, tls/ in secret/agent/ci/",
		"Reason":   "rotate the database password & restart",
		"For":      "15m0s",
		"Asked by": "write_secret db/password",
		"Request":  "apr_7f3c",
		"Digest":   "9f86 d081 884c 7d65",
	}
	have := map[string]string{}
	for _, p := range got.PushInfo {
		if _, ok := want[p.Key]; ok {
			have[p.Key] = p.Value
		}
	}
	if diff := cmp.Diff(want, have); diff != "" {
		t.Errorf("shown fields mismatch (-want +got):\n%s", diff)
	}
	head := []string{got.Type, got.Username, got.Factor, got.Device}
	if diff := cmp.Diff([]string{"Gatekeeper: write access for ci", "alice", "push", "auto"}, head); diff != "" {
		t.Errorf("push mismatch (-want +got):\n%s", diff)
	}
	if !got.Async || len(got.RawPushInfo) >= duotest.MaxPushInfo {
		t.Errorf("async = %v, pushinfo %d bytes", got.Async, len(got.RawPushInfo))
	}
}

// TestConcurrentApprovals: while one agent's push waits unanswered, another
// agent's approval goes through.
func TestConcurrentApprovals(t *testing.T) {
	t.Parallel()
	srv := duotest.Start(t)
	srv.SetUser("alice", duotest.User{Script: duotest.Script{Answer: duotest.Wait}})
	srv.SetUser("bob", duotest.User{Script: duotest.Script{Answer: duotest.Allow}})
	a := newApprover(t, options(srv))

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pending := make(chan error, 1)
	go func() { pending <- a.Approve(ctx, request("ci", time.Hour)) }()
	waitPending(t, srv, "alice", pending)

	approved := make(chan error, 1)
	go func() { approved <- a.Approve(ctx, request("web", time.Hour)) }()
	select {
	case err := <-approved:
		if err != nil {
			t.Fatalf("web's approval while ci's push is pending = %v, want approved", err)
		}
	case <-time.After(10 * time.Second):
		// A bound, not a timing assertion: it turns a lock that
		// serialises approvals into a failure instead of a hung test.
		t.Fatal("web's approval is held up by ci's pending push")
	}
	select {
	case err := <-pending:
		t.Fatalf("ci's unanswered approval ended: %v", err)
	default:
	}
	cancel()
	if got := outcome(<-pending); got != "timed out" {
		t.Errorf("ci's approval = %s, want timed out", got)
	}
	users := map[string]int{}
	for _, p := range srv.Pushes() {
		users[p.Username]++
	}
	if diff := cmp.Diff(map[string]int{"alice": 1, "bob": 1}, users); diff != "" {
		t.Errorf("pushes mismatch (-want +got):\n%s", diff)
	}
}

// TestLogs: the secret key never appears, and at info level neither does
// what the push shows (the reason, the paths).
func TestLogs(t *testing.T) {
	t.Parallel()
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		t.Run(level.String(), func(t *testing.T) {
			t.Parallel()
			srv := duotest.Start(t)
			srv.SetUser("alice", duotest.User{Script: duotest.Script{Answer: duotest.Allow}})
			var buf syncBuffer
			opts := options(srv)
			opts.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level}))
			if err := newApprover(t, opts).Approve(t.Context(), request("ci", time.Hour)); err != nil {
				t.Fatal(err)
			}
			opts.SecretKey = sensitive.New(srv.SKey + "wrong")
			if err := newApprover(t, opts).Approve(t.Context(), request("ci", time.Hour)); err == nil {
				t.Fatal("approved with a wrong secret key")
			}
			logs := buf.String()
			if !strings.Contains(logs, "duo push approved") {
				t.Errorf("no approval logged:\n%s", logs)
			}
			if strings.Contains(logs, srv.SKey) {
				t.Errorf("logs leak the secret key:\n%s", logs)
			}
			if level == slog.LevelInfo && (strings.Contains(logs, "rotate") || strings.Contains(logs, "db%2Fpassword")) {
				t.Errorf("info logs show the pushinfo:\n%s", logs)
			}
		})
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestNew(t *testing.T) {
	t.Parallel()
	valid := duo.Options{
		Host: "api-xxxxxxxx.duosecurity.com", IntegrationKey: "DIXXXXXXXXXXXXXXXXXX", SecretKey: sensitive.New("s"),
		Username: func(access.Principal) string { return "alice" },
	}
	tests := []struct {
		name string
		edit func(*duo.Options)
		want []string // every problem, reported at once
	}{
		{"ok", func(*duo.Options) {}, nil},
		{"fail/empty", func(o *duo.Options) { *o = duo.Options{} }, []string{"Host", "IntegrationKey", "SecretKey", "Username"}},
		{"fail/url-as-host", func(o *duo.Options) { o.Host = "https://api-xxxxxxxx.duosecurity.com" }, []string{"host"}},
		{"fail/negative-poll", func(o *duo.Options) { o.PollEvery = -time.Second }, []string{"PollEvery"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := valid
			tt.edit(&opts)
			_, err := duo.New(opts)
			if (err == nil) != (tt.want == nil) {
				t.Fatalf("New = %v, want problems %v", err, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
}

// TestApproveLongPolls: the first auth_status call goes out at once and Duo
// (the fake, as Duo does) holds it until the human answers, so the answer
// ends the approval without waiting for a poll interval.
func TestApproveLongPolls(t *testing.T) {
	t.Parallel()
	srv := duotest.Start(t)
	srv.Hold = time.Minute
	const tap = time.Second // the human answers this long after the push
	srv.SetUser("alice", duotest.User{Script: duotest.Script{Answer: duotest.Allow, Delay: tap}})
	opts := options(srv)
	opts.PollEvery = 0 // the default
	if err := newApprover(t, opts).Approve(t.Context(), request("ci", time.Minute)); err != nil {
		t.Fatalf("Approve() = %v", err)
	}
	p := srv.Pushes()
	if len(p) != 1 || len(p[0].PolledAt) != 1 || p[0].PolledAt[0] >= tap {
		t.Fatalf("status calls after the push: %+v; want one, made before the human answered", p)
	}
}
