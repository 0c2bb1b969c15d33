package config

import (
	"fmt"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/clientauth"
	"github.com/gatekeeper-mcp/gatekeeper/internal/egress"
)

// HTTPRequest turns on http_request: the destinations agents may send a
// request to with secrets substituted by Gatekeeper, over stdio and HTTP
// alike. Without destinations the tool does not exist.
type HTTPRequest struct {
	Destinations     []HTTPDestination `yaml:"destinations"`
	Timeout          time.Duration     `yaml:"timeout"`            // a whole request, redirects included; default 30s
	MaxResponseBytes int64             `yaml:"max_response_bytes"` // a larger response is refused; default 1 MiB
	MaxRequestBytes  int64             `yaml:"max_request_bytes"`  // request body; default 1 MiB
	CAFile           string            `yaml:"ca_file"`            // extra CA certificates (PEM) for destinations
}

// HTTPDestination is one allowed destination (see egress.Destination).
type HTTPDestination struct {
	// URL is scheme://host[:port][/path-prefix].
	URL string `yaml:"url"`
	// Methods the agents may use; default [GET].
	Methods []string `yaml:"methods"`
	// Agents that may use it; empty means every agent, the stdio agent
	// included.
	Agents []string `yaml:"agents"`
	// AllowPrivate lets it reach loopback, private, link-local and CGNAT
	// addresses (never a cloud metadata service).
	AllowPrivate bool `yaml:"allow_private"`
}

// Bounds of the http_request settings.
const (
	minHTTPRequestBytes = 1 << 10
	maxHTTPRequestBytes = 16 << 20
)

func defaultHTTPRequest() HTTPRequest {
	return HTTPRequest{Timeout: egress.DefaultTimeout, MaxResponseBytes: egress.DefaultMaxResponseBytes, MaxRequestBytes: egress.DefaultMaxRequestBytes}
}

// HTTPRequestEnabled tells whether any agent may use http_request.
func (c Config) HTTPRequestEnabled() bool { return len(c.HTTPRequest.Destinations) > 0 }

// EgressOptions is the http_request configuration as package egress takes
// it.
func (c Config) EgressOptions() egress.Options {
	h := c.HTTPRequest
	o := egress.Options{Timeout: h.Timeout, MaxResponseBytes: h.MaxResponseBytes, MaxRequestBytes: h.MaxRequestBytes, CAFile: h.CAFile}
	for _, d := range h.Destinations {
		o.Destinations = append(o.Destinations, egress.Destination{URL: d.URL, Methods: d.Methods, Agents: d.Agents, AllowPrivate: d.AllowPrivate})
	}
	return o
}

func (c Config) validateHTTPRequest(declared map[string]bool) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	h := c.HTTPRequest
	for i, d := range h.Destinations {
		where := fmt.Sprintf("http_request.destinations[%d] (%s)", i, d.URL)
		if err := egress.CheckDestination(egress.Destination{URL: d.URL, Methods: d.Methods, AllowPrivate: d.AllowPrivate}); err != nil {
			add("%s: %w", where, err)
		}
		for _, a := range d.Agents {
			switch {
			case !clientauth.ValidAgent(a):
				add("%s: %q is not an agent name (lower-case letters, digits, - and _)", where, a)
			case c.HTTP.Listen != "" && !declared[a]:
				add("%s: agent %q is not declared in agents", where, a)
			}
		}
	}
	if h.Timeout < time.Second || h.Timeout > 10*time.Minute {
		add("http_request.timeout must be between 1s and 10m (got %s)", h.Timeout)
	}
	for name, n := range map[string]int64{"max_response_bytes": h.MaxResponseBytes, "max_request_bytes": h.MaxRequestBytes} {
		if n < minHTTPRequestBytes || n > maxHTTPRequestBytes {
			add("http_request.%s must be between %d and %d (got %d)", name, minHTTPRequestBytes, maxHTTPRequestBytes, n)
		}
	}
	return errs
}
