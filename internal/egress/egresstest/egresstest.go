// Package egresstest reads the attack corpus of package egress
// (internal/egress/testdata/attacks) and provides what a test of a
// guarded request needs to prove that nothing was attempted: a resolver
// with fixed answers and a dialer, both counting their calls. The MCP tool
// tests run the same corpus through http_request.
package egresstest

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/egress"
)

// Dir is the corpus folder.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "attacks")
}

// lines returns the fields of the non-empty, non-comment lines of a file.
func lines(t testing.TB, name string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(Dir(), name))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, strings.Fields(line))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Destinations is the allowlist urls.txt runs against.
func Destinations(t testing.TB) []egress.Destination {
	t.Helper()
	var out []egress.Destination
	for _, f := range lines(t, "destinations.txt") {
		d := egress.Destination{URL: f[0]}
		for _, opt := range f[1:] {
			if opt == "allow_private" {
				d.AllowPrivate = true
			} else {
				d.Methods = strings.Split(opt, ",")
			}
		}
		out = append(out, d)
	}
	return out
}

// URLCase is one URL an agent may send and the class of its refusal.
type URLCase struct {
	Want error // egress.ErrInvalidURL, ErrNotAllowed or ErrBlockedAddress
	URL  string
}

// URLs reads urls.txt.
func URLs(t testing.TB) []URLCase {
	t.Helper()
	classes := map[string]error{"invalid_url": egress.ErrInvalidURL, "not_allowed": egress.ErrNotAllowed, "blocked": egress.ErrBlockedAddress}
	var out []URLCase
	for _, f := range lines(t, "urls.txt") {
		want, ok := classes[f[0]]
		if !ok || len(f) < 2 {
			t.Fatalf("urls.txt: bad line %q", f)
		}
		out = append(out, URLCase{Want: want, URL: strings.Join(f[1:], " ")})
	}
	return out
}

// DNSCase is a host name and the addresses it resolves to.
type DNSCase struct {
	Host  string
	Addrs []netip.Addr
}

// DNS reads dns.txt.
func DNS(t testing.TB) []DNSCase {
	t.Helper()
	var out []DNSCase
	for _, f := range lines(t, "dns.txt") {
		c := DNSCase{Host: f[0]}
		for _, a := range strings.Split(f[1], ",") {
			c.Addrs = append(c.Addrs, netip.MustParseAddr(a))
		}
		out = append(out, c)
	}
	return out
}

// RedirectCase is a redirect an allowed destination answers with.
type RedirectCase struct {
	Status   int
	Location string // with {other} and {self} for the tests' listeners
}

// Redirects reads redirects.txt.
func Redirects(t testing.TB) []RedirectCase {
	t.Helper()
	var out []RedirectCase
	for _, f := range lines(t, "redirects.txt") {
		status, err := strconv.Atoi(f[0])
		if err != nil {
			t.Fatalf("redirects.txt: bad status in %q", f)
		}
		out = append(out, RedirectCase{Status: status, Location: f[1]})
	}
	return out
}

// Net is a resolver with fixed answers and a dialer to the real network,
// counting what each was asked.
type Net struct {
	mu      sync.Mutex
	answers map[string][]netip.Addr
	lookups atomic.Int64
	dials   atomic.Int64
}

// NewNet returns a Net that resolves the names given and no other.
func NewNet(answers map[string][]netip.Addr) *Net {
	return &Net{answers: answers}
}

// Set changes the answer for host (a rebinding DNS server).
func (n *Net) Set(host string, addrs ...netip.Addr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.answers[host] = addrs
}

// Resolve is an egress.Resolver.
func (n *Net) Resolve(_ context.Context, host string) ([]netip.Addr, error) {
	n.lookups.Add(1)
	n.mu.Lock()
	defer n.mu.Unlock()
	a, ok := n.answers[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return a, nil
}

// Dial is an egress.Dialer.
func (n *Net) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	n.dials.Add(1)
	if _, err := netip.ParseAddrPort(address); err != nil {
		return nil, errors.New("egresstest: dialed a name, not a checked address: " + address)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

// Lookups and Dials count the calls so far.
func (n *Net) Lookups() int64 { return n.lookups.Load() }
func (n *Net) Dials() int64   { return n.dials.Load() }
