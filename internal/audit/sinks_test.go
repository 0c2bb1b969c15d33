//go:build !windows && !plan9

package audit

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// syslogPriority is facility auth (4) and severity info (6): <38>.
const syslogPriority = "<38>"

func TestSyslogSink(t *testing.T) {
	tests := []struct {
		name   string
		listen func(t *testing.T) (network, addr string, msgs <-chan string)
	}{
		{"ok/udp", listenUDP},
		{"ok/tcp", listenTCP},
		{"ok/unixgram", listenUnixgram},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			network, addr, msgs := tt.listen(t)
			s, err := NewSyslogSink(SyslogOptions{Network: network, Address: addr, Tag: "gatekeeper-test"})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = s.Close() }()
			var buf strings.Builder
			l := New(Options{Sinks: []Sink{s, NewWriterSink("buf", &buf)}, Key: testKey(t)})
			for n := 1; n <= 2; n++ {
				if err := l.Record(context.Background(), event(n)); err != nil {
					t.Fatal(err)
				}
			}
			for i, want := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				msg := receive(t, msgs)
				if !strings.HasPrefix(msg, syslogPriority) || !strings.Contains(msg, "gatekeeper-test[") || !strings.HasSuffix(strings.TrimSpace(msg), want) {
					t.Errorf("message %d = %q, want %s…gatekeeper-test[…]: %s", i, msg, syslogPriority, want)
				}
			}
		})
	}
	t.Run("fail/nobody-listens", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		if _, err := NewSyslogSink(SyslogOptions{Network: "tcp", Address: addr}); err == nil {
			t.Error("a syslog sink opened towards a closed port")
		}
	})
}

func receive(t *testing.T, msgs <-chan string) string {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no syslog message")
		return ""
	}
}

func listenUDP(t *testing.T) (string, string, <-chan string) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	return "udp", pc.LocalAddr().String(), readPackets(pc)
}

func listenUnixgram(t *testing.T) (string, string, <-chan string) {
	dir, err := os.MkdirTemp("", "gk-syslog") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	path := filepath.Join(dir, "log.sock")
	pc, err := net.ListenPacket("unixgram", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	return "unixgram", path, readPackets(pc)
}

func readPackets(pc net.PacketConn) <-chan string {
	msgs := make(chan string, 16)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	return msgs
}

func listenTCP(t *testing.T) (string, string, <-chan string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	msgs := make(chan string, 16)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer func() { _ = conn.Close() }()
		sc := bufio.NewScanner(conn)
		for sc.Scan() {
			msgs <- sc.Text()
		}
	}()
	return "tcp", ln.Addr().String(), msgs
}

// collector is an HTTP audit collector: it keeps what it receives and
// counts the connections it accepted.
type collector struct {
	mu     sync.Mutex
	lines  []string
	auth   []string
	conns  int
	status int
}

func newCollector(t *testing.T, status int) (*collector, *httptest.Server) {
	c := &collector{status: status}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.lines = append(c.lines, string(b))
		c.auth = append(c.auth, r.Header.Get("Authorization"))
		c.mu.Unlock()
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(c.status)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.mu.Lock()
			c.conns++
			c.mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return c, srv
}

func TestHTTPSink(t *testing.T) {
	t.Run("ok", func(t *testing.T) {
		c, srv := newCollector(t, http.StatusNoContent)
		s, err := NewHTTPSink(HTTPOptions{URL: srv.URL + "/audit", Authorization: sensitive.New("Bearer collector-token")})
		if err != nil {
			t.Fatal(err)
		}
		var buf strings.Builder
		l := New(Options{Sinks: []Sink{s, NewWriterSink("buf", &buf)}, Key: testKey(t)})
		defer func() { _ = l.Close() }()
		for n := 1; n <= 3; n++ {
			if err := l.Record(context.Background(), event(n)); err != nil {
				t.Fatal(err)
			}
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if got, want := strings.Join(c.lines, "\n"), strings.TrimSpace(buf.String()); got != want {
			t.Errorf("collector got\n%s\nwant\n%s", got, want)
		}
		if c.conns != 1 {
			t.Errorf("connections = %d, want 1 reused", c.conns)
		}
		if c.auth[0] != "Bearer collector-token" {
			t.Errorf("Authorization = %q", c.auth[0])
		}
	})
	t.Run("fail/status", func(t *testing.T) {
		_, srv := newCollector(t, http.StatusServiceUnavailable)
		s, err := NewHTTPSink(HTTPOptions{URL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		l := New(Options{Sinks: []Sink{s}})
		if err := l.Record(context.Background(), event(1)); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "503") {
			t.Errorf("Record = %v, want ErrUnavailable with the status", err)
		}
	})
	t.Run("fail/timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			select { // a collector that never answers in time
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(release)
		s, err := NewHTTPSink(HTTPOptions{URL: srv.URL, Timeout: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		l := New(Options{Sinks: []Sink{s}})
		if err := l.Record(context.Background(), event(1)); !errors.Is(err, ErrUnavailable) {
			t.Errorf("Record = %v, want ErrUnavailable", err)
		}
	})
	t.Run("fail/unreachable-without-showing-the-url", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		s, err := NewHTTPSink(HTTPOptions{URL: "http://" + addr + "/in?token=QUERY-SECRET"})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Write([]byte(`{}`))
		if err == nil || strings.Contains(err.Error(), "QUERY-SECRET") {
			t.Errorf("Write = %v, want an error without the URL's query", err)
		}
	})
	t.Run("fail/bad-url", func(t *testing.T) {
		if _, err := NewHTTPSink(HTTPOptions{URL: "ftp://collector"}); err == nil {
			t.Error("an ftp URL was accepted")
		}
	})
}
