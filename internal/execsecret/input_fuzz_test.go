//go:build unix

package execsecret

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// FuzzRunInput feeds the runner's checks what an agent controls through
// run_with_secret: the command it names, and a variable name with the value
// put in it (the value comes from a secret, which the agent may have
// written). Whatever it sends:
//   - only the allowed command's exact path is found: no other spelling of
//     it ("//", "/./", "..", a trailing slash) and no symlink to it;
//   - a variable is accepted only with a plain upper-case name that is
//     neither denied nor under a denied prefix, and a value long enough to
//     redact and free of NUL; the child's environment then holds exactly
//     one entry of that name, the secret's, even over a base entry;
//   - errors wrap ErrNotAllowed or ErrInvalidEnv and never quote the value.
//
// The seed corpus is testdata/fuzz/FuzzRunInput; "{bin}" and "{link}" in a
// command stand for the allowed executable and a symlink to it.
func FuzzRunInput(f *testing.F) {
	dir := f.TempDir()
	bin := filepath.Join(dir, "tool")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		f.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(bin, link); err != nil {
		f.Fatal(err)
	}
	r, err := New(Options{Allowed: []string{bin}, Env: map[string][]string{bin: {"PGPASSWORD", "TOKEN"}}, BaseEnv: []string{"PATH=/usr/bin", "TOKEN=from-base"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, command, name, value string) {
		command = strings.NewReplacer("{bin}", bin, "{link}", link).Replace(command)
		a, err := r.lookup(command)
		switch {
		case err == nil && (command != bin || a.path != bin):
			t.Fatalf("found %q as the allowed command", command)
		case err != nil && command == bin:
			t.Fatalf("refused the allowed command: %v", err)
		case err != nil && !errors.Is(err, ErrNotAllowed):
			t.Fatalf("error %v is not ErrNotAllowed", err)
		}

		env := map[string]sensitive.String{name: sensitive.New(value)}
		allowed := r.env[bin]
		values, err := checkSecrets(env, allowed)
		if err != nil {
			if !errors.Is(err, ErrInvalidEnv) {
				t.Fatalf("error %v is not ErrInvalidEnv", err)
			}
			// The message may not depend on what the value says, only on
			// its shape (length, blanks, NUL): the same value with every
			// other byte replaced must be refused in the same words. (A
			// plain "does it contain the value" check trips on values that
			// are words of the message itself.)
			if _, err2 := checkSecrets(map[string]sensitive.String{name: sensitive.New(shapeOf(value))}, allowed); err2 != nil && err2.Error() != err.Error() {
				t.Fatalf("error %q depends on the value's content (same shape: %q)", err, err2)
			}
			return
		}
		switch {
		case !slices.Contains(allowed, name):
			t.Fatalf("accepted the name %q, which the command's allowlist does not hold", name)
		case len(strings.TrimSpace(value)) < MinValueLen || strings.IndexByte(value, 0) >= 0:
			t.Fatalf("accepted the value %q", value)
		case len(values) != 1 || values[0] != value:
			t.Fatalf("values %q", values)
		}
		var entries []string
		for _, kv := range buildEnv(r.baseEnv, env) {
			if k, v, _ := strings.Cut(kv, "="); k == name {
				entries = append(entries, v)
			}
		}
		if len(entries) != 1 || entries[0] != value {
			t.Fatalf("the child's environment has %d entries for %s", len(entries), name)
		}
	})
}

// shapeOf keeps a value's length, blanks and NUL bytes and replaces every
// other byte.
func shapeOf(v string) string {
	b := []byte(v)
	for i, c := range b {
		if c != 0 && !strings.ContainsRune(" \t\n\v\f\r", rune(c)) {
			b[i] = 'v'
		}
	}
	return string(b)
}
