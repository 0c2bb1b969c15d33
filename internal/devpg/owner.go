package devpg

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
)

// owner is the system account initdb and postgres run as, when it is not
// the current user.
type owner struct {
	name     string
	uid, gid int
}

// serverOwner is nil when the tests run as an ordinary user: the server runs
// as that user. As root it is the postgres user the Debian package creates,
// since initdb and postgres refuse to run as root ("cannot be run as root").
func serverOwner() (*owner, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL refuses to run as root and there is no postgres user to run it as (%w): install Debian's postgresql package, which creates one, or run the tests as an ordinary user", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("the postgres user's ids %q:%q are not numbers", u.Uid, u.Gid)
	}
	if uid == 0 {
		return nil, fmt.Errorf("the postgres user is root (uid 0); PostgreSQL refuses to run as root")
	}
	return &owner{name: u.Username, uid: uid, gid: gid}, nil
}

// handOver gives dir, a fresh folder (a test's t.TempDir, dev's own), to o.
// Its parent (a test's temporary folder is 0700, made by the testing package) gets
// o+x so o can pass through it without listing it; every folder above must
// already let others through, as the system's temporary folder does.
// Nothing outside the test's own folders is changed.
func (o *owner) handOver(dir string) error {
	if err := os.Chown(dir, o.uid, o.gid); err != nil {
		return fmt.Errorf("giving %s to the %s user: %w", dir, o.name, err)
	}
	parent := filepath.Dir(dir)
	fi, err := os.Stat(parent)
	if err != nil {
		return fmt.Errorf("opening the way to %s: %w", dir, err)
	}
	if err := os.Chmod(parent, fi.Mode().Perm()|0o001); err != nil {
		return fmt.Errorf("opening the way to %s: %w", dir, err)
	}
	for d := filepath.Dir(parent); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("opening the way to %s: %w", dir, err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("the %s user, which runs PostgreSQL for a root test process, cannot pass through %s: point TMPDIR (or GOTMPDIR) at a folder others can reach", o.name, d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// give hands a file in the handed-over folder to o as well.
func (o *owner) give(path string) error {
	if o == nil {
		return nil
	}
	if err := os.Chown(path, o.uid, o.gid); err != nil {
		return fmt.Errorf("giving %s to the %s user: %w", path, o.name, err)
	}
	return nil
}
