package statuspage

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

func TestReloadButton(t *testing.T) {
	var mu sync.Mutex
	var calls []string // the session reference of each reload
	var fail error
	h := newHarness(t, func(o *Options) {
		o.Reload = func(ctx context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, audit.CorrelationID(ctx))
			return fail
		}
	})
	b := h.browser(t)
	csrf := b.login()
	if !strings.Contains(b.get("/").body, `action="/reload"`) {
		t.Fatal("the status page shows no Reload button")
	}
	// Refused without the page's CSRF token or from another origin.
	for _, r := range []response{
		b.post("/reload", h.origin, url.Values{}),
		b.post("/reload", h.origin, url.Values{"csrf": {csrf + "x"}}),
		b.post("/reload", "https://evil.example", url.Values{"csrf": {csrf}}),
		h.browser(t).post("/reload", h.origin, url.Values{"csrf": {csrf}}), // not signed in
	} {
		if r.status != http.StatusForbidden && r.status != http.StatusUnauthorized {
			t.Errorf("a forged reload = %d", r.status)
		}
	}
	if r := b.post("/reload", h.origin, url.Values{"csrf": {csrf}}); r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Fatalf("reload: %d %q", r.status, r.header.Get("Location"))
	}
	if page := b.get("/").body; !strings.Contains(page, "the new one is live") {
		t.Errorf("the page after a reload does not say so:\n%s", page)
	}
	mu.Lock()
	fail = errors.New("the new configuration was refused, the running one stays: agents[0] \"Alice\": not an agent name")
	mu.Unlock()
	r := b.post("/reload", h.origin, url.Values{"csrf": {csrf}})
	if r.status != http.StatusConflict || !strings.Contains(r.body, "the running one stays") {
		t.Errorf("a refused reload: %d\n%s", r.status, r.body)
	}
	ref := h.sessionRef(t)
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{ref, ref}, calls); diff != "" {
		t.Errorf("reloads run, by session (-want +got):\n%s", diff)
	}
}

func TestNoReloadButtonWithoutReload(t *testing.T) {
	h := newHarness(t, nil)
	b := h.browser(t)
	csrf := b.login()
	if strings.Contains(b.get("/").body, `action="/reload"`) {
		t.Error("the status page shows a Reload button with nothing to reload")
	}
	if r := b.post("/reload", h.origin, url.Values{"csrf": {csrf}}); r.status != http.StatusNotFound && r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST /reload without Reload = %d", r.status)
	}
}
