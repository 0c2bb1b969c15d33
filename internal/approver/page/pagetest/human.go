// Package pagetest is the human of the tests: it answers approval pages
// (package page) over plain HTTP, as a browser with JavaScript off would
// post the page's forms, from the page's own origin.
package pagetest

import (
	"errors"
	"fmt"
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
	state, body, err := h.Read(link)
	if err != nil {
		t.Fatal(err)
	}
	return state, body
}

// Code types code on the page at link and returns the page's state once
// the approver has checked it (or a bounded wait passed).
func (h Human) Code(t testing.TB, link, code string) string {
	t.Helper()
	state, err := h.Answer(link, url.Values{"code": {code}})
	if err != nil {
		t.Fatal(err)
	}
	return state
}

// Deny presses Deny on the page at link and returns the page's state.
func (h Human) Deny(t testing.TB, link string) string {
	t.Helper()
	state, err := h.Answer(link, nil)
	if err != nil {
		t.Fatal(err)
	}
	return state
}

// Read is Page for a goroutine that may not stop the test.
func (h Human) Read(link string) (state, body string, err error) {
	resp, err := h.client().Get(link)
	if err != nil {
		return "", "", fmt.Errorf("opening the approval page: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", "", fmt.Errorf("reading the approval page: %w", err)
	}
	m := stateAttr.FindSubmatch(b)
	if m == nil {
		return "", "", fmt.Errorf("the approval page (%d) has no status:\n%s", resp.StatusCode, b)
	}
	return string(m[1]), string(b), nil
}

// Answer posts a code (form "code") or, with a nil form, a Deny on the
// page at link, and returns the page's state after it; for a goroutine
// that may not stop the test.
func (h Human) Answer(link string, form url.Values) (string, error) {
	_, body, err := h.Read(link)
	if err != nil {
		return "", err
	}
	m := digestField.FindStringSubmatch(body)
	if m == nil {
		return "", fmt.Errorf("the approval page at %s takes no answer now:\n%s", link, body)
	}
	action := "code"
	if form == nil {
		action, form = "deny", url.Values{}
	}
	form.Set("digest", m[1])
	u, err := url.Parse(link)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequest(http.MethodPost, strings.TrimRight(link, "/")+"/"+action, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", u.Scheme+"://"+u.Host)
	resp, err := h.client().Do(req)
	if err != nil {
		return "", fmt.Errorf("answering the approval page: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return "", errors.New("answering the approval page (" + action + "): " + resp.Status)
	}
	state, _, err := h.Read(link)
	return state, err
}
