package devvault

import "syscall"

// sysProcAttr kills the dev server when Gatekeeper (or the test binary)
// dies, however it dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
