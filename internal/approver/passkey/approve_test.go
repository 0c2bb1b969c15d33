package passkey

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/page"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// newBubbleApprover is an Approver on the bubble's clock, with pages and
// no server.
func newBubbleApprover(t *testing.T, notify func(context.Context, string, access.Request)) *Approver {
	t.Helper()
	store, err := NewFileStore(filepath.Join(t.TempDir(), "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	pages, err := page.New(page.Options{BaseURL: "http://localhost:8080", Notify: notify})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{RPID: "localhost", RPOrigins: []string{"http://localhost:8080"}, Store: store, Pages: pages})
	if err != nil {
		t.Fatal(err)
	}
	pages.UsePasskey(a, a.Handler())
	return a
}

func TestApproveTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		notified := make(chan string, 1)
		a := newBubbleApprover(t, func(_ context.Context, link string, _ access.Request) { notified <- link })
		start := time.Now()
		req := testRequest("apr_1", start)
		err := a.Approve(context.Background(), req)
		if !errors.Is(err, access.ErrApprovalTimeout) {
			t.Fatalf("Approve = %v, want ErrApprovalTimeout", err)
		}
		if waited := time.Since(start); waited != req.Expires.Sub(start) {
			t.Errorf("Approve waited %v, want until Expires (%v)", waited, req.Expires.Sub(start))
		}
		if link := <-notified; !strings.HasPrefix(link, "http://localhost:8080/approve/") || strings.Contains(link, req.ID) {
			t.Errorf("Notify link = %q", link)
		}
		if link, ok := a.opts.Pages.Link(req.ID); ok {
			t.Errorf("after the timeout the page is still offered: %s", link)
		}
	})
}

func TestApproveContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newBubbleApprover(t, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- a.Approve(ctx, testRequest("apr_1", time.Now())) }()
		synctest.Wait()
		cancel()
		err := <-done
		if !errors.Is(err, access.ErrApprovalTimeout) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Approve = %v, want ErrApprovalTimeout and context.Canceled", err)
		}
	})
}

func TestApproveAlreadyExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newBubbleApprover(t, func(context.Context, string, access.Request) { t.Error("Notify called for an expired request") })
		req := testRequest("apr_1", time.Now())
		req.Expires = time.Now().Add(-time.Second)
		if err := a.Approve(context.Background(), req); !errors.Is(err, access.ErrApprovalTimeout) {
			t.Fatalf("Approve = %v, want ErrApprovalTimeout", err)
		}
		synctest.Wait()
	})
}

func TestApproveRefusesBadRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newBubbleApprover(t, nil)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { _ = a.Approve(ctx, testRequest("apr_busy", time.Now())) }()
		synctest.Wait()
		for name, mod := range map[string]func(*access.Request){
			"fail/empty-id":      func(r *access.Request) { r.ID = "" },
			"fail/no-digest":     func(r *access.Request) { r.Digest = "" },
			"fail/no-expiry":     func(r *access.Request) { r.Expires = time.Time{} },
			"fail/same-id-twice": func(r *access.Request) { r.ID = "apr_busy" },
		} {
			req := testRequest("apr_1", time.Now())
			mod(&req)
			err := a.Approve(ctx, req)
			if err == nil || errors.Is(err, access.ErrApprovalTimeout) || errors.Is(err, access.ErrDenied) {
				t.Errorf("%s: Approve = %v, want a plain error", name, err)
			}
		}
		cancel()
		synctest.Wait()
		// An ended request cannot be asked again either: its page says
		// how it ended.
		if err := a.Approve(context.Background(), testRequest("apr_busy", time.Now())); err == nil || errors.Is(err, access.ErrApprovalTimeout) {
			t.Errorf("asking an ended request again: %v", err)
		}
	})
}

// TestApproveExpiresOnPage: a page visit after Expires (on the injected
// clock) ends the request, without waiting for the timer.
func TestApproveExpiresOnPage(t *testing.T) {
	h := newHarness(t, nil)
	registerSoftKey(t, h, "soft")
	p := h.start(t, testRequest("apr_1", h.clock.Now()))
	h.clock.Advance(11 * time.Minute)
	code, _, body := h.get(t, h.path("apr_1"))
	if code != http.StatusGone || !strings.Contains(body, "expired") || strings.Contains(body, "data-decision") {
		t.Errorf("page after Expires: %d\n%s", code, body)
	}
	if err := p.result(t); !errors.Is(err, access.ErrApprovalTimeout) {
		t.Fatalf("Approve = %v, want ErrApprovalTimeout", err)
	}
	if status, _ := h.post(t, h.path("apr_1")+"/begin", h.origin, map[string]string{"decision": "approve"}); status != http.StatusGone {
		t.Errorf("begin after Expires: %d, want 410", status)
	}
}

// TestAnswerAfterExpiry: an answer signed in time but posted after Expires
// counts for nothing.
func TestAnswerAfterExpiry(t *testing.T) {
	h := newHarness(t, nil)
	k := registerSoftKey(t, h, "soft")
	p := h.start(t, testRequest("apr_1", h.clock.Now()))
	answer := k.assertion(h.begin(t, "apr_1", approve), h.origin).json(t)
	h.clock.Advance(4 * time.Minute) // the challenge is still young...
	h.clock.Advance(7 * time.Minute) // ...but the request is over
	if status, out := h.finish(t, "apr_1", approve, answer); status != http.StatusGone {
		t.Errorf("finish after Expires: %d %v, want 410", status, out)
	}
	if err := p.result(t); !errors.Is(err, access.ErrApprovalTimeout) {
		t.Fatalf("Approve = %v, want ErrApprovalTimeout", err)
	}
}

func TestNewValidates(t *testing.T) {
	_, err := New(Options{
		RPOrigins:   []string{"http://gk.example.com", "https://gk.example.com/path"},
		EnrollToken: sensitive.New("short"),
	})
	if err == nil {
		t.Fatal("New accepted a bad configuration")
	}
	for _, want := range []string{"RPID is required", "http://gk.example.com", "/path", "Store", "enroll token", "Pages"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "short") {
		t.Error("the error shows the enroll token")
	}
}

// TestApproveShowsLink: the caller's link handler (approver.WithLinkHandler)
// gets the link as well as Notify.
func TestApproveShowsLink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newBubbleApprover(t, nil)
		shown := make(chan string, 1)
		ctx := approver.WithLinkHandler(context.Background(), func(_ context.Context, link approver.Link, _ access.Request) {
			if !link.Answer {
				t.Error("a passkey page is shown as one that takes no answer")
			}
			shown <- link.URL
		})
		if err := a.Approve(ctx, testRequest("apr_1", time.Now())); !errors.Is(err, access.ErrApprovalTimeout) {
			t.Fatalf("Approve = %v", err)
		}
		if link := <-shown; !strings.HasPrefix(link, "http://localhost:8080/approve/") {
			t.Errorf("shown link = %q", link)
		}
	})
}
