package pgtest

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// psqlLimit bounds each psql run: a login and a statement or two.
const psqlLimit = 30 * time.Second

// Database is the database every Server has and every helper connects to.
const Database = "postgres"

// URL is a postgresql:// URL for user on db, as Vault's database engine and
// libpq take it. TLS is off: the server listens on loopback only.
func (s *Server) URL(user, password, db string) string {
	u := url.URL{
		Scheme:   "postgresql",
		User:     url.UserPassword(user, password),
		Host:     s.Addr,
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Exec logs in as user with password over TCP and runs sql, statement by
// statement, stopping at the first error. The output is the rows, one a
// line, columns split by |, without headers. A refused login or a failed
// statement is an error carrying psql's message.
func (s *Server) Exec(t testing.TB, user, password, sql string) (string, error) {
	t.Helper()
	return s.exec(user, password, sql)
}

// ExecSuper runs sql as the superuser and fails the test if it fails.
func (s *Server) ExecSuper(t testing.TB, sql string) string {
	t.Helper()
	out, err := s.exec(s.User, s.Password.Reveal(), sql)
	if err != nil {
		t.Fatalf("running SQL as the superuser: %v", err)
	}
	return out
}

// RoleExists reports whether pg_roles has a role called name.
func (s *Server) RoleExists(t testing.TB, name string) bool {
	t.Helper()
	return s.ExecSuper(t, "SELECT 1 FROM pg_roles WHERE rolname = "+literal(name)) == "1"
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

// exec runs psql against the server. The password reaches psql through
// PGPASSWORD and the SQL through stdin, so neither is on a command line
// that any user of the machine can read in the process list.
func (s *Server) exec(user, password, sql string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), psqlLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bins.Psql,
		"--no-psqlrc", "--no-password", "--quiet", "--no-align", "--tuples-only",
		"--set=ON_ERROR_STOP=1",
		"--dbname="+s.conninfo(user),
		"--file=-",
	)
	cmd.Env = append(childEnv(), "PGPASSWORD="+password)
	cmd.Stdin = strings.NewReader(sql)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w after %s", ctx.Err(), psqlLimit)
		}
		return "", fmt.Errorf("running SQL as %s on %s: %w: %s", user, s.Addr, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSuffix(stdout.String(), "\n"), nil
}

// conninfo is a libpq connection string for user over TCP, without the
// password.
func (s *Server) conninfo(user string) string {
	return strings.Join([]string{
		"host=127.0.0.1",
		"port=" + strconv.Itoa(s.Port),
		"user=" + quoteConninfo(user),
		"dbname=" + Database,
		"sslmode=disable",
		"connect_timeout=10",
	}, " ")
}

// quoteConninfo quotes a connection string value: single quotes, with \
// and ' escaped by a backslash.
func quoteConninfo(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// literal is v as an SQL string literal (standard_conforming_strings is on
// by default, so only ' needs escaping).
func literal(v string) string {
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}
