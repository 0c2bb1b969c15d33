package vaultmfa_test

import (
	"errors"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/page"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/page/pagetest"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/vaultmfa"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

type fixture struct {
	vc    *vault.Client
	root  sensitive.String
	res   *setup.Result
	auth  *vaulttest.Authenticator
	ap    *vaultmfa.Approver
	links chan string // every approval page opened
	human pagetest.Human
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := vaulttest.Start(t)
	f := &fixture{vc: vaulttest.Client(t, srv), root: vaulttest.Root(srv), links: make(chan string, 16)}
	f.res = vaulttest.SetUp(t, srv, vaulttest.DefaultLayout)
	f.auth = vaulttest.NewAuthenticator(t, f.res.TOTPURL)
	// The approval page, on a loopback listener.
	web := httptest.NewUnstartedServer(nil)
	pages, err := page.New(page.Options{
		BaseURL:  "http://" + web.Listener.Addr().String(),
		Announce: func(link string, _ access.Request) { f.links <- link },
	})
	if err != nil {
		t.Fatal(err)
	}
	web.Config.Handler = pages.Handler()
	web.Start()
	t.Cleanup(web.Close)
	ap, err := vaultmfa.New(vaultmfa.Options{
		Vault: f.vc, Bootstrap: func() sensitive.String { return f.res.BootstrapToken }, Pages: pages, KVMount: "secret",
		Account: func(_ access.Principal, t access.Tier) string { return setup.Agent("").AccountPath(t) },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.ap = ap
	return f
}

// req is a request as the access model makes it; code is the agent's
// passcode (the operator's fallback), "" for none: the human answers on
// the page.
func req(tier access.Tier, ttl time.Duration, code string) access.Request {
	return access.Request{
		ID: "apr_" + strconv.FormatInt(time.Now().UnixNano(), 16), Principal: "p", Tier: tier, TTL: ttl,
		Expires: time.Now().Add(time.Minute), Digest: strings.Repeat("d", 64), Passcode: sensitive.New(code),
	}
}

// issue runs Issue in the background and returns its page's link.
func (f *fixture) issue(t *testing.T, r access.Request, held sensitive.String) (string, chan issued) {
	t.Helper()
	done := make(chan issued, 1)
	go func() {
		got, err := f.ap.Issue(t.Context(), r, held)
		done <- issued{got, err}
	}()
	select {
	case link := <-f.links:
		return link, done
	case res := <-done:
		t.Fatalf("Issue returned before opening its page: %v", res.err)
	case <-time.After(30 * time.Second):
		t.Fatal("Issue opened no page")
	}
	return "", nil
}

type issued struct {
	access.Issued
	err error
}

func (f *fixture) result(t *testing.T, done chan issued) issued {
	t.Helper()
	select {
	case res := <-done:
		return res
	case <-time.After(time.Minute):
		t.Fatal("Issue did not return")
	}
	return issued{}
}

func TestIssueReadThenWrite(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	read, err := f.ap.Issue(ctx, req(access.Read, 4*time.Hour, f.auth.Code(t)), sensitive.String{})
	if err != nil {
		t.Fatal(err)
	}
	if read.TTL <= 0 || read.TTL > 4*time.Hour || read.Accessor == "" {
		t.Fatalf("read issued = TTL %s accessor %q", read.TTL, read.Accessor)
	}
	info, err := f.vc.LookupSelf(ctx, read.Token)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"gatekeeper-read"}, info.Policies); diff != "" {
		t.Errorf("read token policies (-want +got):\n%s", diff)
	}

	// Write is earned from read: without the read token it cannot start.
	if _, err := f.ap.Issue(ctx, req(access.Write, 15*time.Minute, f.auth.Code(t)), f.res.BootstrapToken); !errors.Is(err, vault.ErrPermissionDenied) {
		t.Fatalf("write approval with the bootstrap token = %v, want permission denied", err)
	}
	write, err := f.ap.Issue(ctx, req(access.Write, 15*time.Minute, f.auth.Code(t)), read.Token)
	if err != nil {
		t.Fatal(err)
	}
	if write.TTL <= 0 || write.TTL > 15*time.Minute {
		t.Errorf("write TTL = %s", write.TTL)
	}

	if err := f.ap.Check(ctx, write.Token); err != nil {
		t.Errorf("Check(live) = %v", err)
	}
	if err := f.ap.Revoke(ctx, write.Token); err != nil {
		t.Fatal(err)
	}
	if err := f.ap.Check(ctx, write.Token); !errors.Is(err, access.ErrTokenInvalid) {
		t.Errorf("Check(revoked) = %v, want ErrTokenInvalid", err)
	}
	if err := f.ap.Revoke(ctx, write.Token); err != nil {
		t.Errorf("revoking twice = %v, want nil (already gone)", err)
	}
}

func TestTokenCutToShorterGrant(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	got, err := f.ap.Issue(t.Context(), req(access.Read, 90*time.Second, f.auth.Code(t)), sensitive.String{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := f.vc.LookupSelf(t.Context(), got.Token)
	if err != nil {
		t.Fatal(err)
	}
	if got.TTL > 90*time.Second || info.TTL > 90*time.Second || info.TTL <= 0 {
		t.Errorf("issued TTL %s, Vault's TTL %s; want both at most the 90s grant", got.TTL, info.TTL)
	}
}

func TestFailuresIssueNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct {
		name string
		code string
		want error
	}{
		{"fail/wrong-passcode", f.auth.Wrong(t), access.ErrDenied},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.ap.Issue(t.Context(), req(access.Read, time.Hour, tc.code), sensitive.String{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Issue() = %v, want %v", err, tc.want)
			}
			if !got.Token.IsZero() {
				t.Error("a failed approval returned a token")
			}
		})
	}
	t.Run("fail/reused-passcode", func(t *testing.T) {
		code := f.auth.Code(t)
		if _, err := f.ap.Issue(t.Context(), req(access.Read, time.Hour, code), sensitive.String{}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.ap.Issue(t.Context(), req(access.Read, time.Hour, code), sensitive.String{}); !errors.Is(err, access.ErrDenied) {
			t.Fatalf("second use of a code = %v, want ErrDenied", err)
		}
	})
	t.Run("fail/bootstrap-revoked", func(t *testing.T) {
		if err := f.vc.RevokeSelf(t.Context(), f.res.BootstrapToken); err != nil {
			t.Fatal(err)
		}
		if _, err := f.ap.Issue(t.Context(), req(access.Read, time.Hour, f.auth.Code(t)), sensitive.String{}); !errors.Is(err, access.ErrBrokerCredential) {
			t.Fatalf("Issue() = %v, want ErrBrokerCredential", err)
		}
	})
}

func TestAccountWithoutMFAIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if err := f.vc.Delete(t.Context(), f.root, "identity/mfa/login-enforcement/gatekeeper"); err != nil {
		t.Fatal(err)
	}
	_, err := f.ap.Issue(t.Context(), req(access.Read, time.Hour, ""), sensitive.String{})
	if !errors.Is(err, access.ErrMisconfigured) {
		t.Fatalf("Issue() without login MFA = %v, want ErrMisconfigured", err)
	}
	// The token Vault handed out without a second factor was given back.
	s, err := f.vc.List(t.Context(), f.root, "auth/token/accessors")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range s.Data["keys"].([]any) {
		info, err := f.vc.Write(t.Context(), f.root, "auth/token/lookup-accessor", map[string]any{"accessor": a})
		if err != nil {
			t.Fatal(err)
		}
		if pols, _ := info.Data["policies"].([]any); len(pols) == 1 && pols[0] == "gatekeeper-read" {
			t.Fatal("a read token issued without MFA is still valid")
		}
	}
}

// TestIssueOnThePage is the default: Issue opens the request's page, the
// human types a wrong code there and then the right one, and Vault's login
// MFA completes with it. Write follows from read the same way.
func TestIssueOnThePage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	link, done := f.issue(t, req(access.Read, time.Hour, ""), sensitive.String{})
	if state := f.human.Code(t, link, f.auth.Wrong(t)); state != "pending" {
		t.Fatalf("after a wrong code the page is %q, want it to ask again", state)
	}
	if _, body := f.human.Page(t, link); !strings.Contains(body, "did not accept") {
		t.Errorf("the page does not say the code was refused:\n%s", body)
	}
	if state := f.human.Code(t, link, f.auth.Code(t)); state != "approved" {
		t.Fatalf("after the right code the page is %q", state)
	}
	read := f.result(t, done)
	if read.err != nil || read.TTL <= 0 || read.TTL > time.Hour {
		t.Fatalf("read issued on the page: TTL %s, %v", read.TTL, read.err)
	}
	link, done = f.issue(t, req(access.Write, 15*time.Minute, ""), read.Token)
	f.human.Code(t, link, f.auth.Code(t))
	if write := f.result(t, done); write.err != nil || write.Token.IsZero() {
		t.Fatalf("write issued on the page: %v", write.err)
	}
}

