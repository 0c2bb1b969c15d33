package setup_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

func TestSetupIsIdempotent(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t)
	vc := vaulttest.Client(t, srv)
	root := vaulttest.Root(srv)
	l := vaulttest.DefaultLayout

	first := vaulttest.SetUp(t, srv, l)
	if !strings.HasPrefix(first.TOTPURL, "otpauth://totp/") || first.BootstrapToken.IsZero() || first.MFAMethod != "totp" {
		t.Fatalf("first run: totp_url %q, bootstrap set %v, method %q", first.TOTPURL, !first.BootstrapToken.IsZero(), first.MFAMethod)
	}
	passwords := accountPasswords(t, vc, root, l)

	second := vaulttest.SetUp(t, srv, l)
	if len(second.Changed) != 0 {
		t.Errorf("second run changed %v, want nothing", second.Changed)
	}
	if second.TOTPURL != "" {
		t.Errorf("second run re-enrolled the approver: %q", second.TOTPURL)
	}
	if !second.BootstrapToken.Equal(first.BootstrapToken) {
		t.Error("second run made a new bootstrap token; the running server's token must keep working")
	}
	if second.MFAMethodID != first.MFAMethodID || second.EntityID != first.EntityID {
		t.Errorf("second run changed the method or entity: %s/%s -> %s/%s", first.MFAMethodID, first.EntityID, second.MFAMethodID, second.EntityID)
	}
	if diff := cmp.Diff(passwords, accountPasswords(t, vc, root, l)); diff != "" {
		t.Errorf("account passwords changed (-first +second):\n%s", diff)
	}

	// One approver entity, with exactly one alias on each tier's mount.
	ent, err := vc.Read(t.Context(), root, "identity/entity/id/"+second.EntityID)
	if err != nil {
		t.Fatal(err)
	}
	mounts := map[string]int{}
	for _, a := range ent.Data["aliases"].([]any) {
		mounts[a.(map[string]any)["mount_path"].(string)]++
	}
	if diff := cmp.Diff(map[string]int{"auth/gatekeeper-read/": 1, "auth/gatekeeper-write/": 1, "auth/gatekeeper-destroy/": 1}, mounts); diff != "" {
		t.Errorf("approver entity aliases by mount (-want +got):\n%s", diff)
	}

	// The first enrollment still works after the second run: the human's
	// authenticator app keeps its secret.
	auth := vaulttest.NewAuthenticator(t, first.TOTPURL)
	if _, err := mfaLogin(t, vc, root, l, access.Read, auth.Code(t)); err != nil {
		t.Fatalf("login with the original enrollment after a second setup: %v", err)
	}
}

func TestSetupAgentsIsIdempotent(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t)
	vc := vaulttest.Client(t, srv)
	opts := setup.Options{Layout: vaulttest.DefaultLayout, Agents: []setup.AgentSetup{{Name: "ci"}, {Name: "ops", WriteTTL: 5 * time.Minute}}}
	first, err := setup.Apply(t.Context(), vc, vaulttest.Root(srv), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"policy gatekeeper-ci-read", "auth mount gatekeeper-ops-write", "account gatekeeper-ci-read"} {
		if !slices.Contains(first.Changed, want) {
			t.Errorf("first run did not report %q: %v", want, first.Changed)
		}
	}
	second, err := setup.Apply(t.Context(), vc, vaulttest.Root(srv), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(second.Changed) != 0 {
		t.Errorf("second run changed %v", second.Changed)
	}
	// Each agent's accounts are tied to the one approver and guarded by MFA,
	// with the agent's own TTLs.
	enf, err := vc.Read(t.Context(), vaulttest.Root(srv), "identity/mfa/login-enforcement/gatekeeper-ops")
	if err != nil || len(enf.Data["auth_method_accessors"].([]any)) != 3 {
		t.Fatalf("ops enforcement = %v, %v", enf, err)
	}
	user, err := vc.Read(t.Context(), vaulttest.Root(srv), "auth/gatekeeper-ops-write/users/gatekeeper")
	if err != nil {
		t.Fatal(err)
	}
	if ttl, _ := user.Data["token_ttl"].(json.Number).Int64(); ttl != 300 {
		t.Errorf("ops write token_ttl = %v, want 300", user.Data["token_ttl"])
	}
}

