package setup_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// TestAppRoleBroker: with the brokered strategy the AppRole role gives the
// broker policy alone, on the mount asked for; its token can keep itself
// alive and mint through a token role; a second run changes nothing, and a
// mount of another type is refused.
func TestAppRoleBroker(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t)
	vc, root := vaulttest.Client(t, srv), vaulttest.Root(srv)
	opts := setup.Options{Layout: vaulttest.DefaultLayout, Brokered: true,
		AppRole: &setup.AppRole{Mount: "gk/approle", Role: "gatekeeper", Policy: setup.BrokerPolicy}}
	first, err := setup.Apply(t.Context(), vc, root, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(first.Changed, ","), "approle role gatekeeper") {
		t.Errorf("first run changed %v, want the approle role", first.Changed)
	}
	s, err := vc.Write(t.Context(), root, "auth/gk/approle/role/gatekeeper/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := vc.AppRoleLogin(t.Context(), "gk/approle", first.AppRole.RoleID, sensitive.New(s.Data["secret_id"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{setup.BrokerPolicy}, auth.Policies); diff != "" {
		t.Errorf("the login's policies (-want +got):\n%s", diff)
	}
	if ttl, err := vc.RenewSelf(t.Context(), auth.Token, time.Hour); err != nil || ttl <= 0 {
		t.Errorf("renewing the AppRole token: %s, %v", ttl, err)
	}
	if _, err := vc.Write(t.Context(), auth.Token, "auth/token/create/gatekeeper-read", map[string]any{"ttl": "1m"}); err != nil {
		t.Errorf("minting through the read role with the AppRole token: %v", err)
	}

	second, err := setup.Apply(t.Context(), vc, root, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(second.Changed) != 0 || second.AppRole.RoleID != first.AppRole.RoleID {
		t.Errorf("second run changed %v, role id %s -> %s", second.Changed, first.AppRole.RoleID, second.AppRole.RoleID)
	}

	opts.AppRole.Mount = "gatekeeper-read" // a userpass mount setup made
	if _, err := setup.Apply(t.Context(), vc, root, opts); err == nil || !strings.Contains(err.Error(), `exists with type "userpass", want approle`) {
		t.Errorf("AppRole on a userpass mount: %v", err)
	}
}
