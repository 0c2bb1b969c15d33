package pgtest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/devpg"
)

// Database is the database every Server has and every helper connects to.
const Database = devpg.Database

// Superuser is the name of the superuser every Server is created with.
const Superuser = devpg.Superuser

// Server is a running PostgreSQL server that belongs to one test.
type Server struct{ *devpg.Server }

// Start creates a database cluster in a temporary folder, starts its server
// on 127.0.0.1 and a free port, waits until it takes connections and stops
// it when the test ends. Without PostgreSQL the test fails and names the
// package to install: integration tests never skip silently.
func Start(t testing.TB) *Server {
	t.Helper()
	srv, err := devpg.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Stop()
		if t.Failed() {
			t.Logf("PostgreSQL output:\n%s", srv.Output())
		}
	})
	return &Server{srv}
}

// Exec logs in as user with password over TCP and runs sql (devpg.Exec).
func (s *Server) Exec(t testing.TB, user, password, sql string) (string, error) {
	t.Helper()
	return s.Server.Exec(user, password, sql)
}

// ExecSuper runs sql as the superuser and fails the test if it fails.
func (s *Server) ExecSuper(t testing.TB, sql string) string {
	t.Helper()
	out, err := s.Server.Exec(s.User, s.Password.Reveal(), sql)
	if err != nil {
		t.Fatalf("running SQL as the superuser: %v", err)
	}
	return out
}

// RoleExists reports whether pg_roles has a role called name.
func (s *Server) RoleExists(t testing.TB, name string) bool {
	t.Helper()
	return s.ExecSuper(t, "SELECT 1 FROM pg_roles WHERE rolname = "+devpg.Literal(name)) == "1"
}

// WaitRoleGone waits until no role is called name, checking every 100ms
// for up to limit. Vault revokes a token's leases in the background once
// the token is revoked, so a role outlives its token by a moment.
func (s *Server) WaitRoleGone(t testing.TB, name string, limit time.Duration) error {
	t.Helper()
	deadline := time.Now().Add(limit)
	for s.RoleExists(t, name) {
		if time.Now().After(deadline) {
			return fmt.Errorf("role %s still exists after %s", name, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}
