package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/egress"
)

func TestHTTPRequest(t *testing.T) {
	const full = `
http_request:
  destinations:
    - url: https://api.github.com/repos/acme/
      methods: [GET, POST]
      agents: [ci]
    - url: http://127.0.0.1:9000/
      allow_private: true
  timeout: 10s
  max_response_bytes: 65536
  max_request_bytes: 4096
  ca_file: /etc/gatekeeper/extra-ca.pem
`
	tests := []struct {
		name    string
		env     []string
		file    string
		enabled bool
		want    string // an error containing this; "" for none
	}{
		{name: "ok/off-by-default", env: base},
		{name: "ok/stdio", env: base, file: full, enabled: true},
		{name: "ok/http", env: httpBase, file: full, enabled: true},
		{name: "ok/every-agent", env: httpBase, file: "http_request:\n  destinations: [{url: https://api.example.com}]\n", enabled: true},
		{name: "fail/undeclared-agent", env: httpBase, file: "http_request:\n  destinations: [{url: https://api.example.com/, agents: [builder]}]\n", want: `agent "builder" is not declared`},
		{name: "fail/bad-agent-name", env: base, file: "http_request:\n  destinations: [{url: https://api.example.com/, agents: [CI]}]\n", want: `"CI" is not an agent name`},
		{name: "fail/userinfo", env: base, file: "http_request:\n  destinations: [{url: 'https://u:p@api.example.com/'}]\n", want: "user information"},
		{name: "fail/query", env: base, file: "http_request:\n  destinations: [{url: 'https://api.example.com/?a=1'}]\n", want: "no query"},
		{name: "fail/scheme", env: base, file: "http_request:\n  destinations: [{url: 'ftp://api.example.com/'}]\n", want: "https:// or http://"},
		{name: "fail/host-spelling", env: base, file: "http_request:\n  destinations: [{url: 'http://2130706433/'}]\n", want: "canonical IP address nor a DNS name"},
		{name: "fail/method", env: base, file: "http_request:\n  destinations: [{url: 'https://a.example/', methods: [get, TRACE]}]\n", want: `method "TRACE"`},
		{name: "fail/timeout", env: base, file: "http_request:\n  timeout: 1h\n", want: "http_request.timeout"},
		{name: "fail/max-response", env: base, file: "http_request:\n  max_response_bytes: 100000000\n", want: "http_request.max_response_bytes"},
		{name: "fail/max-request", env: base, file: "http_request:\n  max_request_bytes: 0\n", want: "http_request.max_request_bytes"},
		{name: "fail/unknown-key", env: base, file: "http_request:\n  proxy: http://p\n", want: "proxy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadChecked(t, tc.env, tc.file)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("configuration refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
			if tc.want == "" && c.HTTPRequestEnabled() != tc.enabled {
				t.Errorf("HTTPRequestEnabled() = %v, want %v", c.HTTPRequestEnabled(), tc.enabled)
			}
		})
	}
}

func TestHTTPRequestEveryProblemAtOnce(t *testing.T) {
	_, err := loadChecked(t, httpBase, `
http_request:
  destinations:
    - {url: 'https://u@a.example/', agents: [nobody]}
    - {url: 'https://b.example/', methods: [FETCH]}
  timeout: 0s
  max_response_bytes: 1
`)
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 5 {
		t.Fatalf("Validate = %v; want 5 problems", err)
	}
}

func TestHTTPRequestEgressOptions(t *testing.T) {
	c, err := loadChecked(t, base, "http_request:\n  destinations: [{url: 'https://a.example/x', methods: [POST], agents: [ci], allow_private: true}]\n  ca_file: /ca.pem\n")
	if err != nil {
		t.Fatal(err)
	}
	want := egress.Options{
		Destinations:     []egress.Destination{{URL: "https://a.example/x", Methods: []string{"POST"}, Agents: []string{"ci"}, AllowPrivate: true}},
		Timeout:          30 * time.Second,
		MaxResponseBytes: 1 << 20,
		MaxRequestBytes:  1 << 20,
		CAFile:           "/ca.pem",
	}
	if diff := cmp.Diff(want, c.EgressOptions()); diff != "" {
		t.Errorf("EgressOptions mismatch (-want +got):\n%s", diff)
	}
}
