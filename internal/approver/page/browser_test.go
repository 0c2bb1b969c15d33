package page

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
	"github.com/gatekeeper-mcp/gatekeeper/internal/browsertest"
)

// TestBrowserCodePage: in real Chromium, with JavaScript off (the code
// page needs none), the human sees the request, types a wrong code, reads
// that it was refused, types the right one and sees the approval.
func TestBrowserCodePage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	req := testRequest("apr_browser", h.clock.Now())
	req.Reason = `deploy <script>alert("x")</script> & "quote"`
	p := h.open(t, req, Ask{Kind: Code})
	result := make(chan error, 1)
	go func() {
		for {
			code, err := p.Code(t.Context())
			if err != nil {
				result <- p.Finish(err)
				return
			}
			if code.Reveal() != "246810" && p.Retry("Vault did not accept that code.") {
				continue
			}
			result <- p.Finish(nil)
			return
		}
	}()

	tab := browsertest.Tab(t, browsertest.Options{NoScript: true})
	browsertest.Do(t, tab, chromedp.Navigate(p.Link()))
	shown := browsertest.Read(t, tab, chromedp.Text(chromedp.CSS("dl.fields")))
	for _, f := range approver.Describe(req) {
		if !strings.Contains(shown, f.Label) || !strings.Contains(shown, f.Value) {
			t.Errorf("page lacks %s: %q\n%s", f.Label, f.Value, shown)
		}
	}
	browsertest.Do(t, tab,
		chromedp.SendKeys(chromedp.ID("code"), "111 111"),
		chromedp.Click(chromedp.CSS("form.code button")),
	)
	// Back on the page, asking again. The wait names the refusal: the page
	// before the click also has a visible #code, so waiting for that alone
	// can read the old page.
	browsertest.WaitText(t, tab, "#status", "did not accept")
	browsertest.Do(t, tab,
		chromedp.SendKeys(chromedp.ID("code"), "246810"),
		chromedp.Click(chromedp.CSS("form.code button")),
		chromedp.WaitReady(`#status[data-state="approved"]`),
	)
	select {
	case err := <-result:
		if err != nil {
			t.Fatalf("approval = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the approver never heard the code")
	}
}

// TestBrowserDeny: the Deny button, in real Chromium, denies.
func TestBrowserDeny(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	req := testRequest("apr_deny", h.clock.Now())
	result := make(chan error, 1)
	go func() {
		result <- h.s.Elsewhere(t.Context(), req, "A push is on its way to your phone.", func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})
	}()
	link := <-h.announced
	tab := browsertest.Tab(t, browsertest.Options{NoScript: true})
	browsertest.Do(t, tab,
		chromedp.Navigate(link),
		chromedp.Click(chromedp.CSS("form.deny button")),
		chromedp.WaitReady(`#status[data-state="denied"]`),
	)
	if err := <-result; !errors.Is(err, access.ErrDenied) {
		t.Fatalf("approval = %v, want a denial", err)
	}
}
