package vaultauth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// fakeVault keeps tokens as Vault does: a TTL, a maximum life, renewable or
// not, periodic or not. It runs on the bubble's clock (testing/synctest).
type fakeVault struct {
	mu     sync.Mutex
	tokens map[string]*fakeToken
	n      int
	// ttl, maxTTL, period and renewable shape the tokens login issues.
	ttl, maxTTL, period time.Duration
	renewable           bool
	down                bool // every call fails as if Vault were unreachable
	refuse              bool // logins are refused
	logins, renewals    int
	// lapses counts logins made after the previous token had expired:
	// a time when Gatekeeper had no working identity.
	lapses int
	last   string
}

type fakeToken struct {
	expires, hardEnd time.Time
	period           time.Duration
	renewable        bool
	revoked          bool
}

var errDown = &vault.Error{Kind: vault.ErrUnavailable, Op: "calling", Path: "x"}

func denied(path string) error {
	return &vault.Error{Kind: vault.ErrPermissionDenied, Op: "calling", Path: path}
}

func (f *fakeVault) issue(ttl, maxTTL, period time.Duration, renewable bool) string {
	f.n++
	tok := fmt.Sprintf("tok-%d", f.n)
	now := time.Now()
	t := &fakeToken{expires: now.Add(ttl), period: period, renewable: renewable}
	if period > 0 {
		t.expires = now.Add(period)
	}
	if ttl == 0 && period == 0 {
		t.expires = now.AddDate(100, 0, 0) // a token that does not expire: TTL 0
	}
	if maxTTL > 0 {
		t.hardEnd = now.Add(maxTTL)
	}
	if f.tokens == nil {
		f.tokens = map[string]*fakeToken{}
	}
	f.tokens[tok] = t
	return tok
}

// alive is a token that works now, or nil.
func (f *fakeVault) alive(tok sensitive.String) *fakeToken {
	t := f.tokens[tok.Reveal()]
	if t == nil || t.revoked || !time.Now().Before(t.expires) {
		return nil
	}
	return t
}

func (f *fakeVault) login(context.Context) (*vault.Auth, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.down:
		return nil, errDown
	case f.refuse:
		return nil, denied("auth/approle/login")
	}
	f.logins++
	if prev := f.tokens[f.last]; prev != nil && !prev.revoked && !time.Now().Before(prev.expires) {
		f.lapses++
	}
	tok := f.issue(f.ttl, f.maxTTL, f.period, f.renewable)
	f.last = tok
	ttl := f.ttl
	if f.period > 0 {
		ttl = f.period
	}
	return &vault.Auth{Token: sensitive.New(tok), Accessor: "acc-" + tok, TTL: ttl}, nil
}

func (f *fakeVault) LookupSelf(_ context.Context, tok sensitive.String) (*vault.TokenInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errDown
	}
	t := f.alive(tok)
	if t == nil {
		return nil, denied("auth/token/lookup-self")
	}
	ttl := time.Until(t.expires).Truncate(time.Second)
	if ttl > 50*365*24*time.Hour {
		ttl = 0
	}
	return &vault.TokenInfo{Accessor: "acc-" + tok.Reveal(), TTL: ttl, Renewable: t.renewable, Period: t.period}, nil
}

func (f *fakeVault) RenewSelf(_ context.Context, tok sensitive.String, inc time.Duration) (time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return 0, errDown
	}
	t := f.alive(tok)
	if t == nil {
		return 0, denied("auth/token/renew-self")
	}
	if !t.renewable {
		return 0, &vault.Error{Kind: vault.ErrInvalidRequest, Op: "renewing", Path: "auth/token/renew-self"}
	}
	f.renewals++
	if t.period > 0 {
		inc = t.period
	}
	end := time.Now().Add(inc)
	if !t.hardEnd.IsZero() && end.After(t.hardEnd) {
		end = t.hardEnd
	}
	t.expires = end
	return time.Until(end).Truncate(time.Second), nil
}

func (f *fakeVault) RevokeSelf(_ context.Context, tok sensitive.String) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errDown
	}
	if t := f.tokens[tok.Reveal()]; t != nil {
		t.revoked = true
	}
	return nil
}

func (f *fakeVault) set(change func(*fakeVault)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

func (f *fakeVault) works(tok sensitive.String) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.alive(tok) != nil
}

