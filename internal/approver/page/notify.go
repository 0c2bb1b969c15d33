package page

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
)

// Webhook kinds.
const (
	WebhookGeneric = "generic" // a JSON object
	WebhookNtfy    = "ntfy"    // text body, Title and Click headers
	WebhookSlack   = "slack"   // {"text": …}, also what Mattermost and Rocket.Chat take
)

// Webhook tells the human where a request waits. Its Notify method fits
// Options.Notify. It sends what the page shows (approver.Describe) and the
// link, never a secret. The URL itself often is one (a Slack webhook, an
// ntfy topic): it is never logged or put in an error.
type Webhook struct {
	URL        string
	Kind       string       // WebhookGeneric (also when empty), WebhookNtfy or WebhookSlack
	HTTPClient *http.Client // nil: a client with a 10s timeout
	Logger     *slog.Logger // where Notify reports a failed delivery; nil discards
}

// Validate reports a URL or Kind that cannot work.
func (w *Webhook) Validate() error {
	var errs []error
	if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, errors.New("webhook URL is not an absolute http(s) URL"))
	}
	switch w.Kind {
	case "", WebhookGeneric, WebhookNtfy, WebhookSlack:
	default:
		errs = append(errs, fmt.Errorf("webhook kind %q is not generic, ntfy or slack", w.Kind))
	}
	return errors.Join(errs...)
}

// Notify sends the notification and logs a failure: the approval still
// waits, and the link is also in Gatekeeper's own log.
func (w *Webhook) Notify(ctx context.Context, link string, req access.Request) {
	if err := w.Send(ctx, link, req); err != nil && w.Logger != nil {
		w.Logger.Warn("approval notification failed", "request", req.ID, "kind", w.kind(), "err", err)
	}
}

// Send posts the notification and reports whether the receiver took it.
func (w *Webhook) Send(ctx context.Context, link string, req access.Request) error {
	if err := w.Validate(); err != nil {
		return err
	}
	body, ctype, headers, err := w.payload(link, req)
	if err != nil {
		return err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building the %s notification: %w", w.kind(), stripURL(err))
	}
	hreq.Header.Set("Content-Type", ctype)
	for k, v := range headers {
		hreq.Header.Set(k, v)
	}
	client := w.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(hreq)
	if err != nil {
		return fmt.Errorf("sending the %s notification: %w", w.kind(), stripURL(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("sending the %s notification: the receiver answered %s", w.kind(), resp.Status)
	}
	return nil
}

func (w *Webhook) kind() string {
	if w.Kind == "" {
		return WebhookGeneric
	}
	return w.Kind
}

// stripURL drops the URL that net/http puts in its errors.
func stripURL(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

func summary(req access.Request) string {
	return fmt.Sprintf("%s asks for %s access", access.Visible(string(req.Principal)), req.Tier)
}

// genericPayload is the JSON a generic receiver gets.
type genericPayload struct {
	Event     string      `json:"event"`
	Summary   string      `json:"summary"`
	Link      string      `json:"link"`
	RequestID string      `json:"request_id"`
	Expires   time.Time   `json:"expires"`
	Fields    []jsonField `json:"fields"` // in approver.Describe's order
}

type jsonField struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

func (w *Webhook) payload(link string, req access.Request) (body []byte, ctype string, headers map[string]string, err error) {
	fields := approver.Describe(req)
	switch w.kind() {
	case WebhookNtfy:
		var b strings.Builder
		for _, f := range fields {
			fmt.Fprintf(&b, "%s: %s\n", f.Label, f.Value)
		}
		fmt.Fprintf(&b, "\nAnswer at %s\n", link)
		return []byte(b.String()), "text/plain; charset=utf-8", map[string]string{
			"Title":    headerValue("Gatekeeper: " + summary(req)),
			"Click":    headerValue(link),
			"Tags":     "key",
			"Priority": "high",
		}, nil
	case WebhookSlack:
		var b strings.Builder
		fmt.Fprintf(&b, "*Gatekeeper*: %s\n", slackEscape(summary(req)))
		for _, f := range fields {
			fmt.Fprintf(&b, "• *%s*: %s\n", f.Label, slackEscape(f.Value))
		}
		fmt.Fprintf(&b, "<%s|Open the approval page>", slackEscape(link))
		body, err = json.Marshal(map[string]string{"text": b.String()})
		return body, "application/json", nil, err
	default:
		p := genericPayload{
			Event: "approval_requested", Summary: summary(req), Link: link,
			RequestID: req.ID, Expires: req.Expires.UTC(),
		}
		for _, f := range fields {
			p.Fields = append(p.Fields, jsonField(f))
		}
		body, err = json.Marshal(p)
		return body, "application/json", nil, err
	}
}

// headerValue makes agent-influenced text safe for a header: no control
// characters (no header injection), and RFC 2047 for non-ASCII, which ntfy
// decodes.
func headerValue(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return mime.QEncoding.Encode("utf-8", s)
}

// slackEscape escapes what Slack's mrkdwn treats as control characters, so
// that a reason like "<!channel>" or "<https://evil|click>" stays text.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
