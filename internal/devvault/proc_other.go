//go:build !linux

package devvault

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