// TestPageDenyAndTimeout: a Deny on the page is a denial (which starts the
// cool-down), and a request nobody answers times out; neither issues a
// token.
func TestPageDenyAndTimeout(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	link, done := f.issue(t, req(access.Read, time.Hour, ""), sensitive.String{})
	f.human.Deny(t, link)
	res := f.result(t, done)
	if !errors.Is(res.err, access.ErrDenied) || errors.Is(res.err, access.ErrWrongPasscode) || !res.Token.IsZero() {
		t.Fatalf("Issue after Deny = %v (token issued: %v), want a denial", res.err, !res.Token.IsZero())
	}

	r := req(access.Read, time.Hour, "")
	r.Expires = time.Now().Add(time.Second)
	link, done = f.issue(t, r, sensitive.String{})
	res = f.result(t, done)
	if !errors.Is(res.err, access.ErrApprovalTimeout) || !res.Token.IsZero() {
		t.Fatalf("Issue nobody answered = %v", res.err)
	}
	if state, _ := f.human.Page(t, link); state != "expired" {
		t.Errorf("page of the unanswered request: %q", state)
	}
}

// TestThreeWrongCodes: the page takes a few codes, then the approval ends
// as a wrong-passcode denial (no cool-down) with nothing issued.
func TestThreeWrongCodes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	link, done := f.issue(t, req(access.Read, time.Hour, ""), sensitive.String{})
	for range 3 {
		f.human.Code(t, link, f.auth.Wrong(t))
	}
	res := f.result(t, done)
	if !errors.Is(res.err, access.ErrWrongPasscode) || !res.Token.IsZero() {
		t.Fatalf("Issue after three wrong codes = %v", res.err)
	}
}
