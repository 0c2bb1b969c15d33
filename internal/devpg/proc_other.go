//go:build !unix

package devpg

import "syscall"

// sysProcAttr: without Unix accounts (os.Geteuid is -1, never root), every
// child runs as this process's user.
func sysProcAttr(*owner) *syscall.SysProcAttr { return nil }
