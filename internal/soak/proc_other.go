//go:build !linux

package soak

import (
	"errors"
	"syscall"
)

const sigterm = syscall.SIGTERM

func sysProcAttr() *syscall.SysProcAttr { return nil }

// openFDs needs /proc; elsewhere the process_open_fds metric stands in.
func openFDs(int) (int, error) { return 0, errors.New("no /proc on this system") }

// connsTo needs /proc too; elsewhere connections to Vault count as growth.
func connsTo(int, int) (int, error) { return 0, errors.New("no /proc on this system") }
