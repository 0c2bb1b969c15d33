package statuspage

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

// An attacker's wrong tokens, from the operator's own address, never keep
// the operator from signing in and revoking.
func TestWrongTokensNeverLockOutTheOperator(t *testing.T) {
	h := newHarness(t, nil)
	attacker := h.browser(t)
	var codes []int
	for range 50 {
		codes = append(codes, attacker.post("/login", h.origin, url.Values{"token": {"wrong"}}).status)
	}
	want := []int{401, 401, 401, 401, 401}
	for range 45 {
		want = append(want, http.StatusTooManyRequests)
	}
	if diff := cmp.Diff(want, codes); diff != "" {
		t.Fatalf("wrong tokens answered (-want +got):\n%s", diff)
	}

	operator := h.browser(t)
	csrf := operator.login() // at once: no wait after the attack
	r := operator.post("/revoke-agent", h.origin, url.Values{"csrf": {csrf}, "principal": {"alice"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("revoke under attack: %d\n%s", r.status, r.body)
	}
	if got := h.access.called(); len(got) != 1 || !strings.HasPrefix(got[0], "agent alice") {
		t.Errorf("asked of the access model: %v", got)
	}

	// Five wrong tokens, one closed sign-in (not 45), one sign-in.
	var details []string
	for _, ev := range h.audit.list() {
		if ev.Event == audit.Authentication {
			details = append(details, ev.Detail)
		}
	}
	wantDetails := []string{"wrong operator token", "wrong operator token", "wrong operator token", "wrong operator token", "wrong operator token",
		"sign-in closed for this address after repeated wrong tokens", "operator signed in to the status page"}
	if diff := cmp.Diff(wantDetails, details); diff != "" {
		t.Errorf("audited sign-ins (-want +got):\n%s", diff)
	}

	// The bucket refills: a wrong token is answered as wrong again.
	h.clock.Advance(failureEvery)
	if r := attacker.post("/login", h.origin, url.Values{"token": {"wrong"}}); r.status != http.StatusUnauthorized {
		t.Errorf("wrong token after %s = %d, want 401", failureEvery, r.status)
	}
}

// Wrong tokens from one address do not change how another's are answered.
func TestWrongTokensAreLimitedPerAddress(t *testing.T) {
	h := newHarness(t, nil)
	handler := h.s.Handler()
	try := func(remote, token string) int {
		req := httptest.NewRequest(http.MethodPost, h.origin+"/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", h.origin)
		req.RemoteAddr = remote
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, req)
		return w.Code
	}
	tests := []struct {
		name, attacker, other string
		want                  int
	}{
		{name: "ok/other-ipv4", attacker: "203.0.113.7:4000", other: "198.51.100.2:4000", want: http.StatusUnauthorized},
		{name: "ok/other-ipv6-prefix", attacker: "[2001:db8:1:2::7]:4000", other: "[2001:db8:1:3::7]:4000", want: http.StatusUnauthorized},
		{name: "fail/same-ipv4-other-port", attacker: "203.0.113.7:4000", other: "203.0.113.7:4001", want: http.StatusTooManyRequests},
		{name: "fail/same-ipv6-prefix", attacker: "[2001:db8:1:2::7]:4000", other: "[2001:db8:1:2::8]:4000", want: http.StatusTooManyRequests},
		{name: "fail/ipv4-mapped", attacker: "203.0.113.7:4000", other: "[::ffff:203.0.113.7]:4000", want: http.StatusTooManyRequests},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h.s.failures = newFailures()
			for range failureBurst {
				if got := try(tc.attacker, "wrong"); got != http.StatusUnauthorized {
					t.Fatalf("wrong token = %d", got)
				}
			}
			if got := try(tc.attacker, "wrong"); got != http.StatusTooManyRequests {
				t.Fatalf("sixth wrong token = %d, want 429", got)
			}
			if got := try(tc.other, "wrong"); got != tc.want {
				t.Errorf("wrong token from %s = %d, want %d", tc.other, got, tc.want)
			}
			if got := try(tc.attacker, testToken); got != http.StatusSeeOther {
				t.Errorf("right token from the limited address = %d, want a sign-in", got)
			}
		})
	}
}

// Wrong tokens from ever new addresses keep a bounded number of buckets.
func TestWrongTokenAddressesAreBounded(t *testing.T) {
	f := newFailures()
	now := t0
	for i := range 3 * maxFailureAddrs {
		key := netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.%d/32", i>>16&255, i>>8&255, i&255))
		for range failureBurst + 1 {
			f.wrong(key, now)
		}
		now = now.Add(time.Millisecond)
	}
	if n := len(f.byAddr); n > maxFailureAddrs {
		t.Errorf("%d addresses remembered, want at most %d", n, maxFailureAddrs)
	}
	// The latest address is still limited.
	if allowed, _ := f.wrong(netip.MustParsePrefix(fmt.Sprintf("10.0.%d.%d/32", (3*maxFailureAddrs-1)>>8&255, (3*maxFailureAddrs-1)&255)), now); allowed {
		t.Error("the latest address forgot its wrong tokens")
	}
}
