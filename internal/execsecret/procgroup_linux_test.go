package execsecret

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests read /proc to see which processes are left, hence Linux.

func TestRunTimeoutKillsProcessGroup(t *testing.T) {
	r := newRunner(t, Options{Timeout: 500 * time.Millisecond})
	res, err := run(t, r, t.Context(), shBin, []string{"-c", `sleep 100 & echo "$$ $!"; wait`}, nil)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Run() error = %v, want ErrTimeout", err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout error %v also reads as the caller's context ending", err)
	}
	if res.ExitCode != -1 {
		t.Errorf("exit code %d, want -1", res.ExitCode)
	}
	pgid, sleepPid := pids(t, res.Stdout)
	waitGone(t, pgid, sleepPid)
}

func TestRunCancelKillsProcessGroup(t *testing.T) {
	r := newRunner(t, Options{Timeout: time.Minute})
	started := filepath.Join(t.TempDir(), "started")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		// Cancel once the command is running: poll for the file it writes.
		for ctx.Err() == nil {
			if b, err := os.ReadFile(started); err == nil && strings.HasSuffix(string(b), "\n") {
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	script := `sleep 100 & echo "$$ $!"; echo "$$" > "$1"; wait`
	res, err := run(t, r, ctx, shBin, []string{"-c", script, "sh", started}, nil)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("Run() error = %v, want context.Canceled and not ErrTimeout", err)
	}
	pgid, sleepPid := pids(t, res.Stdout)
	waitGone(t, pgid, sleepPid)
}

func TestRunCallerDeadlineIsNotTimeout(t *testing.T) {
	r := newRunner(t, Options{Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := run(t, r, ctx, sleepBin, []string{"100"}, nil)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout) {
		t.Fatalf("Run() error = %v, want context.DeadlineExceeded and not ErrTimeout", err)
	}
}

// A command that exits leaving a background child holding its stdout:
// Run returns at once, and the child is killed.
func TestRunKillsLeftoversOnExit(t *testing.T) {
	r := newRunner(t, Options{Timeout: 30 * time.Second})
	res, err := run(t, r, t.Context(), shBin, []string{"-c", `sleep 100 & echo "$$ $!"`}, nil)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run() = %+v, %v; want a clean exit", res, err)
	}
	pgid, sleepPid := pids(t, res.Stdout)
	waitGone(t, pgid, sleepPid)
}

// A process that leaves the group (setsid) and keeps stdout open cannot be
// killed with the group; Run stops reading after drainGrace instead of
// hanging until it exits.
func TestRunDoesNotHangOnEscapedProcess(t *testing.T) {
	r := newRunner(t, Options{Timeout: 30 * time.Second})
	// Print the pid only once the child leads its own session (field 6 of
	// /proc/pid/stat), so it has surely left the group when sh exits.
	script := `setsid sleep 100 & p=$!
while [ "$(cut -d' ' -f6 /proc/$p/stat)" != "$p" ]; do :; done
echo "$$ $p"`
	start := time.Now()
	res, err := run(t, r, t.Context(), shBin, []string{"-c", script}, nil)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("Run() = %+v, %v", res, err)
	}
	_, escaped := pids(t, res.Stdout)
	t.Cleanup(func() { _ = syscall.Kill(escaped, syscall.SIGKILL) })
	if !alive(escaped) {
		t.Fatalf("pid %d did not escape the process group; the test proves nothing", escaped)
	}
	if took > drainGrace+10*time.Second { // a hang would take 100s
		t.Errorf("Run took %s", took)
	}
}

func pids(t *testing.T, out string) (pgid, child int) {
	t.Helper()
	f := strings.Fields(out)
	if len(f) < 2 {
		t.Fatalf("stdout %q: want two pids", out)
	}
	a, err1 := strconv.Atoi(f[0])
	b, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || a <= 1 || b <= 1 {
		t.Fatalf("stdout %q: want two pids", out)
	}
	return a, b
}

// waitGone waits until no live process (zombies do not count: nothing here
// may reap them) is in group pgid, and pid is dead.
func waitGone(t *testing.T, pgid, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		members := liveGroupMembers(t, pgid)
		if len(members) == 0 && !alive(pid) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still has live members %v (pid %d alive: %v)", pgid, members, pid, alive(pid))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func liveGroupMembers(t *testing.T, pgid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, pg, ok := procStat(pid)
		if ok && pg == pgid && state != "Z" && state != "X" {
			out = append(out, pid)
		}
	}
	return out
}

func alive(pid int) bool {
	state, _, ok := procStat(pid)
	return ok && state != "Z" && state != "X"
}

// procStat returns the state and process group of pid from
// /proc/<pid>/stat: "pid (comm) state ppid pgrp ...", where comm may hold
// spaces and parentheses.
func procStat(pid int) (state string, pgrp int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 3 {
		return "", 0, false
	}
	pg, err := strconv.Atoi(f[2])
	if err != nil {
		return "", 0, false
	}
	return f[0], pg, true
}
