package execsecret

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/secretuse"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

const (
	DefaultTimeout   = 60 * time.Second
	DefaultMaxOutput = 64 << 10
	// MaxMaxOutput bounds MaxOutput: the output goes into a model's
	// context, and the whole capture is held in memory while it is redacted.
	MaxMaxOutput = 16 << 20
)

// How long Run waits for the output pipes to close once the command's
// process group is gone. Only a process that left the group (setsid) can
// hold them open longer; Run then stops reading rather than hang.
const drainGrace = 2 * time.Second

var (
	// ErrNotAllowed: the command is not one the operator allowed.
	ErrNotAllowed = errors.New("command not allowed")
	// ErrInvalidEnv: a secret's variable name or value was refused.
	ErrInvalidEnv = errors.New("invalid secret environment")
	// ErrTimeout: the command ran longer than Options.Timeout and was killed.
	ErrTimeout = errors.New("command timed out")
)

// errTimedOut is the cause Run's own deadline carries, so that a timeout is
// told apart from the caller cancelling ctx.
var errTimedOut = errors.New("run timeout")

// Options configures a Runner. Allowed is required; zero values elsewhere
// mean the defaults.
type Options struct {
	// Allowed lists the absolute paths of the executables the agent may run.
	// Nothing else runs. Each must exist and be an executable regular file
	// (after resolving symlinks) when New is called.
	Allowed []string
	// Env maps an allowed command, written as in Allowed, to the names of
	// the variables a secret may set for it. A command without an entry
	// takes no secret at all. An allowlist, not a denylist: any program may
	// read any variable, and many load code or configuration from where
	// one points (PSQLRC, LUA_INIT, OPENSSL_CONF, KUBECONFIG, …), so only
	// the names the operator knows the command reads as a credential are
	// let through. Names from DeniedNames and DeniedPrefixes are refused
	// here as well, as configuration mistakes.
	Env map[string][]string
	// Timeout bounds one run; default DefaultTimeout.
	Timeout time.Duration
	// MaxOutput is how many bytes of stdout, and separately of stderr, Run
	// returns; default DefaultMaxOutput, at most MaxMaxOutput.
	MaxOutput int
	// Dir is the command's working directory, absolute; empty means the
	// server's.
	Dir string
	// BaseEnv is the environment ("NAME=value") the command starts from,
	// before the secrets are added. Nil means a minimal PATH, HOME and LANG;
	// an empty, non-nil slice means an empty environment. The server's own
	// environment is never passed on.
	BaseEnv []string
}

// Runner runs allowed commands with secrets in their environment. It is
// safe for concurrent use.
type Runner struct {
	allowed   map[string]allowedCmd
	env       map[string][]string // by allowedCmd.path, sorted
	timeout   time.Duration
	maxOutput int
	dir       string
	baseEnv   []string
}

// Result is what a command did. Stdout and Stderr are redacted and cut to
// MaxOutput bytes.
type Result struct {
	// ExitCode is the command's exit status, or -1 if a signal ended it
	// (including the kill on timeout or cancellation).
	ExitCode       int
	Stdout, Stderr string
	// Truncated reports that stdout or stderr was longer than MaxOutput.
	Truncated bool
	// Redacted counts the markers ([REDACTED:NAME]) put in the captured
	// output.
	Redacted int
	Duration time.Duration
}

