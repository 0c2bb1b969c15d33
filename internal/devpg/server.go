package devpg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/child"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// Superuser is the name of the superuser every Server is created with.
const Superuser = "pgtest"

// Limits on the server's start and stop: generous for a busy 2-core
// machine, and each one ends in a clear failure rather than a hang.
const (
	initdbLimit = 2 * time.Minute
	readyLimit  = time.Minute
	stopLimit   = 30 * time.Second
)

// Server is a running PostgreSQL server in a folder of its own.
type Server struct {
	Addr     string // 127.0.0.1:PORT
	Port     int
	User     string           // the superuser, Superuser
	Password sensitive.String // the superuser's password: printed, it is [REDACTED]

	bins   Bins
	dir    string // data/ and the Unix socket
	cmd    *exec.Cmd
	out    *boundedBuffer
	exited chan struct{}
}

// Start creates a database cluster in dir (a fresh, empty folder whose
// parent the server's user may pass through), starts its server on
// 127.0.0.1 and a free port, and waits until it takes connections. The
// caller stops it with Stop. Without PostgreSQL it returns an error
// wrapping ErrNotInstalled that names the package to install.
func Start(dir string) (*Server, error) {
	bins, err := FindBins()
	if err != nil {
		return nil, err
	}
	o, err := serverOwner()
	if err != nil {
		return nil, err
	}
	if o != nil {
		if err := o.handOver(dir); err != nil {
			return nil, err
		}
	}
	s := &Server{User: Superuser, Password: sensitive.New(randomHex(24)), bins: bins, dir: dir, out: &boundedBuffer{}}
	if err := s.initdb(o); err != nil {
		return nil, err
	}
	if err := s.start(o); err != nil {
		return nil, err
	}
	return s, nil
}

// Output is what the server wrote (bounded), for a failure's report.
func (s *Server) Output() string { return s.out.String() }

// initdb creates the cluster in dir/data. The superuser's password reaches
// initdb in a file only it can read, removed at once; TCP logins need a
// password (scram-sha-256). The socket, in a folder only the server's user
// and root can enter, trusts whoever reaches it.
func (s *Server) initdb(o *owner) error {
	pwfile := filepath.Join(s.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.Password.Reveal()+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing the superuser's password file: %w", err)
	}
	defer func() { _ = os.Remove(pwfile) }()
	if err := o.give(pwfile); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), initdbLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bins.Initdb,
		"--pgdata="+filepath.Join(s.dir, "data"),
		"--username="+s.User,
		"--pwfile="+pwfile,
		"--auth-host=scram-sha-256",
		"--auth-local=trust",
		"--encoding=UTF8",
		"--locale=C",
		"--no-sync", // a test's cluster need not survive a power cut
	)
	cmd.Env = childEnv()
	cmd.Dir = s.dir
	cmd.SysProcAttr = sysProcAttr(o)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("running initdb: %w\n%s", err, out)
	}
	return nil
}

// start runs postgres on a free port. Another process can take the port
// between FreePort and postgres binding it; then postgres exits and another
// port is tried.
func (s *Server) start(o *owner) error {
	var err error
	for range 5 {
		var portTaken bool
		portTaken, err = s.startOn(o)
		if err == nil || !portTaken {
			break
		}
	}
	return err
}

// startOn starts postgres on a free port and reports whether a failure was
// that port being taken.
func (s *Server) startOn(o *owner) (portTaken bool, err error) {
	port, err := child.FreePort()
	if err != nil {
		return false, err
	}
	s.Port = port
	s.Addr = "127.0.0.1:" + strconv.Itoa(port)
	s.out = &boundedBuffer{}
	s.exited = make(chan struct{})
	args := []string{
		"-D", filepath.Join(s.dir, "data"),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port=" + strconv.Itoa(port),
		"-c", "unix_socket_directories=" + s.socketDir(port),
		"-c", "unix_socket_permissions=0700",
		// Speed over durability: the cluster dies with the test.
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		// Several servers run at once on a small machine.
		"-c", "shared_buffers=16MB",
		"-c", "max_connections=40",
		// The log would quote a failing statement in full, passwords
		// included (CREATE ROLE ... PASSWORD); the error alone is enough.
		"-c", "log_min_error_statement=panic",
	}
	cmd := exec.Command(s.bins.Postgres, args...)
	cmd.Env = childEnv()
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.SysProcAttr = sysProcAttr(o)
	if err := cmd.Start(); err != nil {
		return false, fmt.Errorf("starting %s: %w", s.bins.Postgres, err)
	}
	s.cmd = cmd
	go func(exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(s.exited)
	if err := s.waitReady(); err != nil {
		s.Stop()
		return strings.Contains(s.out.String(), "could not bind"), err
	}
	return false, nil
}

// socketDir is the test's folder, where the server's Unix socket goes,
// unless the socket's path would pass the 107 bytes a Unix socket address
// holds (under a long TMPDIR): then the server has no socket, which nothing
// here misses, since every client connects over TCP.
func (s *Server) socketDir(port int) string {
	if len(filepath.Join(s.dir, ".s.PGSQL."+strconv.Itoa(port))) > 107 {
		return ""
	}
	return s.dir
}

// waitReady polls with the superuser's own login until the server answers,
// it exits, or readyLimit passes. Connections are refused while the server
// starts up, so an answer means it is ready for the test.
func (s *Server) waitReady() error {
	deadline := time.Now().Add(readyLimit)
	for {
		_, err := s.exec(s.User, s.Password.Reveal(), "SELECT 1")
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("postgres exited before it took connections:\n%s", s.out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres took no connections within %s: %w\n%s", readyLimit, err, s.out.String())
		}
	}
}

// Stop asks for a fast shutdown (SIGINT: roll back open transactions,
// close sessions) and kills the server if it has not exited in stopLimit.
// Stopping a stopped server, or one never started, does nothing.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
		return
	case <-time.After(stopLimit):
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// childEnv is this process's environment without the caller's libpq
// settings (PGHOST, PGUSER, PGPASSWORD, PGDATA...), which would point a
// child at another server or cluster, and in the C locale, so messages
// read the same everywhere.
func childEnv() []string {
	return append(child.Env("PG", "LC_", "LANG=", "LANGUAGE="), "LC_ALL=C")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
