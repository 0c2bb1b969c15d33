//go:build !unix

package execsecret

import (
	"errors"
	"os"
	"os/exec"
)

// Without process groups only the command itself is killed; anything it
// started in the background may outlive the call. run_with_secret is meant
// for Linux and macOS.
func setProcessGroup(*exec.Cmd) {}

func killGroup(p *os.Process) error {
	if p == nil {
		return nil
	}
	if err := p.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}
