// Package pagetest is the human of the tests: it answers approval pages
// (package page) over plain HTTP, as a browser with JavaScript off would
// post the page's forms, from the page's own origin.
package pagetest

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Human answers approval pages.
type Human struct {
	// Client reaches the pages; nil is a client that follows no redirect.
	Client *http.Client
}

func (h Human) client() *http.Client {
	if h.Client != nil {
		return h.Client
	}
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var (
	digestField = regexp.MustCompile(`name="digest" value="([0-9a-f]{64})"`)
	stateAttr   = regexp.MustCompile(`id="status" role="status" data-state="([a-z]*)"`)
)

// Page fetches the page at link and returns its state (pending, checking,
// approved, denied, expired, …) and its HTML.
func (h Human) Page(t testing.TB, link string) (state, body string) {
	t.Helper()
	resp, err := h.client().Get(link)
	if err != nil {
		t.Fatalf("opening the approval page: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the approval page: %v", err)
	}
	m := stateAttr.FindSubmatch(b)
	if m == nil {
		t.Fatalf("the approval page (%d) has no status:\n%s", resp.StatusCode, b)
	}
	return string(m[1]), string(b)
}

// Code types code on the page at link and returns the page's state once
// the approver has checked it (or a bounded wait passed).
func (h Human) Code(t testing.TB, link, code string) string {
	t.Helper()
	return h.post(t, link, "code", url.Values{"code": {code}})
}

// Deny presses Deny on the page at link and returns the page's state.
func (h Human) Deny(t testing.TB, link string) string {
	t.Helper()
	return h.post(t, link, "deny", nil)
}

func (h Human) post(t testing.TB, link, action string, form url.Values) string {
	t.Helper()
	_, body := h.Page(t, link)
	m := digestField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the approval page at %s takes no answer now:\n%s", link, body)
	}
	if form == nil {
		form = url.Values{}
	}
	form.Set("digest", m[1])
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, strings.TrimRight(link, "/")+"/"+action, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", u.Scheme+"://"+u.Host)
	resp, err := h.client().Do(req)
	if err != nil {
		t.Fatalf("answering the approval page: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("answering the approval page (%s): %s", action, resp.Status)
	}
	state, _ := h.Page(t, link)
	return state
}
