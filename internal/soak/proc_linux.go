package soak

import (
	"os"
	"strconv"
	"syscall"
)

const sigterm = syscall.SIGTERM

// sysProcAttr kills the servers the run started when the run itself dies,
// however it dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// openFDs counts the file descriptors process pid holds.
func openFDs(pid int) (int, error) {
	entries, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return 0, err
	}
	return len(entries), nil
}
