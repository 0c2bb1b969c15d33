package httpserver

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// TestMetricsToken: without a token /metrics is open; with one, it answers
// only a request that carries it, and a refusal shows none of it.
func TestMetricsToken(t *testing.T) {
	const token = "a-metrics-token-of-at-least-32-bytes"
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "gatekeeper_up 1\n") })
	tests := []struct {
		name   string
		token  string
		header string
		want   int
	}{
		{"ok/open-without-a-token", "", "", http.StatusOK},
		{"ok/bearer", token, "Bearer " + token, http.StatusOK},
		{"fail/no-header", token, "", http.StatusUnauthorized},
		{"fail/wrong-token", token, "Bearer " + strings.ToUpper(token), http.StatusUnauthorized},
		{"fail/prefix-of-token", token, "Bearer " + token[:10], http.StatusUnauthorized},
		{"fail/token-without-scheme", token, token, http.StatusUnauthorized},
		{"fail/an-agent-key-is-not-it", token, "Bearer key-alice", http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(o *Options) { o.Metrics, o.MetricsToken = metrics, sensitive.New(tc.token) })
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, h.url+"/metrics", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := (&http.Client{Transport: h.transport}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			if tc.want == http.StatusUnauthorized {
				if resp.Header.Get("WWW-Authenticate") == "" || strings.Contains(string(body), token) || strings.Contains(string(body), "gatekeeper_up") {
					t.Errorf("refusal %q %q: want a challenge, no metrics and no token", resp.Header.Get("WWW-Authenticate"), body)
				}
			}
		})
	}
}
