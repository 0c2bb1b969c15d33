package page

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
)

// hiddenRequest carries, in every agent-chosen field, characters that
// would show the human something other than what was asked. The access
// model refuses them; a request that carries them anyway (read back from
// shared state, a principal from a credential) is shown with each one
// written out.
func hiddenRequest(now time.Time) access.Request {
	req := testRequest("apr_1", now)
	req.Principal = "ci\u2066-agent"
	req.Reason = "read only\u202e etirw dna"
	req.Trigger = "write_secret db\u200b/password"
	req.Paths = []string{"db\u2028password"}
	return req
}

var hiddenShown = []string{`ci\u2066-agent`, `read only\u202E etirw dna`, `write_secret db\u200B/password`, `db\u2028password`}

func assertShown(t *testing.T, where, text string) {
	t.Helper()
	// A document's own line breaks are fine; nothing else hidden is.
	if i := strings.IndexFunc(text, func(r rune) bool { return r != '\n' && access.Misleading(r) }); i >= 0 {
		t.Errorf("%s shows a hidden character at byte %d:\n%q", where, i, text)
	}
	for _, want := range hiddenShown {
		if !strings.Contains(text, want) {
			t.Errorf("%s lacks %q:\n%s", where, want, text)
		}
	}
}

func TestHiddenCharactersOnPage(t *testing.T) {
	h := newHarness(t, nil)
	p := h.open(t, hiddenRequest(h.clock.Now()), Ask{Kind: Code})
	status, _, body := h.get(t, path(t, p.Link()))
	if status != http.StatusOK {
		t.Fatalf("page: %d", status)
	}
	assertShown(t, "the approval page", body)
}

func TestHiddenCharactersInNotifications(t *testing.T) {
	for _, kind := range []string{WebhookGeneric, WebhookNtfy, WebhookSlack} {
		t.Run(kind, func(t *testing.T) {
			srv, got := receiver(t, http.StatusOK)
			w := &Webhook{URL: srv.URL, Kind: kind}
			if err := w.Send(context.Background(), "https://gk.example.com/approve/x", hiddenRequest(time.Now())); err != nil {
				t.Fatal(err)
			}
			r := <-got
			text := r.body
			if kind != WebhookNtfy {
				// JSON may escape some characters itself: check what the
				// receiver shows, the decoded strings.
				var v any
				if err := json.Unmarshal([]byte(r.body), &v); err != nil {
					t.Fatal(err)
				}
				text = strings.Join(stringsIn(v), "\n")
			}
			assertShown(t, kind+" notification", text)
		})
	}
}

// stringsIn returns every string in a decoded JSON value.
func stringsIn(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, stringsIn(e)...)
		}
		return out
	case map[string]any:
		var out []string
		for _, e := range v {
			out = append(out, stringsIn(e)...)
		}
		return out
	}
	return nil
}
