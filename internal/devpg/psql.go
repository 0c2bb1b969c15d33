package devpg

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
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
func (s *Server) Exec(user, password, sql string) (string, error) { return s.exec(user, password, sql) }

// Literal is v as an SQL string literal (standard_conforming_strings is on
// by default, so only ' needs escaping).
func Literal(v string) string {
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
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
