//go:build unix && !linux

package devpg

import "syscall"

// sysProcAttr runs a child as o (nil: as this process's user).
func sysProcAttr(o *owner) *syscall.SysProcAttr {
	if o == nil {
		return nil
	}
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(o.uid), Gid: uint32(o.gid)}}
}
