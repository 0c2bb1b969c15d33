//go:build !linux

package devvault

import "syscall"

func sysProcAttr(bool) *syscall.SysProcAttr { return nil }
