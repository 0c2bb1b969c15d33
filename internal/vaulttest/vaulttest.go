// Package vaulttest starts real Vault dev servers for tests and acts as the
// approving human's authenticator app.
package vaulttest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/devvault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// Start runs a Vault dev server for the test and stops it at cleanup. With
// no binary available the test fails and says how to get one: integration
// tests never skip silently.
func Start(t testing.TB) *devvault.Server {
	t.Helper()
	bin, err := devvault.Find()
	if errors.Is(err, devvault.ErrNoBinary) {
		t.Fatalf("%v\nRun the tests with scripts/test, which builds Vault first.", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := devvault.Start(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Stop()
		if t.Failed() {
			t.Logf("dev Vault output:\n%s", srv.Output())
		}
	})
	return srv
}

// Client returns a Vault client for srv.
func Client(t testing.TB, srv *devvault.Server) *vault.Client {
	t.Helper()
	c, err := vault.New(vault.Options{Address: srv.Addr, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Root is srv's root token.
func Root(srv *devvault.Server) sensitive.String { return sensitive.New(srv.RootToken) }

// DefaultLayout is what the tests set up unless they say otherwise.
var DefaultLayout = setup.Layout{KVMount: "secret", Prefix: "agent", TransitMount: "transit", ReadTTL: 4 * time.Hour, WriteTTL: 15 * time.Minute}

// SetUp runs setup on srv as root and returns its result.
func SetUp(t testing.TB, srv *devvault.Server, l setup.Layout) *setup.Result {
	t.Helper()
	res, err := setup.Apply(t.Context(), Client(t, srv), Root(srv), setup.Options{Layout: l})
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	return res
}

// Authenticator is the approving human's authenticator app. Vault accepts a
// code once and, with skew 1, the codes of the previous, current and next
// periods, so Code hands out each of those once and waits for the next
// period only when all three are spent.
type Authenticator struct {
	key  *otp.Key
	mu   sync.Mutex
	used map[uint64]bool
	now  func() time.Time
}

// NewAuthenticator enrolls from an otpauth:// URL.
func NewAuthenticator(t testing.TB, url string) *Authenticator {
	t.Helper()
	key, err := otp.NewKeyFromURL(url)
	if err != nil {
		t.Fatalf("parsing the TOTP URL: %v", err)
	}
	return &Authenticator{key: key, used: map[uint64]bool{}, now: time.Now}
}

const period = 30

// Code returns a code Vault will accept and that was not handed out before.
func (a *Authenticator) Code(t testing.TB) string {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		now := a.now()
		c := uint64(now.Unix()) / period //nolint:gosec // G115: the clock is after 1970
		left := period - now.Unix()%period
		candidates := []uint64{c + 1, c}
		if left >= 5 {
			candidates = append(candidates, c-1)
		}
		for _, k := range candidates {
			if !a.used[k] {
				a.used[k] = true
				return a.code(t, k)
			}
		}
		time.Sleep(time.Duration(left)*time.Second + 100*time.Millisecond)
	}
}

// Wrong returns a well-formed code that Vault will refuse.
func (a *Authenticator) Wrong(t testing.TB) string {
	t.Helper()
	c := uint64(a.now().Unix()) / period //nolint:gosec // G115: the clock is after 1970
	valid := map[string]bool{}
	for k := c - 2; k <= c+2; k++ {
		valid[a.code(t, k)] = true
	}
	for i := 0; ; i++ {
		s := fmt.Sprintf("%06d", (123456+i*7919)%1000000)
		if !valid[s] {
			return s
		}
	}
}

func (a *Authenticator) code(t testing.TB, counter uint64) string {
	s, err := totp.GenerateCodeCustom(a.key.Secret(), time.Unix(int64(counter*period), 0), totp.ValidateOpts{ //nolint:gosec // G115: a counter taken from today's time
		Period: period, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		t.Fatalf("computing a TOTP code: %v", err)
	}
	return s
}
