package page

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
)

// received is one request a test receiver got.
type received struct {
	header http.Header
	body   string
}

func receiver(t *testing.T, status int) (*httptest.Server, chan received) {
	t.Helper()
	got := make(chan received, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost {
			t.Errorf("method %s, want POST", r.Method)
		}
		got <- received{r.Header.Clone(), string(b)}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func webhookRequest() (string, access.Request) {
	req := testRequest("apr_1", time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	req.Reason = "ship it <!channel> & <https://evil.example|click here>"
	return "https://gk.example.com/approve/apr_1", req
}

func TestWebhookGeneric(t *testing.T) {
	srv, got := receiver(t, http.StatusNoContent)
	link, req := webhookRequest()
	w := &Webhook{URL: srv.URL, Kind: WebhookGeneric}
	if err := w.Send(context.Background(), link, req); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var body struct {
		Event, Summary, Link string
		RequestID            string `json:"request_id"`
		Expires              time.Time
		Fields               []struct{ Label, Value string }
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, r.body)
	}
	if body.Event != "approval_requested" || body.Link != link || body.RequestID != "apr_1" || !body.Expires.Equal(req.Expires) || body.Summary != "ci-agent asks for write access" {
		t.Errorf("body = %+v", body)
	}
	var want []struct{ Label, Value string }
	for _, f := range approver.Describe(req) {
		want = append(want, struct{ Label, Value string }{f.Label, f.Value})
	}
	if diff := cmp.Diff(want, body.Fields); diff != "" {
		t.Errorf("fields mismatch (-want +got):\n%s", diff)
	}
	assertNoSecret(t, r)
}

func TestWebhookNtfy(t *testing.T) {
	srv, got := receiver(t, http.StatusOK)
	link, req := webhookRequest()
	req.Principal = "agent\r\nX-Injected: 1 – ünïcode"
	w := &Webhook{URL: srv.URL + "/gatekeeper-topic", Kind: WebhookNtfy}
	if err := w.Send(context.Background(), link, req); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.header.Get("Click") != link {
		t.Errorf("Click = %q, want the link", r.header.Get("Click"))
	}
	if r.header.Get("X-Injected") != "" {
		t.Error("a header was injected through the principal")
	}
	title, err := new(mime.WordDecoder).DecodeHeader(r.header.Get("Title"))
	if err != nil || !strings.Contains(title, "ünïcode asks for write access") || strings.ContainsAny(title, "\r\n") {
		t.Errorf("Title = %q (%v)", title, err)
	}
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Errorf("Content-Type = %q", r.header.Get("Content-Type"))
	}
	for _, f := range approver.Describe(req) {
		if !strings.Contains(r.body, f.Label+": "+f.Value) {
			t.Errorf("body lacks %s: %s\n%s", f.Label, f.Value, r.body)
		}
	}
	if !strings.Contains(r.body, link) {
		t.Errorf("body lacks the link:\n%s", r.body)
	}
	assertNoSecret(t, r)
}

func TestWebhookSlack(t *testing.T) {
	srv, got := receiver(t, http.StatusOK)
	link, req := webhookRequest()
	w := &Webhook{URL: srv.URL, Kind: WebhookSlack}
	if err := w.Send(context.Background(), link, req); err != nil {
		t.Fatal(err)
	}
	r := <-got
	var body map[string]string
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || len(body) != 1 {
		t.Fatalf("body is not {\"text\": …}: %v\n%s", err, r.body)
	}
	text := body["text"]
	if !strings.Contains(text, "<"+link+"|Open the approval page>") {
		t.Errorf("text lacks the link:\n%s", text)
	}
	if strings.Contains(text, "<!channel>") || strings.Contains(text, "<https://evil") {
		t.Errorf("the reason's mrkdwn is live:\n%s", text)
	}
	if !strings.Contains(text, "ship it &lt;!channel&gt; &amp; &lt;https://evil.example|click here&gt;") {
		t.Errorf("text lacks the escaped reason:\n%s", text)
	}
	for _, f := range approver.Describe(req) {
		if !strings.Contains(text, "*"+f.Label+"*") {
			t.Errorf("text lacks %s", f.Label)
		}
	}
	assertNoSecret(t, r)
}

func assertNoSecret(t *testing.T, r received) {
	t.Helper()
	all := r.body
	for k, v := range r.header {
		all += k + strings.Join(v, "")
	}
	if strings.Contains(all, "never-shown-passcode") {
		t.Error("the notification carries the passcode")
	}
}

func TestWebhookFailures(t *testing.T) {
	link, req := webhookRequest()
	srv, _ := receiver(t, http.StatusInternalServerError)
	secretURL := srv.URL + "/hooks/T000/B000/secret-webhook-path"
	err := (&Webhook{URL: secretURL, Kind: WebhookSlack}).Send(context.Background(), link, req)
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("Send to a failing receiver = %v, want the status", err)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	err = (&Webhook{URL: closed.URL + "/secret-webhook-path"}).Send(context.Background(), link, req)
	if err == nil || strings.Contains(err.Error(), "secret-webhook-path") {
		t.Errorf("Send to a closed port = %v, want an error without the URL", err)
	}
	for _, w := range []*Webhook{
		{URL: "ftp://example.com", Kind: WebhookNtfy},
		{URL: "https://example.com", Kind: "teams"},
		{URL: "", Kind: WebhookGeneric},
	} {
		if err := w.Send(context.Background(), link, req); err == nil {
			t.Errorf("Send with %+v succeeded", *w)
		}
	}
}

// TestWebhookAsNotify: Notify fits Options.Notify and is what Open calls,
// with the page's link.
func TestWebhookAsNotify(t *testing.T) {
	srv, got := receiver(t, http.StatusOK)
	w := &Webhook{URL: srv.URL, Kind: WebhookNtfy}
	h := newHarness(t, func(o *Options) { o.Notify = w.Notify })
	p := h.open(t, testRequest("apr_1", h.clock.Now()), Ask{Kind: Elsewhere, Where: "on your phone"})
	defer func() { _ = p.Finish(nil) }()
	select {
	case r := <-got:
		if r.header.Get("Click") != p.Link() {
			t.Errorf("Click = %q, want %q", r.header.Get("Click"), p.Link())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no notification")
	}
}
