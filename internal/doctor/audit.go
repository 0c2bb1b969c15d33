package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// AuditFile: the audit file can be appended to, or created in its folder.
// Nothing is written to it.
func AuditFile(path string) Check {
	return Check{Name: NameAudit, Run: func(context.Context) (string, error) {
		fix := fmt.Sprintf("make %s writable by the user gatekeeper runs as, or set GATEKEEPER_AUDIT_FILE (audit_file) to a writable path", path)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		switch {
		case err == nil:
			if err := f.Close(); err != nil {
				return "", err
			}
			return path + " is writable", nil
		case !errors.Is(err, fs.ErrNotExist):
			return "", Fail(fix, "the audit file %s cannot be opened for appending: %w", path, err)
		}
		// Not there yet: serve creates it, so its folder must take a file.
		dir := filepath.Dir(path)
		probe, err := os.CreateTemp(dir, ".gatekeeper-doctor-*")
		if err != nil {
			return "", Fail(fix, "the audit file %s does not exist and its folder does not take new files: %w", path, err)
		}
		name := probe.Name()
		if err := errors.Join(probe.Close(), os.Remove(name)); err != nil {
			return "", err
		}
		return path + " will be created (its folder is writable)", nil
	}}
}
