//go:build unix

package child

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// startSleep starts `sleep 30` in p and returns its command, whose
// ProcessState tells how it ended once p.Exited is closed.
func startSleep(t *testing.T, p *Proc, onExit func()) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "30")
	if err := p.Start(cmd, onExit); err != nil {
		t.Fatalf("starting sleep: %v", err)
	}
	t.Cleanup(p.Kill)
	return cmd
}

// endedBy is the signal that ended cmd's process, which has ended.
func endedBy(t *testing.T, cmd *exec.Cmd) syscall.Signal {
	t.Helper()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		t.Fatalf("the process was not ended by a signal: %v", cmd.ProcessState)
	}
	return ws.Signal()
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestProcZero(t *testing.T) {
	var p Proc
	p.Kill()
	p.Stop(syscall.SIGTERM, time.Second)
	if p.Running() || p.PID() != 0 || p.Exited() != nil {
		t.Errorf("a Proc never started: Running %v, PID %d, Exited %v; want false, 0, nil", p.Running(), p.PID(), p.Exited())
	}
	if err := p.Signal(syscall.SIGTERM); err == nil {
		t.Error("Signal before Start succeeded")
	}
}

func TestProcKillAndRestart(t *testing.T) {
	var p Proc
	var ended atomic.Int32
	first := startSleep(t, &p, func() { ended.Add(1) })
	if !p.Running() || closed(p.Exited()) {
		t.Fatal("a started process is not running")
	}
	if p.PID() != first.Process.Pid {
		t.Errorf("PID = %d, want %d", p.PID(), first.Process.Pid)
	}
	if err := p.Start(exec.Command("sleep", "30"), nil); err == nil {
		t.Fatal("Start while the first process runs succeeded")
	}
	exited := p.Exited()

	// Kill from several goroutines at once: each returns once the process
	// ended and onExit ran.
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(p.Kill)
	}
	wg.Wait()
	if !closed(exited) || p.Running() {
		t.Fatal("Kill returned before the process ended")
	}
	if n := ended.Load(); n != 1 {
		t.Errorf("onExit ran %d times before Kill returned, want 1", n)
	}
	if sig := endedBy(t, first); sig != syscall.SIGKILL {
		t.Errorf("Kill ended the process with %v, want SIGKILL", sig)
	}
	if err := p.Signal(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after the process ended: %v, want %v", err, os.ErrProcessDone)
	}
	p.Kill() // again: nothing to do

	second := startSleep(t, &p, nil)
	if !p.Running() || closed(p.Exited()) {
		t.Fatal("a restarted process is not running")
	}
	if p.PID() != second.Process.Pid || p.PID() == first.Process.Pid {
		t.Errorf("PID after the restart = %d, want the new process's %d", p.PID(), second.Process.Pid)
	}
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP: %v", err)
	}
	if !p.Running() {
		t.Error("a stopped (SIGSTOP) process does not count as running")
	}
	p.Kill() // SIGKILL reaches a stopped process
	if !closed(p.Exited()) || p.Running() {
		t.Fatal("Kill returned before the restarted process ended")
	}
	if sig := endedBy(t, second); sig != syscall.SIGKILL {
		t.Errorf("Kill ended the restarted process with %v, want SIGKILL", sig)
	}
}

func TestProcStop(t *testing.T) {
	var p Proc
	cmd := startSleep(t, &p, nil)
	// A minute of grace: sleep ends on SIGTERM long before, and a Stop that
	// killed it instead would show in how it ended.
	p.Stop(syscall.SIGTERM, time.Minute)
	if !closed(p.Exited()) {
		t.Fatal("Stop returned before the process ended")
	}
	if sig := endedBy(t, cmd); sig != syscall.SIGTERM {
		t.Errorf("Stop ended the process with %v, want SIGTERM", sig)
	}
	p.Stop(syscall.SIGTERM, time.Minute) // again: returns at once
}

func TestProcStopKillsAfterGrace(t *testing.T) {
	var p Proc
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// The shell ignores SIGTERM, says so, and becomes a sleep that inherits
	// the ignored signal.
	cmd := exec.Command("sh", "-c", `trap "" TERM; echo ignoring; exec sleep 30`)
	cmd.Stdout = w
	if err := p.Start(cmd, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	_ = w.Close()
	if line, err := bufio.NewReader(r).ReadString('\n'); err != nil || line != "ignoring\n" {
		t.Fatalf("reading the shell's output: %q, %v", line, err)
	}

	const grace = 300 * time.Millisecond
	begin := time.Now()
	p.Stop(syscall.SIGTERM, grace)
	if took := time.Since(begin); took < grace {
		t.Errorf("Stop returned after %s, before the grace of %s", took, grace)
	}
	if !closed(p.Exited()) || p.Running() {
		t.Fatal("Stop returned before the process ended")
	}
	if sig := endedBy(t, cmd); sig != syscall.SIGKILL {
		t.Errorf("Stop ended a process that ignores SIGTERM with %v, want SIGKILL", sig)
	}
}
