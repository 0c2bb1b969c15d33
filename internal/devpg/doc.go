// Package devpg runs a real PostgreSQL server of its own, for the tests
// (through package pgtest) and for gatekeeper dev: Vault's database secrets
// engine is pointed at a database that really creates, logs in and drops the
// roles it issues. Whether a credential stops working when its grant ends
// is decided by PostgreSQL, and only a real server can show it.
//
// Each server is Debian's PostgreSQL (the postgresql package, which
// scripts/test installs) started from its own binaries, not the system
// service: initdb into a fresh folder, then postgres on 127.0.0.1 and a free
// port, with its Unix socket in that folder. Stop ends it; the folder is the
// caller's to remove.
//
// PostgreSQL refuses to run as root. When this process is root, the server
// runs as the postgres user the Debian package creates; otherwise as the
// current user.
//
// SQL goes through Debian's psql client rather than a Go driver, which
// would add a dependency to go.mod for the tests' and dev's sake alone.
package devpg
