package page

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
)

// TestCodePage: the human types a wrong code, then the right one; the
// approver gets each, the page says what happened, and once approved the
// link takes no more answers.
func TestCodePage(t *testing.T) {
	h := newHarness(t, nil)
	req := testRequest("apr_1", h.clock.Now())
	p := h.open(t, req, Ask{Kind: Code})

	link := <-h.announced
	if link != p.Link() || <-h.shown != link {
		t.Fatalf("announced and shown links differ from %s", p.Link())
	}
	if strings.Contains(link, req.ID) || strings.Contains(link, req.Digest) {
		t.Errorf("link %s leads from what the agent knows (request id, digest)", link)
	}
	tok := strings.TrimPrefix(path(t, link), "/approve/")
	if len(tok) != 43 {
		t.Errorf("link token %q is not 32 bytes of base64url", tok)
	}
	status, _, body := h.get(t, path(t, link))
	if status != http.StatusOK || state(body) != "pending" {
		t.Fatalf("page: %d %q", status, state(body))
	}
	for _, want := range []string{req.Reason, approver.ShortDigest(req.Digest), `name="code"`, `action="` + tok + `/code"`, `action="` + tok + `/deny"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "never-shown-passcode") {
		t.Error("the page shows the request's passcode")
	}

	// The approver's side: a wrong code, then the right one.
	result := make(chan error, 1)
	got := make(chan string, 4)
	go func() {
		for {
			code, err := p.Code(t.Context())
			if err != nil {
				result <- p.Finish(err)
				return
			}
			got <- code.Reveal()
			if code.Reveal() != "654321" && p.Retry("Vault did not accept that code.") {
				continue
			}
			result <- p.Finish(nil)
			return
		}
	}()
	form := url.Values{"digest": {req.Digest}, "code": {"123 456"}}
	if status, hdr, _ := h.postForm(t, path(t, link)+"/code", h.origin, form); status != http.StatusSeeOther || hdr.Get("Location") != "../"+tok {
		t.Fatalf("posting a code: %d, Location %q", status, hdr.Get("Location"))
	}
	if c := <-got; c != "123456" {
		t.Errorf("approver got %q, want the code without its space", c)
	}
	_, _, body = h.get(t, path(t, link))
	if state(body) != "pending" || !strings.Contains(body, "Vault did not accept that code. 2 tries left.") {
		t.Errorf("after a refused code: state %q, page:\n%s", state(body), body)
	}
	form.Set("code", "654321")
	h.postForm(t, path(t, link)+"/code", h.origin, form)
	if err := <-result; err != nil {
		t.Fatalf("Finish = %v", err)
	}
	_, _, body = h.get(t, path(t, link))
	if state(body) != "approved" || strings.Contains(body, `name="code"`) {
		t.Errorf("after approval: state %q, form still shown: %v", state(body), strings.Contains(body, `name="code"`))
	}
	// The link answered once: another code goes nowhere.
	form.Set("code", "111111")
	h.postForm(t, path(t, link)+"/code", h.origin, form)
	select {
	case c := <-p.codes:
		t.Errorf("a code after the approval reached the approver: %s", c.Reveal())
	default:
	}
	if _, ok := h.s.Link(req.ID); ok {
		t.Error("Link still offers an ended request's page")
	}
}

// TestCodeAttemptsBounded: the page takes MaxCodeAttempts codes per request.
func TestCodeAttemptsBounded(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxCodeAttempts = 2 })
	req := testRequest("apr_1", h.clock.Now())
	p := h.open(t, req, Ask{Kind: Code})
	more := make(chan bool, 4)
	go func() {
		for {
			if _, err := p.Code(t.Context()); err != nil {
				return
			}
			more <- p.Retry("Vault did not accept that code.")
		}
	}()
	form := url.Values{"digest": {req.Digest}, "code": {"000000"}}
	for i, want := range []bool{true, false} {
		h.postForm(t, path(t, p.Link())+"/code", h.origin, form)
		if got := <-more; got != want {
			t.Errorf("attempt %d: Retry = %v, want %v", i+1, got, want)
		}
	}
	h.postForm(t, path(t, p.Link())+"/code", h.origin, form)
	select {
	case <-more:
		t.Error("a third code reached the approver")
	case <-time.After(200 * time.Millisecond):
	}
	_, _, body := h.get(t, path(t, p.Link()))
	if !strings.Contains(body, "No tries are left") {
		t.Errorf("page after the last attempt:\n%s", body)
	}
}

// TestDeny: Deny on the page ends a code page and an elsewhere page as a
// denial, and wins over an approval that completes after it.
func TestDeny(t *testing.T) {
	t.Run("code", func(t *testing.T) {
		h := newHarness(t, nil)
		req := testRequest("apr_1", h.clock.Now())
		p := h.open(t, req, Ask{Kind: Code})
		errc := make(chan error, 1)
		go func() {
			_, err := p.Code(t.Context())
			errc <- p.Finish(err)
		}()
		if status, _, _ := h.postForm(t, path(t, p.Link())+"/deny", h.origin, url.Values{"digest": {req.Digest}}); status != http.StatusSeeOther {
			t.Fatalf("deny: %d", status)
		}
		if err := <-errc; !errors.Is(err, access.ErrDenied) || errors.Is(err, access.ErrWrongPasscode) {
			t.Fatalf("Code after Deny = %v, want a denial (which starts the cool-down)", err)
		}
		_, _, body := h.get(t, path(t, p.Link()))
		if state(body) != "denied" {
			t.Errorf("state %q after Deny", state(body))
		}
	})
	t.Run("elsewhere", func(t *testing.T) {
		h := newHarness(t, nil)
		req := testRequest("apr_2", h.clock.Now())
		pushed := make(chan struct{})
		errc := make(chan error, 1)
		go func() {
			errc <- h.s.Elsewhere(t.Context(), req, "A push is on its way to your phone.", func(ctx context.Context) error {
				close(pushed)
				<-ctx.Done() // a push nobody answers
				return ctx.Err()
			})
		}()
		<-pushed
		link := <-h.announced
		_, _, body := h.get(t, path(t, link))
		if !strings.Contains(body, "A push is on its way to your phone.") || !strings.Contains(body, `http-equiv="refresh"`) {
			t.Errorf("elsewhere page does not say where to answer, or does not refresh:\n%s", body)
		}
		h.postForm(t, path(t, link)+"/deny", h.origin, url.Values{"digest": {req.Digest}})
		if err := <-errc; !errors.Is(err, access.ErrDenied) {
			t.Fatalf("Elsewhere after Deny = %v, want a denial", err)
		}
	})
	t.Run("wins-over-a-late-approval", func(t *testing.T) {
		h := newHarness(t, nil)
		req := testRequest("apr_3", h.clock.Now())
		p := h.open(t, req, Ask{Kind: Code})
		h.postForm(t, path(t, p.Link())+"/deny", h.origin, url.Values{"digest": {req.Digest}})
		if err := p.Finish(nil); !errors.Is(err, access.ErrDenied) {
			t.Fatalf("Finish(nil) after Deny = %v, want a denial", err)
		}
	})
}

// TestForgedAnswers: answers from another origin, for another digest, to
// an unknown link, too large, or of the wrong kind change nothing.
func TestForgedAnswers(t *testing.T) {
	h := newHarness(t, nil)
	req := testRequest("apr_1", h.clock.Now())
	p := h.open(t, req, Ask{Kind: Code})
	good := url.Values{"digest": {req.Digest}, "code": {"123456"}}
	for _, tc := range []struct {
		name   string
		path   string
		origin string
		form   url.Values
		want   int
	}{
		{"fail/no-origin", path(t, p.Link()) + "/code", "", good, http.StatusForbidden},
		{"fail/foreign-origin", path(t, p.Link()) + "/code", "http://evil.example", good, http.StatusForbidden},
		{"fail/origin-other-port", path(t, p.Link()) + "/deny", "http://localhost:1", good, http.StatusForbidden},
		{"fail/other-digest", path(t, p.Link()) + "/code", h.origin, url.Values{"digest": {strings.Repeat("0", 64)}, "code": {"123456"}}, http.StatusForbidden},
		{"fail/no-digest", path(t, p.Link()) + "/deny", h.origin, url.Values{}, http.StatusForbidden},
		{"fail/request-id-as-link", "/approve/" + req.ID + "/deny", h.origin, good, http.StatusNotFound},
		{"fail/unknown-link", "/approve/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/code", h.origin, good, http.StatusNotFound},
		{"fail/too-large", path(t, p.Link()) + "/code", h.origin, url.Values{"digest": {req.Digest}, "x": {strings.Repeat("x", maxForm)}}, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, _, _ := h.postForm(t, tc.path, tc.origin, tc.form); status != tc.want {
				t.Errorf("status %d, want %d", status, tc.want)
			}
		})
	}
	// A passkey page's endpoints refuse a code page.
	if status, _, _ := h.get(t, "/approve/"+req.ID); status != http.StatusNotFound {
		t.Errorf("GET by request id: %d, want 404", status)
	}
	select {
	case c := <-p.codes:
		t.Errorf("a forged answer reached the approver: %s", c.Reveal())
	case <-p.Decided():
		t.Error("a forged Deny took effect")
	default:
	}
}

// TestExpiry: an unanswered request ends at its expiry; its page says so.
func TestExpiry(t *testing.T) {
	h := newHarness(t, nil)
	req := testRequest("apr_1", h.clock.Now())
	req.Expires = h.clock.Now().Add(300 * time.Millisecond)
	p := h.open(t, req, Ask{Kind: Code})
	_, err := p.Code(t.Context())
	if !errors.Is(err, access.ErrApprovalTimeout) {
		t.Fatalf("Code = %v, want a timeout", err)
	}
	status, _, body := h.get(t, path(t, p.Link()))
	if status != http.StatusGone || state(body) != "expired" {
		t.Errorf("page of an expired request: %d %q", status, state(body))
	}
	if err := p.Finish(err); !errors.Is(err, access.ErrApprovalTimeout) {
		t.Errorf("Finish = %v", err)
	}
}

// TestOpenRefuses: a request without digest or expiry, a second page for
// the same request, and a passkey page without a ceremony.
func TestOpenRefuses(t *testing.T) {
	h := newHarness(t, nil)
	req := testRequest("apr_1", h.clock.Now())
	noDigest := req
	noDigest.Digest = ""
	if _, err := h.s.Open(t.Context(), noDigest, Ask{Kind: Code}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("no digest: %v", err)
	}
	if _, err := h.s.Open(t.Context(), req, Ask{Kind: Passkey}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("passkey without a ceremony: %v", err)
	}
	h.open(t, req, Ask{Kind: Code})
	if _, err := h.s.Open(t.Context(), req, Ask{Kind: Code}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("a second page for one request: %v", err)
	}
}

// TestSecurityHeaders: every page carries them.
func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t, nil)
	p := h.open(t, testRequest("apr_1", h.clock.Now()), Ask{Kind: Code})
	for _, path := range []string{path(t, p.Link()), "/static/page.css", "/nowhere"} {
		_, hdr, _ := h.get(t, path)
		for k, want := range map[string]string{
			"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
			"X-Frame-Options":         "DENY",
			"Cache-Control":           "no-store",
			"Referrer-Policy":         "same-origin",
		} {
			if got := hdr.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", path, k, got, want)
			}
		}
	}
}
