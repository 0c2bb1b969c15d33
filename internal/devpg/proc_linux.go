package devpg

import "syscall"

// sysProcAttr runs a child as o (nil: as this process's user) and kills it
// when the test binary dies, however it dies, so no server outlives a
// timed-out or killed test run. A change of user clears a death signal
// set before it; Go's fork sets this one after the change.
func sysProcAttr(o *owner) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if o != nil {
		a.Credential = &syscall.Credential{Uid: uint32(o.uid), Gid: uint32(o.gid)} //nolint:gosec // G115: ids from the user database, 32-bit on Linux
	}
	return a
}
