package setup_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

func TestStatePolicyOnlyWithSharedState(t *testing.T) {
	for _, tc := range []struct {
		name   string
		shared bool
	}{{"ok/one process", false}, {"ok/replicas", true}} {
		t.Run(tc.name, func(t *testing.T) {
			l := setup.Layout{KVMount: "kv", Prefix: "bots", TransitMount: "tr", SharedState: tc.shared}
			for _, p := range []setup.Policy{l.Bootstrap(false), l.Bootstrap(true), l.Broker()} {
				for _, want := range []string{`path "kv/data/gatekeeper/state/*"`, `path "kv/metadata/gatekeeper/state/replicas/*"`,
					`path "tr/encrypt/gatekeeper-state"`, `path "tr/decrypt/gatekeeper-state"`} {
					if got := strings.Contains(p.HCL, want); got != tc.shared {
						t.Errorf("policy %s has %s: %v, want %v", p.Name, want, got, tc.shared)
					}
				}
			}
		})
	}
}

// TestSharedStateReachesOnlyGatekeeper: with replicas, Gatekeeper's own
// identity (bootstrap or broker token) reaches its state folder and seals
// with its key, and nothing more than before; no agent's tier token
// reaches either.
func TestSharedStateReachesOnlyGatekeeper(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t)
	vc := vaulttest.Client(t, srv)
	root := vaulttest.Root(srv)
	ctx := t.Context()
	l := vaulttest.DefaultLayout
	l.SharedState = true
	opts := setup.Options{Layout: l, Agents: []setup.AgentSetup{{Name: "alice"}}, Brokered: true}
	res, err := setup.Apply(ctx, vc, root, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.Changed, "transit key gatekeeper-state") {
		t.Errorf("setup changed %v, want the state key among them", res.Changed)
	}
	again, err := setup.Apply(ctx, vc, root, opts)
	if err != nil || len(again.Changed) != 0 {
		t.Fatalf("second run changed %v (%v), want nothing", again.Changed, err)
	}
	if _, err := vc.KVWrite(ctx, root, "secret", "agent/alice/db", map[string]any{"password": "pw"}); err != nil {
		t.Fatal(err)
	}
	tier := func(p string) sensitive.String {
		s, err := vc.Write(ctx, root, "auth/token/create", map[string]any{"policies": []string{p}, "no_default_policy": true, "ttl": "10m"})
		if err != nil {
			t.Fatal(err)
		}
		return sensitive.New(s.Auth.ClientToken)
	}

	type op struct {
		name string
		run  func(tok sensitive.String) error
	}
	kvWrite := func(p string) op {
		return op{"write " + p, func(tok sensitive.String) error {
			_, err := vc.KVWrite(ctx, tok, "secret", p, map[string]any{"v": "x"})
			return err
		}}
	}
	kvRead := func(p string) op {
		return op{"read " + p, func(tok sensitive.String) error { _, err := vc.KVRead(ctx, tok, "secret", p); return err }}
	}
	transit := func(action string) op {
		return op{action + " with the state key", func(tok sensitive.String) error {
			if action == "decrypt" {
				ct, err := vc.TransitEncrypt(ctx, root, "transit", setup.StateKey, "aGk=")
				if err != nil {
					return err
				}
				_, err = vc.TransitDecrypt(ctx, tok, "transit", setup.StateKey, ct)
				return err
			}
			_, err := vc.TransitEncrypt(ctx, tok, "transit", setup.StateKey, "aGk=")
			return err
		}}
	}
	ops := []op{
		kvWrite(setup.StateFolder + "/slots/alice/read"), kvRead(setup.StateFolder + "/slots/alice/read"),
		{"list the state", func(tok sensitive.String) error {
			_, err := vc.KVList(ctx, tok, "secret", setup.StateFolder+"/slots/")
			return err
		}},
		transit("encrypt"), transit("decrypt"),
		{"read the state key", func(tok sensitive.String) error {
			_, err := vc.Read(ctx, tok, "transit/keys/"+setup.StateKey)
			return err
		}},
		{"export the state key", func(tok sensitive.String) error {
			_, err := vc.Read(ctx, tok, "transit/export/encryption-key/"+setup.StateKey)
			return err
		}},
		kvRead("agent/alice/db"), kvWrite("gatekeeper/bootstrap"), kvWrite("gatekeeper/broker"),
		kvRead(setup.Agent("alice").AccountPath(access.Write)),
	}
	stateOps := []string{"write gatekeeper/state/slots/alice/read", "read gatekeeper/state/slots/alice/read", "list the state",
		"encrypt with the state key", "decrypt with the state key"}
	tokens := map[string]sensitive.String{
		"bootstrap": res.BootstrapToken, "broker": res.BrokerToken,
		"read": tier(setup.Agent("alice").PolicyName(access.Read)), "write": tier(setup.Agent("alice").PolicyName(access.Write)),
	}
	allowed := map[string][]string{
		"bootstrap": stateOps,
		"broker":    stateOps,
		"read":      {"read agent/alice/db", "read gatekeeper/agents/alice/tier/write"},
		"write":     {"read agent/alice/db"},
	}
	for who, tok := range tokens {
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
}
