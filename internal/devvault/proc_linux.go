package devvault

import "syscall"

// sysProcAttr kills the dev server when Gatekeeper (or the test binary)
// dies, however it dies. With ownGroup, a Ctrl-C at the terminal does not
// reach the server: Gatekeeper stops it after revoking the grants it
// issued, which a server that keeps its storage would otherwise keep.
func sysProcAttr(ownGroup bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: ownGroup}
}
