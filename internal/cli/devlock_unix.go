//go:build unix

package cli

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// lockFolder takes an exclusive lock on dir itself (no lock file beside
// the folder's contents). The kernel drops it when the process ends,
// however it ends, and children do not inherit it.
func lockFolder(dir string) (io.Closer, error) {
	f, err := os.Open(dir) //nolint:gosec // G304: the folder the user named with --data
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil { //nolint:gosec // G115: a file descriptor fits an int
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errFolderInUse
		}
		return nil, err
	}
	return f, nil
}