// running starts id.Run and returns what stops it.
func running(id *Identity) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { id.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// TestLoginLifecycle: a token with a maximum life is renewed while it can
// be and replaced by a new login before it ends, so that Token always
// works; Close revokes the current one.
func TestLoginLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeVault{ttl: 30 * time.Second, maxTTL: 2 * time.Minute, renewable: true}
		id, err := Start(t.Context(), Options{Vault: f, Login: f.login, Method: "approle"})
		if err != nil {
			t.Fatal(err)
		}
		stop := running(id)
		seen := map[string]bool{}
		for range 10 * 60 { // ten minutes, second by second
			time.Sleep(time.Second)
			synctest.Wait()
			tok := id.Token()
			if !f.works(tok) {
				t.Fatalf("at %s the current token %s does not work", time.Now().Format(time.TimeOnly), tok.Reveal())
			}
			seen[tok.Reveal()] = true
		}
		stop()
		if f.logins < 5 || len(seen) != f.logins {
			t.Errorf("%d logins, %d tokens seen: want one login per two minutes, each token used", f.logins, len(seen))
		}
		if f.renewals < 2*f.logins {
			t.Errorf("%d renewals for %d logins: want each token renewed until its maximum", f.renewals, f.logins)
		}
		if f.lapses > 0 {
			t.Errorf("%d of %d logins came after the token had expired: want each made in time", f.lapses, f.logins)
		}
		last := id.Token()
		if err := id.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if f.works(last) {
			t.Error("the token outlived Close")
		}
	})
}

// TestPeriodicNeverLogsInAgain: a periodic token is renewed for as long as
// it runs, with no new login.
func TestPeriodicNeverLogsInAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeVault{period: time.Hour, renewable: true}
		id, err := Start(t.Context(), Options{Vault: f, Login: f.login, Method: "kubernetes"})
		if err != nil {
			t.Fatal(err)
		}
		stop := running(id)
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		stop()
		if f.logins != 1 || f.renewals < 40 || !f.works(id.Token()) {
			t.Errorf("after a day: %d logins, %d renewals, token works %v; want 1, about 48, true", f.logins, f.renewals, f.works(id.Token()))
		}
	})
}

// TestRevokedTokenLogsInAgain: a token revoked behind Gatekeeper's back is
// replaced at the next renewal.
func TestRevokedTokenLogsInAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeVault{period: time.Minute, renewable: true}
		id, err := Start(t.Context(), Options{Vault: f, Login: f.login, Method: "approle"})
		if err != nil {
			t.Fatal(err)
		}
		stop := running(id)
		defer stop()
		old := id.Token()
		if err := f.RevokeSelf(t.Context(), old); err != nil {
			t.Fatal(err)
		}
		time.Sleep(31 * time.Second)
		synctest.Wait()
		if cur := id.Token(); cur.Equal(old) || !f.works(cur) {
			t.Errorf("after the revocation the token is %s (was %s), works %v", cur.Reveal(), old.Reveal(), f.works(cur))
		}
	})
}

// TestOutageRetries: while Vault is unreachable the identity retries, and
// once it is back a token is working again, even if the old one died
// meanwhile.
func TestOutageRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeVault{ttl: 20 * time.Second, renewable: true}
		id, err := Start(t.Context(), Options{Vault: f, Login: f.login, Method: "approle"})
		if err != nil {
			t.Fatal(err)
		}
		stop := running(id)
		defer stop()
		f.set(func(f *fakeVault) { f.down = true })
		time.Sleep(time.Minute) // the token's 20s run out
		synctest.Wait()
		if f.works(id.Token()) {
			t.Fatal("the fake let a token outlive its TTL")
		}
		f.set(func(f *fakeVault) { f.down = false })
		time.Sleep(Retry + time.Second)
		synctest.Wait()
		if !f.works(id.Token()) {
			t.Errorf("Vault is back for %s, and the identity has no working token", Retry+time.Second)
		}
	})
}

// TestStartRefused: a refused login stops the start, and says why without
// any credential.
func TestStartRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeVault{ttl: time.Minute, refuse: true}
		_, err := Start(t.Context(), Options{Vault: f, Login: f.login, Method: "approle"})
		if !errors.Is(err, vault.ErrPermissionDenied) || !strings.Contains(err.Error(), "approle") {
			t.Errorf("Start = %v, want permission denied naming approle", err)
		}
	})
}

// TestGivenToken: a given periodic token is renewed and never revoked by
// Close (it belongs to the operator); nothing logs in.
func TestGivenToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeVault{}
		tok := sensitive.New(f.issue(0, 0, time.Hour, true))
		id, err := Start(t.Context(), Options{Vault: f, Token: tok, Method: "token"})
		if err != nil {
			t.Fatal(err)
		}
		stop := running(id)
		time.Sleep(5 * time.Hour)
		synctest.Wait()
		stop()
		if err := id.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if !id.Token().Equal(tok) || !f.works(tok) || f.renewals < 9 || f.logins != 0 {
			t.Errorf("after 5h: same token %v, works %v, %d renewals, %d logins; want true, true, about 10, 0",
				id.Token().Equal(tok), f.works(tok), f.renewals, f.logins)
		}
	})
}

// TestLastingToken: a login that gives a token without expiry (TTL 0) is
// neither renewed nor replaced.
func TestLastingToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeVault{}
		id, err := Start(t.Context(), Options{Vault: f, Login: f.login, Method: "approle"})
		if err != nil {
			t.Fatal(err)
		}
		stop := running(id)
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		stop()
		if f.logins != 1 || f.renewals != 0 || !f.works(id.Token()) {
			t.Errorf("after a day: %d logins, %d renewals, token works %v; want 1, 0, true", f.logins, f.renewals, f.works(id.Token()))
		}
	})
}
