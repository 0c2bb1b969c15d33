package vault_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// TestMountEngine: a mount is made once and found again as it is, with its
// tuning; a mount of another engine or KV version is refused, not used.
func TestMountEngine(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := t.Context()
	pki := vault.Engine{Type: "pki", Config: map[string]any{"max_lease_ttl": "8760h"}}
	for i, want := range []bool{true, false} {
		created, err := e.c.MountEngine(ctx, e.root, "devpki", pki)
		if err != nil || created != want {
			t.Fatalf("MountEngine, call %d = %v, %v; want created %v", i+1, created, err, want)
		}
	}
	tune, err := e.c.Read(ctx, e.root, "sys/mounts/devpki/tune")
	if err != nil || fmt.Sprint(tune.Data["max_lease_ttl"]) != "31536000" {
		t.Errorf("the mount's tuning = %v, %v; want max_lease_ttl 8760h", tune, err)
	}
	if _, err := e.c.Write(ctx, e.root, "sys/mounts/kvone", map[string]any{"type": "kv", "options": map[string]any{"version": "1"}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		e    vault.Engine
		want string
	}{
		{"devpki", vault.Engine{Type: "transit"}, "mount devpki exists but is pki, not transit"},
		{"kvone", vault.Engine{Type: "kv", Version: "2"}, "mount kvone exists but is kv version 1, not kv version 2"},
		{"cubbyhole", vault.Engine{Type: "kv", Version: "2"}, "mount cubbyhole exists but is cubbyhole, not kv version 2"},
	} {
		created, err := e.c.MountEngine(ctx, e.root, tc.path, tc.e)
		if created || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("MountEngine(%s as %+v) = %v, %v; want %q", tc.path, tc.e, created, err, tc.want)
		}
	}
	if _, err := e.c.MountEngine(ctx, e.root, "kvone", vault.Engine{Type: "kv"}); err != nil {
		t.Errorf("a kv mount of any version, asked for any: %v", err)
	}
}
