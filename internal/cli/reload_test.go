package cli

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/clientauth"
	"github.com/gatekeeper-mcp/gatekeeper/internal/config"
	"github.com/gatekeeper-mcp/gatekeeper/internal/ratelimit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// events is an audit recorder that keeps what it is given.
type events struct {
	mu  sync.Mutex
	got []audit.Event
}

func (e *events) Record(_ context.Context, ev audit.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ev)
	return nil
}

func (e *events) named(name string) []audit.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []audit.Event
	for _, ev := range e.got {
		if ev.Event == name {
			out = append(out, ev)
		}
	}
	return out
}

// noIssuer grants nothing: these tests hold no grant.
type noIssuer struct{}

func (noIssuer) Issue(context.Context, access.Request, sensitive.String) (access.Issued, error) {
	return access.Issued{}, errors.New("no issuer in this test")
}
func (noIssuer) Revoke(context.Context, sensitive.String) error { return nil }
func (noIssuer) Check(context.Context, sensitive.String) error  { return nil }

// reloadHarness is an HTTP core without Vault, its config file and the
// keys of three agents.
type reloadHarness struct {
	c      *core
	rec    *events
	path   string
	keys   map[string]string
	forgot []string
}

func newReloadHarness(t *testing.T) *reloadHarness {
	t.Helper()
	h := &reloadHarness{rec: &events{}, path: filepath.Join(t.TempDir(), "gatekeeper.yaml"), keys: map[string]string{}}
	for _, a := range []string{"alice", "bob", "carol"} {
		k, err := clientauth.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		h.keys[a] = k
	}
	h.write(t, "alice", "bob")
	cfg, err := h.load()
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := newSettings(t.Context(), cfg, false, logger)
	if err != nil {
		t.Fatal(err)
	}
	c := &core{base: t.Context(), logger: logger, audit: h.rec,
		access: access.New(access.Options{Issuer: noIssuer{}, Audit: h.rec})}
	c.live.Store(st)
	c.limits, c.approvals = ratelimit.New(c.rateOf(toolRate), nil), ratelimit.New(c.rateOf(approvalRate), nil)
	c.forget = func(a string) { h.forgot = append(h.forgot, a) }
	h.c = c
	return h
}

// write makes the config file declare agents, each with its key; alice may
// only read when she is declared alone with carol.
func (h *reloadHarness) write(t *testing.T, agents ...string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("vault_addr: http://127.0.0.1:1\nhttp: {listen: \"127.0.0.1:0\"}\nauth:\n  api_keys:\n")
	for _, a := range agents {
		b.WriteString("    - {id: " + a + "-key, agent: " + a + ", sha256: " + clientauth.HashKey(h.keys[a]) + "}\n")
	}
	b.WriteString("agents:\n")
	for _, a := range agents {
		scopes := ""
		if a == "alice" && slices.Contains(agents, "carol") {
			scopes = ", scopes: [read], rate: {per_minute: 6, burst: 1}"
		}
		b.WriteString("  - {name: " + a + scopes + "}\n")
	}
	if err := os.WriteFile(h.path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (h *reloadHarness) load() (config.Config, error) {
	cfg, err := config.Load([]string{"VAULT_TOKEN=s.test"}, h.path)
	if err = errors.Join(err, cfg.Validate()); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// who is the agent s authenticates key's holder as, "" if refused.
func who(s *settings, key string) string {
	r := httptest.NewRequest("POST", "/mcp", nil)
	r.Header.Set("X-API-Key", key)
	id, err := s.auth.Authenticate(r)
	if err != nil {
		return ""
	}
	return id.Agent
}

func TestReloadSwapsSettings(t *testing.T) {
	h := newReloadHarness(t)
	held := h.c.settings() // a call in flight took these
	h.write(t, "alice", "carol")
	if err := h.c.reloadConfig(t.Context(), h.load); err != nil {
		t.Fatal(err)
	}
	now := h.c.settings()
	got := map[string][]string{}
	for _, s := range []*settings{held, now} {
		for _, a := range []string{"alice", "bob", "carol"} {
			got[a] = append(got[a], who(s, h.keys[a]))
		}
	}
	want := map[string][]string{"alice": {"alice", "alice"}, "bob": {"bob", ""}, "carol": {"", "carol"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("authenticated as, before and after the reload (-want +got):\n%s", diff)
	}
	if a, _ := held.cfg.FindAgent("alice"); a.Scopes != nil {
		t.Errorf("the settings a call took changed under it: alice's scopes %v", a.Scopes)
	}
	if a, _ := now.cfg.FindAgent("alice"); !cmp.Equal(a.Scopes, []string{"read"}) {
		t.Errorf("alice's scopes after the reload = %v", a.Scopes)
	}
	if diff := cmp.Diff([]string{"bob"}, h.forgot); diff != "" {
		t.Errorf("sessions ended (-want +got):\n%s", diff)
	}
	// alice's new rate: one call, then a wait.
	h.c.limits.Allow("alice")
	if _, ok := h.c.limits.Allow("alice"); ok {
		t.Error("alice's second call passed her new limit of 1")
	}
	ev := h.rec.named(audit.ConfigReloaded)
	if len(ev) != 1 || ev[0].Outcome != audit.OK || ev[0].Digest != "sha256:"+now.cfg.FileSHA256 ||
		ev[0].Detail != "config file; agents added: carol; agents removed: bob" {
		t.Errorf("config.reloaded = %+v", ev)
	}
	if held.cfg.FileSHA256 == now.cfg.FileSHA256 {
		t.Error("the digest did not change with the file")
	}
}

func TestReloadRefusedWhole(t *testing.T) {
	tests := []struct {
		name string
		file string
		want string
	}{
		{"fail/not yaml", "agents: [\n", "config file"},
		{"fail/unknown key", "vault_addr: http://127.0.0.1:1\nhttp: {listen: \"127.0.0.1:0\"}\nagents: [{name: alice, scope: [read]}]\n", "field scope not found"},
		{"fail/invalid", "vault_addr: http://127.0.0.1:1\nhttp: {listen: \"127.0.0.1:0\"}\nagents: [{name: Alice}]\n", "not an agent name"},
		{"fail/needs a restart", "vault_addr: http://127.0.0.1:2\nhttp: {listen: \"127.0.0.1:9\"}\nagents: [{name: alice}]\n" +
			"auth: {api_keys: [{id: a, agent: alice, sha256: HASH}]}\n",
			"these settings change only with a restart: vault_addr, http.listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newReloadHarness(t)
			before := h.c.settings()
			file := strings.ReplaceAll(tt.file, "HASH", clientauth.HashKey(h.keys["alice"]))
			if err := os.WriteFile(h.path, []byte(file), 0o600); err != nil {
				t.Fatal(err)
			}
			err := h.c.reloadConfig(t.Context(), h.load)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("reload = %v, want a refusal with %q", err, tt.want)
			}
			if h.c.settings() != before || who(h.c.settings(), h.keys["bob"]) != "bob" || len(h.forgot) > 0 {
				t.Error("a refused configuration changed the running one")
			}
			ev := h.rec.named(audit.ConfigReloadRefused)
			if len(ev) != 1 || ev[0].Outcome != audit.Refused || !strings.Contains(ev[0].Detail, tt.want) {
				t.Errorf("config.reload_refused = %+v", ev)
			}
			if len(h.rec.named(audit.ConfigReloaded)) > 0 {
				t.Error("a refused reload was audited as done")
			}
		})
	}
}
