// Package pgtest gives each test a real PostgreSQL server of its own
// (package devpg), stopped when the test ends, and the checks the tests
// make through it: run SQL as a login, see whether a role still exists.
// Without PostgreSQL a test fails and names the package to install:
// integration tests never skip silently.
package pgtest