func TestBootstrapTokenReplacedWhenRevoked(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t)
	vc := vaulttest.Client(t, srv)
	first := vaulttest.SetUp(t, srv, vaulttest.DefaultLayout)
	if err := vc.RevokeSelf(t.Context(), first.BootstrapToken); err != nil {
		t.Fatal(err)
	}
	second := vaulttest.SetUp(t, srv, vaulttest.DefaultLayout)
	if second.BootstrapToken.Equal(first.BootstrapToken) {
		t.Fatal("setup returned a revoked bootstrap token")
	}
	if _, err := vc.LookupSelf(t.Context(), second.BootstrapToken); err != nil {
		t.Fatalf("new bootstrap token: %v", err)
	}
}

// TestPoliciesAllowAndDeny checks each tier's real token against Vault.
func TestPoliciesAllowAndDeny(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t)
	vc := vaulttest.Client(t, srv)
	root := vaulttest.Root(srv)
	l := vaulttest.DefaultLayout
	res := vaulttest.SetUp(t, srv, l)
	auth := vaulttest.NewAuthenticator(t, res.TOTPURL)
	ctx := t.Context()

	if _, err := vc.KVWrite(ctx, root, l.KVMount, "agent/app/db", map[string]any{"password": "s3cret"}); err != nil {
		t.Fatal(err)
	}
	if _, err := vc.KVWrite(ctx, root, l.KVMount, "agent-other/x", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	readTok, err := mfaLogin(t, vc, res.BootstrapToken, l, access.Read, auth.Code(t))
	if err != nil {
		t.Fatal(err)
	}
	writeTok, err := mfaLogin(t, vc, readTok, l, access.Write, auth.Code(t))
	if err != nil {
		t.Fatal(err)
	}
	destroyTok, err := mfaLogin(t, vc, writeTok, l, access.Destroy, auth.Code(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vc.Write(ctx, root, "transit/keys/other.default", nil); err != nil {
		t.Fatal(err)
	}

	type op struct {
		name string
		run  func(tok sensitive.String) error
	}
	read := func(p string) op {
		return op{"read " + p, func(tok sensitive.String) error { _, err := vc.KVRead(ctx, tok, l.KVMount, p); return err }}
	}
	write := func(p string) op {
		return op{"write " + p, func(tok sensitive.String) error {
			_, err := vc.KVWrite(ctx, tok, l.KVMount, p, map[string]any{"v": "x"})
			return err
		}}
	}
	list := func(p string) op {
		return op{"list " + p, func(tok sensitive.String) error { _, err := vc.KVList(ctx, tok, l.KVMount, p); return err }}
	}
	raw := func(name, path string, body map[string]any) op {
		return op{name, func(tok sensitive.String) error { _, err := vc.Write(ctx, tok, path, body); return err }}
	}
	encrypt := func(key string) op {
		return raw("encrypt "+key, "transit/encrypt/"+key, map[string]any{"plaintext": "aGk="})
	}
	ops := []op{
		read("agent/app/db"), list("agent"), list("agent/app"), write("agent/app/new"),
		read(setup.Agent("").AccountPath(access.Read)), read(setup.Agent("").AccountPath(access.Write)),
		read(setup.Agent("").AccountPath(access.Destroy)),
		read("gatekeeper/bootstrap"), read("agent-other/x"), write("agent-other/y"), write("gatekeeper/tier/read"),
		raw("soft-delete agent/app/db", "secret/delete/agent/app/db", map[string]any{"versions": []int{1}}),
		raw("destroy agent/app/db", "secret/destroy/agent/app/db", map[string]any{"versions": []int{99}}),
		raw("destroy agent-other/x", "secret/destroy/agent-other/x", map[string]any{"versions": []int{99}}),
		encrypt("_stdio.default"), encrypt("other.default"), raw("read key _stdio.default", "transit/export/encryption-key/_stdio.default", nil),
	}
	tokens := map[string]sensitive.String{"bootstrap": res.BootstrapToken, "read": readTok, "write": writeTok, "destroy": destroyTok}
	allowed := map[string][]string{
		"bootstrap": {"read gatekeeper/tier/read"},
		"read":      {"read agent/app/db", "list agent", "list agent/app", "read gatekeeper/tier/write", "encrypt _stdio.default"},
		"write": {"read agent/app/db", "list agent", "list agent/app", "write agent/app/new", "read gatekeeper/tier/destroy",
			"soft-delete agent/app/db", "encrypt _stdio.default"},
		"destroy": {"destroy agent/app/db"},
	}
	// In tier order: the write token's soft delete must come after the
	// read token's read of the same secret (a map's order is random).
	for _, who := range []string{"bootstrap", "read", "write", "destroy"} {
		tok := tokens[who]
		for _, o := range ops {
			err := o.run(tok)
			want := slices.Contains(allowed[who], o.name)
			if want && err != nil {
				t.Errorf("%s token: %s: %v, want allowed", who, o.name, err)
			}
			if !want && !errors.Is(err, vault.ErrPermissionDenied) {
				t.Errorf("%s token: %s: %v, want permission denied", who, o.name, err)
			}
		}
	}

	// Each tier token lives no longer than its tier and has only its policy.
	for who, tt := range map[string]access.Tier{"read": access.Read, "write": access.Write, "destroy": access.Destroy} {
		info, err := vc.LookupSelf(ctx, tokens[who])
		if err != nil {
			t.Fatal(err)
		}
		ttl := map[access.Tier]time.Duration{access.Read: l.ReadTTL, access.Write: l.WriteTTL, access.Destroy: access.DefaultDestroyTTL}[tt]
		if info.TTL <= 0 || info.TTL > ttl {
			t.Errorf("%s token TTL %s, want at most %s", who, info.TTL, ttl)
		}
		if diff := cmp.Diff([]string{setup.Agent("").PolicyName(tt)}, info.Policies); diff != "" {
			t.Errorf("%s token policies (-want +got):\n%s", who, diff)
		}
	}
}

func TestSetupOnOwnMountAndNestedPrefix(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t)
	vc := vaulttest.Client(t, srv)
	l := setup.Layout{KVMount: "kv-team", Prefix: "bots/ci", ReadTTL: time.Hour, WriteTTL: 5 * time.Minute}
	res := vaulttest.SetUp(t, srv, l)
	auth := vaulttest.NewAuthenticator(t, res.TOTPURL)
	if _, err := vc.KVWrite(t.Context(), vaulttest.Root(srv), "kv-team", "bots/ci/deploy", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	readTok, err := mfaLogin(t, vc, res.BootstrapToken, l, access.Read, auth.Code(t))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := vc.KVList(t.Context(), readTok, "kv-team", "bots/ci")
	if err != nil || !slices.Equal(keys, []string{"deploy"}) {
		t.Fatalf("list bots/ci = %v, %v", keys, err)
	}
	if _, err := vc.KVList(t.Context(), readTok, "kv-team", "bots"); !errors.Is(err, vault.ErrPermissionDenied) {
		t.Errorf("list above the prefix = %v, want permission denied", err)
	}
	info, err := vc.LookupSelf(t.Context(), readTok)
	if err != nil || info.TTL > time.Hour {
		t.Errorf("read token TTL = %v, %v; want at most the configured hour", info, err)
	}
}

func TestSetupRefusesAMountOfAnotherType(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t)
	l := vaulttest.DefaultLayout
	l.KVMount = "cubbyhole"
	_, err := setup.Apply(t.Context(), vaulttest.Client(t, srv), vaulttest.Root(srv), setup.Options{Layout: l})
	if err == nil || !strings.Contains(err.Error(), "not kv version 2") {
		t.Fatalf("setup on a cubbyhole mount = %v, want a clear refusal", err)
	}
}

func TestSetupRefusesAnAuthMountOfAnotherType(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t)
	vc := vaulttest.Client(t, srv)
	if _, err := vc.Write(t.Context(), vaulttest.Root(srv), "sys/auth/gatekeeper-ops-write", map[string]any{"type": "approle"}); err != nil {
		t.Fatal(err)
	}
	opts := setup.Options{Layout: vaulttest.DefaultLayout, Agents: []setup.AgentSetup{{Name: "ops"}}}
	_, err := setup.Apply(t.Context(), vc, vaulttest.Root(srv), opts)
	if err == nil || !strings.Contains(err.Error(), `auth mount gatekeeper-ops-write exists with type "approle", want userpass`) {
		t.Fatalf("setup over an approle mount = %v, want a clear refusal", err)
	}
}

