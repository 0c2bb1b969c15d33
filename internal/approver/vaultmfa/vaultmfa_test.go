package vaultmfa_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/vaultmfa"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

type fixture struct {
	vc   *vault.Client
	root sensitive.String
	res  *setup.Result
	auth *vaulttest.Authenticator
	ap   *vaultmfa.Approver
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := vaulttest.Start(t)
	f := &fixture{vc: vaulttest.Client(t, srv), root: vaulttest.Root(srv)}
	f.res = vaulttest.SetUp(t, srv, vaulttest.DefaultLayout)
	f.auth = vaulttest.NewAuthenticator(t, f.res.TOTPURL)
	ap, err := vaultmfa.New(vaultmfa.Options{
		Vault: f.vc, Bootstrap: f.res.BootstrapToken, KVMount: "secret",
		Account: func(_ access.Principal, t access.Tier) string { return setup.Agent("").AccountPath(t) },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.ap = ap
	return f
}

func req(tier access.Tier, ttl time.Duration, code string) access.Request {
	return access.Request{ID: "apr_test", Principal: "p", Tier: tier, TTL: ttl, Passcode: sensitive.New(code)}
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
		{"fail/no-passcode", "", access.ErrPasscodeRequired},
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
