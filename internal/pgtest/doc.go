// Package pgtest runs a real PostgreSQL server for tests, so that Vault's
// database secrets engine can be pointed at a database that really creates,
// logs in and drops the roles it issues. A fake would only echo what the
// tests expect; whether a credential stops working when its grant ends is
// decided by PostgreSQL, and only a real server can show it.
//
// Each server is Debian's PostgreSQL (the postgresql package, which
// scripts/test installs) started from its own binaries, not the system
// service: initdb into the test's temporary directory, then postgres on
// 127.0.0.1 and a free port, with its Unix socket in that directory. It
// stops when the test ends and leaves nothing behind.
//
// PostgreSQL refuses to run as root. When the tests run as root, the server
// runs as the postgres user the Debian package creates; otherwise as the
// current user.
//
// SQL goes through Debian's psql client rather than a Go driver, which
// would add a dependency to go.mod for the tests' sake alone.
package pgtest
