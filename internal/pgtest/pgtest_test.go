package pgtest_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/devpg"
	"github.com/gatekeeper-mcp/gatekeeper/internal/pgtest"
)

func TestSuperuser(t *testing.T) {
	t.Parallel()
	pg := pgtest.Start(t)

	got, err := pg.Exec(t, pg.User, pg.Password.Reveal(), "SELECT 1")
	if err != nil {
		t.Fatalf("SELECT 1 as the superuser: %v", err)
	}
	if got != "1" {
		t.Errorf("SELECT 1 = %q, want 1", got)
	}
	if _, err := pg.Exec(t, pg.User, "wrong-"+pg.Password.Reveal(), "SELECT 1"); err == nil || !strings.Contains(err.Error(), "password authentication failed") {
		t.Errorf("login with a wrong password: err = %v, want password authentication failed", err)
	}
	// The server listens on loopback alone, on the port it reports.
	settings := pg.ExecSuper(t, "SELECT current_setting('listen_addresses'), current_setting('port'), inet_server_addr()")
	if diff := cmp.Diff("127.0.0.1|"+strconv.Itoa(pg.Port)+"|127.0.0.1", settings); diff != "" {
		t.Errorf("settings mismatch (-want +got):\n%s", diff)
	}
}

func TestRoleLifecycle(t *testing.T) {
	t.Parallel()
	pg := pgtest.Start(t)
	const role, password = "app_o'brien", "role-pw-'quoted'"

	if pg.RoleExists(t, role) {
		t.Fatalf("role %s exists before it was created", role)
	}
	pg.ExecSuper(t, `CREATE ROLE "app_o'brien" LOGIN PASSWORD 'role-pw-''quoted'''`)
	if !pg.RoleExists(t, role) {
		t.Fatalf("RoleExists(%q) = false after CREATE ROLE", role)
	}
	got, err := pg.Exec(t, role, password, "SELECT current_user, 1")
	if err != nil {
		t.Fatalf("login as the new role: %v", err)
	}
	if diff := cmp.Diff(role+"|1", got); diff != "" {
		t.Errorf("SELECT mismatch (-want +got):\n%s", diff)
	}

	pg.ExecSuper(t, `DROP ROLE "app_o'brien"`)
	if pg.RoleExists(t, role) {
		t.Errorf("RoleExists(%q) = true after DROP ROLE", role)
	}
	if _, err := pg.Exec(t, role, password, "SELECT 1"); err == nil {
		t.Error("a dropped role logged in")
	}
	if err := pg.WaitRoleGone(t, role, 0); err != nil {
		t.Errorf("WaitRoleGone after DROP ROLE: %v", err)
	}
}

func TestExecStopsAtTheFirstError(t *testing.T) {
	t.Parallel()
	pg := pgtest.Start(t)
	_, err := pg.Exec(t, pg.User, pg.Password.Reveal(), "CREATE TABLE t (n int); SELECT nonsense; INSERT INTO t VALUES (1);")
	if err == nil || !strings.Contains(err.Error(), "nonsense") {
		t.Fatalf("err = %v, want the failed statement's error", err)
	}
	if got := pg.ExecSuper(t, "SELECT count(*) FROM t"); got != "0" {
		t.Errorf("rows after the failed statement = %s, want 0: psql went on after the error", got)
	}
}

// TestTwoServers runs two servers at once: each has its own port, data and
// roles.
func TestTwoServers(t *testing.T) {
	t.Parallel()
	a, b := pgtest.Start(t), pgtest.Start(t)
	if a.Port == b.Port {
		t.Fatalf("both servers on port %d", a.Port)
	}
	if a.Password.Equal(b.Password) {
		t.Error("both servers have the same superuser password")
	}
	a.ExecSuper(t, "CREATE ROLE only_on_a")
	if !a.RoleExists(t, "only_on_a") || b.RoleExists(t, "only_on_a") {
		t.Error("a role created on one server is not on that server alone")
	}
	if _, err := b.Exec(t, b.User, a.Password.Reveal(), "SELECT 1"); err == nil {
		t.Error("server b took server a's superuser password")
	}
}

func TestPasswordStaysOutOfPrints(t *testing.T) {
	t.Parallel()
	pg := pgtest.Start(t)
	secret := pg.Password.Reveal()
	for _, s := range []string{fmt.Sprint(pg), fmt.Sprintf("%+v", pg), fmt.Sprintf("%#v", pg)} {
		if strings.Contains(s, secret) {
			t.Errorf("the superuser's password is in %q", s)
		}
	}
	// A failed login's error names the user and the server, not the password.
	_, err := pg.Exec(t, pg.User, secret+"x", "SELECT 1")
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("failed login error = %v: want an error without the password", err)
	}
}

func TestURL(t *testing.T) {
	t.Parallel()
	pg := &pgtest.Server{Server: &devpg.Server{Addr: "127.0.0.1:5433", Port: 5433}}
	got := pg.URL("v-token-ro", "p@ss/w:rd", "app")
	want := "postgresql://v-token-ro:p%40ss%2Fw%3Ard@127.0.0.1:5433/app?sslmode=disable"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("URL mismatch (-want +got):\n%s", diff)
	}
}