func TestLoginWithoutPasscodeGetsNoToken(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t)
	vc := vaulttest.Client(t, srv)
	l := vaulttest.DefaultLayout
	res := vaulttest.SetUp(t, srv, l)
	acct, err := vc.KVRead(t.Context(), res.BootstrapToken, l.KVMount, setup.Agent("").AccountPath(access.Read))
	if err != nil {
		t.Fatal(err)
	}
	login, err := vc.UserpassLogin(t.Context(), acct.Data["mount"].(string), acct.Data["username"].(string), sensitive.New(acct.Data["password"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	if login.Auth != nil || login.MFA == nil {
		t.Fatalf("login returned a token without MFA: %+v", login)
	}
	if _, err := vc.ValidateMFA(t.Context(), login.MFA.RequestID, map[string][]string{res.MFAMethodID: {"000000"}}); err == nil {
		t.Fatal("a wrong passcode was accepted")
	}
}

func TestPolicyRendersConfiguredPaths(t *testing.T) {
	t.Parallel()
	l := setup.Layout{KVMount: "kv/team", Prefix: "bots/ci"}
	var all string
	for _, p := range l.Policies() {
		all += p.HCL
	}
	for _, want := range []string{`path "kv/team/data/bots/ci/*"`, `path "kv/team/metadata/bots/ci"`, `path "kv/team/data/gatekeeper/tier/read"`} {
		if !strings.Contains(all, want) {
			t.Errorf("policies lack %s", want)
		}
	}
	if strings.Contains(all, `"secret/`) {
		t.Error("policies name the default mount although another was configured")
	}
}

func accountPasswords(t *testing.T, vc *vault.Client, root sensitive.String, l setup.Layout) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, tier := range []access.Tier{access.Read, access.Write} {
		s, err := vc.KVRead(t.Context(), root, l.KVMount, setup.Agent("").AccountPath(tier))
		if err != nil {
			t.Fatal(err)
		}
		out[tier.String()], _ = s.Data["password"].(string)
	}
	return out
}

// mfaLogin logs in to a tier account the way the approver does, reading
// the account with via.
func mfaLogin(t *testing.T, vc *vault.Client, via sensitive.String, l setup.Layout, tier access.Tier, code string) (sensitive.String, error) {
	t.Helper()
	acct, err := vc.KVRead(t.Context(), via, l.KVMount, setup.Agent("").AccountPath(tier))
	if err != nil {
		return sensitive.String{}, err
	}
	login, err := vc.UserpassLogin(t.Context(), acct.Data["mount"].(string), acct.Data["username"].(string), sensitive.New(acct.Data["password"].(string)))
	if err != nil {
		return sensitive.String{}, err
	}
	if login.MFA == nil {
		t.Fatalf("%s login issued a token without MFA", tier)
	}
	payload := map[string][]string{}
	for _, c := range login.MFA.Constraints {
		payload[c[0].ID] = []string{code}
	}
	a, err := vc.ValidateMFA(t.Context(), login.MFA.RequestID, payload)
	if err != nil {
		return sensitive.String{}, err
	}
	return a.Token, nil
}