// New checks o and returns a Runner. Every problem is reported at once.
func New(o Options) (*Runner, error) {
	r := &Runner{
		allowed:   make(map[string]allowedCmd, len(o.Allowed)),
		env:       make(map[string][]string, len(o.Env)),
		timeout:   o.Timeout,
		maxOutput: o.MaxOutput,
		dir:       o.Dir,
		baseEnv:   o.BaseEnv,
	}
	var errs []error
	if len(o.Allowed) == 0 {
		errs = append(errs, errors.New("allowed: no commands are allowed"))
	}
	for _, p := range o.Allowed {
		a, err := resolveAllowed(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("allowed: %w", err))
			continue
		}
		r.allowed[a.path] = a
	}
	for _, cmd := range slices.Sorted(maps.Keys(o.Env)) {
		if !slices.ContainsFunc(o.Allowed, func(p string) bool { return filepath.Clean(p) == filepath.Clean(cmd) }) {
			errs = append(errs, fmt.Errorf("env: %q is not one of the allowed commands", cmd))
			continue
		}
		for _, name := range o.Env[cmd] {
			if err := CheckAllowedName(name); err != nil {
				errs = append(errs, fmt.Errorf("env for %s: %w", cmd, err))
			}
		}
		names := slices.Clone(o.Env[cmd])
		slices.Sort(names)
		r.env[filepath.Clean(cmd)] = slices.Compact(names)
	}
	switch {
	case o.Timeout < 0:
		errs = append(errs, fmt.Errorf("timeout: %s is negative", o.Timeout))
	case o.Timeout == 0:
		r.timeout = DefaultTimeout
	}
	switch {
	case o.MaxOutput < 0:
		errs = append(errs, fmt.Errorf("max output: %d is negative", o.MaxOutput))
	case o.MaxOutput > MaxMaxOutput:
		errs = append(errs, fmt.Errorf("max output: %d is more than %d", o.MaxOutput, MaxMaxOutput))
	case o.MaxOutput == 0:
		r.maxOutput = DefaultMaxOutput
	}
	if o.Dir != "" {
		if err := checkDir(o.Dir); err != nil {
			errs = append(errs, fmt.Errorf("dir: %w", err))
		}
	}
	if o.BaseEnv == nil {
		r.baseEnv = defaultEnv()
	} else {
		r.baseEnv = slices.Clone(o.BaseEnv)
		for i, kv := range o.BaseEnv {
			if err := checkBaseEnv(kv); err != nil {
				errs = append(errs, fmt.Errorf("base env entry %d: %w", i+1, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

// Allowed returns the commands the agent may run, sorted, as the tool's
// description should list them.
func (r *Runner) Allowed() []string {
	out := make([]string, 0, len(r.allowed))
	for p := range r.allowed {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Run executes command with args and the secrets in env (variable name to
// value, and the name the value's marker shows), waits for it and returns
// its redacted output. A non-zero exit status is a Result, not an
// error. On timeout the error is ErrTimeout and on cancellation ctx's error;
// both come with the output captured so far. Errors name the command and
// variables, never a value.
func (r *Runner) Run(ctx context.Context, command string, args []string, env map[string]secretuse.Secret) (Result, error) {
	a, err := r.lookup(command)
	if err != nil {
		return Result{}, err
	}
	for i, arg := range args {
		if strings.IndexByte(arg, 0) >= 0 {
			return Result{}, fmt.Errorf("argument %d contains a NUL byte", i+1)
		}
	}
	values := make(map[string]sensitive.String, len(env))
	named := make([]secretuse.Secret, 0, len(env))
	for _, name := range slices.Sorted(maps.Keys(env)) {
		values[name] = env[name].Value
		named = append(named, env[name])
	}
	if _, err := checkSecrets(values, r.env[a.path]); err != nil {
		return Result{}, err
	}
	red := secretuse.NewRedactor(named)

	runCtx, cancel := context.WithTimeoutCause(ctx, r.timeout, errTimedOut)
	defer cancel()
	cmd := exec.CommandContext(runCtx, a.resolved, args...)
	cmd.Args[0] = a.path
	cmd.Env = buildEnv(r.baseEnv, values)
	cmd.Dir = r.dir
	// cmd.Stdin stays nil: the command reads /dev/null.

	outR, outW, err := os.Pipe()
	if err != nil {
		return Result{}, fmt.Errorf("creating stdout pipe: %w", err)
	}
	defer func() { _ = outR.Close() }()
	errR, errW, err := os.Pipe()
	if err != nil {
		_ = outW.Close()
		return Result{}, fmt.Errorf("creating stderr pipe: %w", err)
	}
	defer func() { _ = errR.Close() }()
	// Own pipes instead of io.Writers: exec.Cmd would then wait for every
	// holder of the pipe, including a background grandchild, before Wait
	// returns, and the process group could only be killed after that.
	cmd.Stdout, cmd.Stderr = outW, errW

	var interrupted atomic.Bool
	setProcessGroup(cmd)
	cmd.Cancel = func() error {
		interrupted.Store(true)
		return killGroup(cmd.Process)
	}
	cmd.WaitDelay = drainGrace

	start := time.Now()
	err = cmd.Start()
	_ = outW.Close()
	_ = errW.Close()
	if err != nil {
		return Result{}, fmt.Errorf("starting %s: %w", a.path, err)
	}
	limit := r.maxOutput + red.Longest()
	stdout, stderr := &capture{limit: limit}, &capture{limit: limit}
	var wg sync.WaitGroup
	wg.Go(func() { stdout.readFrom(outR) })
	wg.Go(func() { stderr.readFrom(errR) })

	waitErr := cmd.Wait()
	// Whatever the command left running in its group goes now: it holds
	// the secrets in its environment and may hold the output pipes.
	_ = killGroup(cmd.Process)
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(drainGrace):
		_ = outR.Close()
		_ = errR.Close()
		<-drained
	}

	res := Result{ExitCode: -1, Duration: time.Since(start)}
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	var n1, n2 int
	var t1, t2 bool
	res.Stdout, n1, t1 = stdout.text(red, r.maxOutput)
	res.Stderr, n2, t2 = stderr.text(red, r.maxOutput)
	res.Redacted, res.Truncated = n1+n2, t1 || t2

	if interrupted.Load() {
		if errors.Is(context.Cause(runCtx), errTimedOut) {
			return res, fmt.Errorf("%w: %s ran longer than %s and was killed", ErrTimeout, a.path, r.timeout)
		}
		return res, fmt.Errorf("running %s: %w", a.path, ctx.Err())
	}
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) {
		return res, fmt.Errorf("waiting for %s: %w", a.path, waitErr)
	}
	return res, nil
}

func checkDir(dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("%q is not an absolute path", dir)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}
