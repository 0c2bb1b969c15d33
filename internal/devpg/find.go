package devpg

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// BinEnv names a folder holding initdb, postgres and psql, for systems that
// keep them elsewhere than Debian does.
const BinEnv = "GATEKEEPER_PG_BIN"

// debianRoot is where Debian installs each PostgreSQL major version's
// binaries, as VERSION/bin. None of them is on PATH: Debian's /usr/bin has
// only wrappers for the client tools.
const debianRoot = "/usr/lib/postgresql"

// ErrNotInstalled means no PostgreSQL server binaries were found.
var ErrNotInstalled = errors.New("PostgreSQL server binaries (initdb, postgres) not found")

// Bins are the programs a Server runs.
type Bins struct {
	Initdb, Postgres, Psql string
}

// FindBins returns the binaries to run: those in $GATEKEEPER_PG_BIN, else
// those of the highest version under /usr/lib/postgresql, else the ones on
// PATH (other distributions and Homebrew put initdb there).
func FindBins() (Bins, error) {
	if dir := os.Getenv(BinEnv); dir != "" {
		b, ok := binsIn(dir)
		if !ok {
			return Bins{}, fmt.Errorf("%w in %s=%s", ErrNotInstalled, BinEnv, dir)
		}
		return b, nil
	}
	if b, ok := highestIn(debianRoot); ok {
		return b, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if b, ok := binsIn(filepath.Dir(p)); ok {
			return b, nil
		}
	}
	return Bins{}, fmt.Errorf("%w under %s/*/bin, in $%s or on PATH: install Debian's postgresql package (scripts/test does) or set %s to the folder that holds them",
		ErrNotInstalled, debianRoot, BinEnv, BinEnv)
}

// highestIn picks the highest major version under root that has the server
// binaries: a half-removed older version must not shadow a working one.
func highestIn(root string) (Bins, bool) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return Bins{}, false
	}
	type version struct {
		name string
		n    []int
	}
	var versions []version
	for _, e := range entries {
		if n, ok := parseVersion(e.Name()); ok {
			versions = append(versions, version{e.Name(), n})
		}
	}
	slices.SortFunc(versions, func(a, b version) int { return slices.Compare(b.n, a.n) })
	for _, v := range versions {
		if b, ok := binsIn(filepath.Join(root, v.name, "bin")); ok {
			return b, true
		}
	}
	return Bins{}, false
}

// binsIn is dir's binaries, if it has the server's. psql may live
// elsewhere (a client-only package); PATH is its fallback.
func binsIn(dir string) (Bins, bool) {
	b := Bins{Initdb: filepath.Join(dir, "initdb"), Postgres: filepath.Join(dir, "postgres"), Psql: filepath.Join(dir, "psql")}
	if !executable(b.Initdb) || !executable(b.Postgres) {
		return Bins{}, false
	}
	if !executable(b.Psql) {
		p, err := exec.LookPath("psql")
		if err != nil {
			return Bins{}, false
		}
		b.Psql = p
	}
	return b, true
}

func executable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// parseVersion reads a version folder's name: "15", or "9.6" before 10.
func parseVersion(name string) ([]int, bool) {
	var v []int
	for part := range strings.SplitSeq(name, ".") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return nil, false
		}
		v = append(v, n)
	}
	return v, true
}
