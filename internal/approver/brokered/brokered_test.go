package brokered_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/brokered"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// human stands in for the approving person; Duo and the passkey page are
// tested in their own packages, Vault here is real.
type human struct {
	answer error
	asked  atomic.Int32
}

func (h *human) Approve(_ context.Context, _ access.Request) error {
	h.asked.Add(1)
	return h.answer
}

type fixture struct {
	vc     *vault.Client
	root   sensitive.String
	broker sensitive.String
	human  *human
	is     *brokered.Issuer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := vaulttest.Start(t)
	f := &fixture{vc: vaulttest.Client(t, srv), root: vaulttest.Root(srv), human: &human{}}
	res, err := setup.Apply(t.Context(), f.vc, f.root, setup.Options{
		Layout: vaulttest.DefaultLayout, Agents: []setup.AgentSetup{{Name: "ci"}, {Name: "ops"}}, Brokered: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.broker = res.BrokerToken
	for _, a := range []string{"ci", "ops"} {
		if _, err := f.vc.KVWrite(t.Context(), f.root, "secret", "agent/"+a+"/db", map[string]any{"pw": a}); err != nil {
			t.Fatal(err)
		}
	}
	f.is, err = brokered.New(brokered.Options{
		Vault: f.vc, Broker: func() sensitive.String { return f.broker },
		Approver: func(access.Principal) approver.Approver { return f.human },
		Role: func(p access.Principal, t access.Tier) (string, string) {
			a := setup.Agent(p)
			return a.Role(t), a.PolicyName(t)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func request(p access.Principal, tier access.Tier, ttl time.Duration) access.Request {
	return access.Request{ID: "apr_test", Principal: p, Tier: tier, TTL: ttl, Expires: time.Now().Add(time.Minute)}
}

func TestMintedTokenIsExactlyTheGrant(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	read, err := f.is.Issue(ctx, request("ci", access.Read, 90*time.Second), sensitive.String{})
	if err != nil {
		t.Fatal(err)
	}
	if read.TTL <= 0 || read.TTL > 90*time.Second {
		t.Errorf("issued TTL = %s", read.TTL)
	}
	info, err := f.vc.Write(ctx, f.root, "auth/token/lookup-accessor", map[string]any{"accessor": read.Accessor})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{
		"policies": info.Data["policies"], "renewable": info.Data["renewable"],
		"meta": info.Data["meta"], "orphan": info.Data["orphan"],
	}
	want := map[string]any{
		"policies": []any{"gatekeeper-ci-read"}, "renewable": false, "orphan": false,
		"meta": map[string]any{"agent": "ci", "approval_id": "apr_test"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("minted token (-want +got):\n%s", diff)
	}
	if _, err := f.vc.KVRead(ctx, read.Token, "secret", "agent/ci/db"); err != nil {
		t.Errorf("ci's read token cannot read ci's secret: %v", err)
	}
	if _, err := f.vc.KVRead(ctx, read.Token, "secret", "agent/ops/db"); !errors.Is(err, vault.ErrPermissionDenied) {
		t.Errorf("ci's read token reads ops's secret: %v", err)
	}

	write, err := f.is.Issue(ctx, request("ci", access.Write, time.Minute), read.Token)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.vc.KVWrite(ctx, write.Token, "secret", "agent/ci/db", map[string]any{"pw": "new"}); err != nil {
		t.Errorf("write token cannot write: %v", err)
	}
	// Release: the token is revoked in Vault.
	if err := f.is.Revoke(ctx, write.Token); err != nil {
		t.Fatal(err)
	}
	if err := f.is.Check(ctx, write.Token); !errors.Is(err, access.ErrTokenInvalid) {
		t.Errorf("after revoke: %v", err)
	}
}

func TestNoYesNoToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.human.answer = access.ErrDenied
	before := tokenCount(t, f)
	if _, err := f.is.Issue(t.Context(), request("ci", access.Read, time.Minute), sensitive.String{}); !errors.Is(err, access.ErrDenied) {
		t.Fatalf("Issue() = %v, want ErrDenied", err)
	}
	if after := tokenCount(t, f); after != before {
		t.Errorf("tokens in Vault went from %d to %d on a denial", before, after)
	}
	// Write is earned from read: no read token, no approval at all.
	f.human.answer = nil
	if _, err := f.is.Issue(t.Context(), request("ci", access.Write, time.Minute), sensitive.String{}); !errors.Is(err, access.ErrNotAuthenticated) {
		t.Errorf("write without read = %v", err)
	}
	if n := f.human.asked.Load(); n != 1 {
		t.Errorf("the human was asked %d times, want 1", n)
	}
}

func TestBrokerCannotDoAnythingElse(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	if _, err := f.vc.KVRead(ctx, f.broker, "secret", "agent/ci/db"); !errors.Is(err, vault.ErrPermissionDenied) {
		t.Errorf("broker reads a secret: %v", err)
	}
	if _, err := f.vc.KVWrite(ctx, f.broker, "secret", "agent/ci/x", map[string]any{"a": "b"}); !errors.Is(err, vault.ErrPermissionDenied) {
		t.Errorf("broker writes a secret: %v", err)
	}
	for name, body := range map[string]map[string]any{
		"auth/token/create":                     {"policies": []string{"gatekeeper-ci-read"}},
		"auth/token/create/gatekeeper-ci-read":  {"policies": []string{"gatekeeper-ci-write"}},
		"auth/token/create/gatekeeper-ops-read": {"policies": []string{"root"}},
		"sys/policies/acl/evil":                 {"policy": `path "*" { capabilities = ["sudo"] }`},
	} {
		if _, err := f.vc.Write(ctx, f.broker, name, body); err == nil {
			t.Errorf("broker may write %s %v", name, body)
		}
	}
}

func TestRevokingTheBrokerEndsEveryGrant(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var issued []access.Issued
	for _, a := range []access.Principal{"ci", "ops"} {
		got, err := f.is.Issue(t.Context(), request(a, access.Read, time.Hour), sensitive.String{})
		if err != nil {
			t.Fatal(err)
		}
		issued = append(issued, got)
	}
	if err := f.vc.RevokeSelf(t.Context(), f.broker); err != nil {
		t.Fatal(err)
	}
	for _, got := range issued {
		if err := f.is.Check(t.Context(), got.Token); !errors.Is(err, access.ErrTokenInvalid) {
			t.Errorf("a grant survived its broker: %v", err)
		}
	}
	if _, err := f.is.Issue(t.Context(), request("ci", access.Read, time.Hour), sensitive.String{}); !errors.Is(err, access.ErrBrokerCredential) {
		t.Errorf("minting with a revoked broker = %v, want ErrBrokerCredential", err)
	}
}

func TestBrokeredSetupIsIdempotent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res, err := setup.Apply(t.Context(), f.vc, f.root, setup.Options{
		Layout: vaulttest.DefaultLayout, Agents: []setup.AgentSetup{{Name: "ci"}, {Name: "ops"}}, Brokered: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changed) != 0 || !res.BrokerToken.Equal(f.broker) {
		t.Errorf("second run changed %v (same broker token: %v)", res.Changed, res.BrokerToken.Equal(f.broker))
	}
}

func tokenCount(t *testing.T, f *fixture) int {
	t.Helper()
	s, err := f.vc.List(t.Context(), f.root, "auth/token/accessors")
	if err != nil {
		t.Fatal(err)
	}
	return len(s.Data["keys"].([]any))
}
