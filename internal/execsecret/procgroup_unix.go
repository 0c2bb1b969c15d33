//go:build unix

package execsecret

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// setProcessGroup puts the command in a new process group led by itself,
// so that everything it starts can be killed with one signal.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killGroup sends SIGKILL to the command's process group. It is also called
// after the leader has been reaped: the kernel keeps a group id reserved
// while any member lives, so the signal reaches either the command's
// leftovers or, if there are none, nobody (ESRCH). Only in the moment
// between the last member exiting and the signal could the pid be handed to
// a new group leader, which needs the whole pid space to wrap around first.
func killGroup(p *os.Process) error {
	if p == nil {
		return nil
	}
	if p.Pid <= 1 {
		// -0 is our own group and -1 is every process we may signal.
		return fmt.Errorf("refusing to kill process group %d", p.Pid)
	}
	err := syscall.Kill(-p.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}
