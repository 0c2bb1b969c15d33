package child

import (
	"errors"
	"os"
	"os/exec"
	"sync"
	"time"
)

// errNotStarted is what Signal returns before the first Start.
var errNotStarted = errors.New("the process was never started")

// Proc is a child process that ends, is killed, signalled or stopped, and
// can be started again once it has ended (a server restarted from its
// data). The zero value is ready to use and holds no process. It is safe
// for concurrent use; every method acts on the process of the latest
// Start.
type Proc struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start starts cmd, configured by the caller (output, environment,
// process group), and waits for it in the background: once it ends,
// onExit runs, if not nil, and then Exited is closed. A Proc whose
// process still runs refuses to start another, which would lose track of
// the first.
func (p *Proc) Start(cmd *exec.Cmd, onExit func()) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.runningLocked() {
		return errors.New("the previous process is still running")
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		if onExit != nil {
			onExit()
		}
		close(exited)
	}()
	p.cmd, p.exited = cmd, exited
	return nil
}

// Exited is closed when the latest process has ended and its onExit has
// run; it is nil before the first Start.
func (p *Proc) Exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited
}

// Running reports whether the latest process was started and has not
// ended. A stopped (SIGSTOP) process still runs.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runningLocked()
}

func (p *Proc) runningLocked() bool {
	if p.exited == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// PID is the latest process's id, 0 before the first Start.
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Signal sends sig to the latest process. The process was waited for
// when it ended, so a signal after that fails (os.ErrProcessDone) rather
// than reaching a process that reused its id.
func (p *Proc) Signal(sig os.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return errNotStarted
	}
	return p.cmd.Process.Signal(sig)
}

// Kill ends the latest process with SIGKILL and waits until it has ended
// and its onExit has run. It does nothing before the first Start and
// only waits for a process that already ended.
func (p *Proc) Kill() {
	p.Stop(nil, 0)
}

// Stop sends sig to the latest process and waits up to grace for it to
// end; then it kills the process and waits for that. A nil sig kills at
// once. It does nothing before the first Start, and is safe to call again
// or at the same time.
func (p *Proc) Stop(sig os.Signal, grace time.Duration) {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	if sig != nil {
		_ = cmd.Process.Signal(sig)
		select {
		case <-exited:
			return
		case <-time.After(grace):
		}
	}
	_ = cmd.Process.Kill()
	<-exited
}
