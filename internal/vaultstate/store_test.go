package vaultstate_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/devvault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaultstate"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// env is a real dev Vault set up for replicas, and a store that uses
// Gatekeeper's own (bootstrap) token, as serve does.
type env struct {
	srv   *devvault.Server
	vc    *vault.Client
	root  sensitive.String
	res   *setup.Result
	store *vaultstate.Store
}

func start(t *testing.T) *env {
	t.Helper()
	e := &env{srv: vaulttest.Start(t)}
	e.vc, e.root = vaulttest.Client(t, e.srv), vaulttest.Root(e.srv)
	l := vaulttest.DefaultLayout
	l.SharedState = true
	res, err := setup.Apply(t.Context(), e.vc, e.root, setup.Options{Layout: l})
	if err != nil {
		t.Fatal(err)
	}
	e.res = res
	e.store = e.newStore(t, res.BootstrapToken)
	return e
}

func (e *env) newStore(t *testing.T, tok sensitive.String) *vaultstate.Store {
	t.Helper()
	s, err := vaultstate.New(vaultstate.Options{
		Vault: e.vc, Token: func() sensitive.String { return tok }, KVMount: "secret", Folder: setup.StateFolder, TransitMount: "transit", Key: setup.StateKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const token = "hvs.CAESIThisIsTheGrantsOwnToken0123456789"

var t0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

func grant(p access.Principal, t access.Tier) *access.Grant {
	return &access.Grant{
		Principal: p, Tier: t, Scope: "secret/agent/alice/", Paths: []string{"db", "app/"},
		Token: sensitive.New(token), Accessor: "acc-123", ApprovalID: "apr_1",
		IssuedAt: t0, ExpiresAt: t0.Add(15 * time.Minute),
	}
}

// raw is the KV record as Vault keeps it, as JSON text.
func (e *env) raw(t *testing.T, path string) string {
	t.Helper()
	s, err := e.vc.Read(t.Context(), e.root, "secret/data/"+path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(s.Data)
	return string(b)
}

func TestSlotRoundTripNeverStoresTheToken(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := t.Context()
	sl, err := e.store.Load(ctx, "alice", access.Write)
	if err != nil || sl.Version != 0 || sl.Grant != nil {
		t.Fatalf("an empty slot = %+v, %v", sl, err)
	}
	sl.Grant = grant("alice", access.Write)
	sl.Claim = nil
	sl.Last = &access.Outcome{ApprovalID: "apr_1", Result: access.ResultApproved}
	sl.CoolUntil = t0.Add(time.Minute)
	stored, err := e.store.Store(ctx, sl)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Version != 1 || !strings.HasPrefix(stored.Sealed, "vault:v1:") || !stored.Grant.Token.IsZero() {
		t.Errorf("stored = version %d, sealed %q, token set %v", stored.Version, stored.Sealed, !stored.Grant.Token.IsZero())
	}

	// The KV record: the grant in the clear but its token only sealed.
	rec := e.raw(t, setup.StateFolder+"/slots/alice/write")
	for _, leak := range []string{token, "CAESIThisIsTheGrantsOwnToken"} {
		if strings.Contains(rec, leak) {
			t.Fatalf("the KV record carries the token: %s", rec)
		}
	}
	for _, want := range []string{`"approval_id":"apr_1"`, `"accessor":"acc-123"`, `"sealed":"vault:v1:`} {
		if !strings.Contains(rec, want) {
			t.Errorf("the KV record lacks %s: %s", want, rec)
		}
	}

	got, err := e.store.Load(ctx, "alice", access.Write)
	if err != nil {
		t.Fatal(err)
	}
	want := stored
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(access.Grant{})); diff != "" {
		t.Errorf("loaded (-stored +loaded):\n%s", diff)
	}
	g, err := e.store.Unseal(ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(grant("alice", access.Write), g, cmpopts.IgnoreUnexported(access.Grant{}),
		cmp.Comparer(func(a, b sensitive.String) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("unsealed (-want +got):\n%s", diff)
	}

	// Rewritten without a token (a claim added), the seal is kept.
	got.Claim = &access.Claim{ApprovalID: "apr_2", Replica: "rep-a", Expires: t0.Add(2 * time.Minute)}
	again, err := e.store.Store(ctx, got)
	if err != nil || again.Sealed != stored.Sealed || again.Version != 2 {
		t.Fatalf("rewrite = %+v, %v", again, err)
	}
}

func TestCheckAndSetLetsOneWriterWin(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := t.Context()
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			sl := access.Slot{Principal: "alice", Tier: access.Read, Claim: &access.Claim{
				ApprovalID: "apr_" + string(rune('a'+i)), Replica: "rep", Expires: t0,
			}}
			_, errs[i] = e.store.Store(ctx, sl)
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, access.ErrSlotConflict):
			t.Errorf("a losing claim: %v, want ErrSlotConflict", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d claims won, want exactly 1", won)
	}
	sl, err := e.store.Load(ctx, "alice", access.Read)
	if err != nil || sl.Version != 1 || sl.Claim == nil {
		t.Fatalf("after the race: %+v, %v", sl, err)
	}
	stale := sl
	stale.Version = 0
	if _, err := e.store.Store(ctx, stale); !errors.Is(err, access.ErrSlotConflict) {
		t.Errorf("a write at an old version = %v, want ErrSlotConflict", err)
	}
	sl.Claim = nil
	if _, err := e.store.Store(ctx, sl); err != nil {
		t.Errorf("a write at the current version: %v", err)
	}
}

func TestUntrustedRecordsCountAsAbsent(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := t.Context()
	// A good record of bob's, and a ciphertext of another key.
	bob, err := e.store.Store(ctx, access.Slot{Principal: "bob", Tier: access.Read, Grant: grant("bob", access.Read)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.vc.Write(ctx, e.root, "transit/keys/other", nil); err != nil {
		t.Fatal(err)
	}
	otherKey, err := e.vc.TransitEncrypt(ctx, e.root, "transit", "other", "e30=")
	if err != nil {
		t.Fatal(err)
	}
	good := func() map[string]any {
		return map[string]any{"v": 1, "principal": "alice", "tier": "read", "grant": map[string]any{
			"approval_id": "apr_1", "accessor": "acc", "scope": "s/", "issued_at": t0, "expires_at": t0.Add(time.Hour),
			"sealed": bob.Sealed,
		}}
	}
	for _, tc := range []struct {
		name   string
		data   func() map[string]any
		loaded bool // Load keeps the record; Unseal must refuse it
	}{
		{"fail/not a record", func() map[string]any { return map[string]any{"hello": "world"} }, false},
		{"fail/another format", func() map[string]any { d := good(); d["v"] = 2; return d }, false},
		{"fail/names another principal", func() map[string]any { d := good(); d["principal"] = "bob"; return d }, false},
		{"fail/names another tier", func() map[string]any { d := good(); d["tier"] = "write"; return d }, false},
		{"fail/grant without a seal", func() map[string]any { d := good(); delete(d["grant"].(map[string]any), "sealed"); return d }, false},
		{"fail/bob's seal in alice's record", good, true},
		{"fail/damaged seal", func() map[string]any {
			d := good()
			d["grant"].(map[string]any)["sealed"] = bob.Sealed[:len(bob.Sealed)-4] + "AAAA"
			return d
		}, true},
		{"fail/another key's seal", func() map[string]any { d := good(); d["grant"].(map[string]any)["sealed"] = otherKey; return d }, true},
		{"fail/not a seal", func() map[string]any { d := good(); d["grant"].(map[string]any)["sealed"] = "plain"; return d }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := e.vc.KVWrite(ctx, e.root, "secret", setup.StateFolder+"/slots/alice/read", tc.data())
			if err != nil {
				t.Fatal(err)
			}
			sl, err := e.store.Load(ctx, "alice", access.Read)
			if err != nil || sl.Version != v {
				t.Fatalf("Load = %+v, %v; want version %d", sl, err, v)
			}
			if !tc.loaded {
				if sl.Grant != nil || sl.Claim != nil {
					t.Errorf("an untrusted record was loaded: %+v", sl)
				}
				return
			}
			if g, err := e.store.Unseal(ctx, sl); !errors.Is(err, access.ErrSlotUnreadable) {
				t.Errorf("Unseal = %+v, %v; want ErrSlotUnreadable", g, err)
			}
		})
	}
}

func TestListAndHeartbeats(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := t.Context()
	odd := access.Principal("CN=agent one/ou=x")
	for _, sl := range []access.Slot{
		{Principal: "alice", Tier: access.Read, Grant: grant("alice", access.Read)},
		{Principal: "alice", Tier: access.Write},
		{Principal: odd, Tier: access.Read, Claim: &access.Claim{ApprovalID: "apr_9", Replica: "rep", Expires: t0}},
	} {
		if _, err := e.store.Store(ctx, sl); err != nil {
			t.Fatal(err)
		}
	}
	all, err := e.store.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sl := range all {
		got = append(got, string(sl.Principal)+" "+sl.Tier.String())
	}
	if diff := cmp.Diff([]string{"CN=agent one/ou=x read", "alice read", "alice write"}, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("listed slots (-want +got):\n%s", diff)
	}

	now := time.Now()
	old, err := vaultstate.New(vaultstate.Options{
		Vault: e.vc, Token: func() sensitive.String { return e.res.BootstrapToken }, KVMount: "secret", Folder: setup.StateFolder, TransitMount: "transit", Key: setup.StateKey,
		Now: func() time.Time { return now.Add(3 * time.Hour) },
	})
	if err != nil {
		t.Fatal(err)
	}
	for id, until := range map[string]time.Time{"rep-a": now.Add(30 * time.Second), "rep-b": now} {
		if err := e.store.Beat(ctx, id, until); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.store.Beat(ctx, "../escape", now); err == nil {
		t.Error("a replica id that is not one segment was taken")
	}
	beats, err := e.store.Replicas(ctx)
	if err != nil || len(beats) != 2 || !beats["rep-a"].Equal(now.Add(30*time.Second)) {
		t.Fatalf("Replicas = %v, %v", beats, err)
	}
	// Hours later, both are long gone: pruned.
	if _, err := old.Replicas(ctx); err != nil {
		t.Fatal(err)
	}
	if beats, err := e.store.Replicas(ctx); err != nil || len(beats) != 0 {
		t.Errorf("after pruning: %v, %v", beats, err)
	}
}

func TestStoreNeedsItsPolicyAndAnUnsealedVault(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := t.Context()
	if err := e.store.Check(ctx); err != nil {
		t.Fatalf("Check with the bootstrap token: %v", err)
	}
	// A bootstrap token from a setup without replicas may not use them.
	s, err := e.vc.Write(ctx, e.root, "auth/token/create", map[string]any{"policies": []string{"gatekeeper-read"}, "no_default_policy": true})
	if err != nil {
		t.Fatal(err)
	}
	other := e.newStore(t, sensitive.New(s.Auth.ClientToken))
	if err := other.Check(ctx); !errors.Is(err, vault.ErrPermissionDenied) {
		t.Errorf("Check with an agent's token = %v, want permission denied", err)
	}
	if _, err := other.Load(ctx, "alice", access.Read); !errors.Is(err, vault.ErrPermissionDenied) {
		t.Errorf("Load with an agent's token = %v, want permission denied", err)
	}
	if _, err := e.vc.Write(ctx, e.root, "sys/seal", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Load(ctx, "alice", access.Read); !errors.Is(err, vault.ErrSealed) {
		t.Errorf("Load from a sealed Vault = %v, want ErrSealed", err)
	}
	if err := e.store.Check(context.Background()); err == nil {
		t.Error("Check passed with Vault sealed")
	}
}
