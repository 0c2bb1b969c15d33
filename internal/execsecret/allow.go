package execsecret

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// allowedCmd is one entry of Options.Allowed: the path as the operator
// wrote it (cleaned), which is what the agent must name and what the
// command sees as argv[0], and the file it resolved to at start, which is
// what is executed.
type allowedCmd struct {
	path     string
	resolved string
}

func resolveAllowed(p string) (allowedCmd, error) {
	if !filepath.IsAbs(p) {
		return allowedCmd{}, fmt.Errorf("%q is not an absolute path", p)
	}
	clean := filepath.Clean(p)
	resolved, err := filepath.EvalSymlinks(clean)
	if err != nil {
		return allowedCmd{}, fmt.Errorf("resolving %s: %w", clean, err)
	}
	fi, err := os.Stat(resolved)
	if err != nil {
		return allowedCmd{}, err
	}
	if !fi.Mode().IsRegular() {
		return allowedCmd{}, fmt.Errorf("%s is not a regular file", clean)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o111 == 0 {
		return allowedCmd{}, fmt.Errorf("%s is not executable", clean)
	}
	return allowedCmd{path: clean, resolved: resolved}, nil
}

// lookup finds the allowed command the agent named. The name must be the
// configured path exactly: no PATH search, no relative path, no "..", "//"
// or trailing slash that happens to lead to the same file, and no other
// path (a symlink, a hard-coded target) that leads to the same file. The
// path must still resolve to the file it resolved to at start.
func (r *Runner) lookup(command string) (allowedCmd, error) {
	switch {
	case command == "":
		return allowedCmd{}, fmt.Errorf("%w: no command given", ErrNotAllowed)
	case !filepath.IsAbs(command):
		return allowedCmd{}, fmt.Errorf("%w: %q is not an absolute path; name one of the allowed commands exactly", ErrNotAllowed, command)
	case filepath.Clean(command) != command:
		return allowedCmd{}, fmt.Errorf("%w: %q is not a clean path; name one of the allowed commands exactly", ErrNotAllowed, command)
	}
	a, ok := r.allowed[command]
	if !ok {
		return allowedCmd{}, fmt.Errorf("%w: %q is not one of the allowed commands", ErrNotAllowed, command)
	}
	resolved, err := filepath.EvalSymlinks(command)
	if err != nil {
		return allowedCmd{}, fmt.Errorf("%w: resolving %s: %w", ErrNotAllowed, command, err)
	}
	if resolved != a.resolved {
		return allowedCmd{}, fmt.Errorf("%w: %s no longer resolves to the file it did when Gatekeeper started", ErrNotAllowed, command)
	}
	return a, nil
}
