// Package metrics exposes Prometheus metrics. Decisions are counted from the
// audit stream (every decision is an audit event already), so the access
// model and the tools know nothing of Prometheus; Vault latency is measured
// on the Vault client's HTTP transport, and live grants are read from the
// access model when scraped.
package metrics

import (
	"context"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

// Metrics holds Gatekeeper's collectors in their own registry.
type Metrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	toolCalls    *prometheus.CounterVec
	approvals    *prometheus.CounterVec
	auth         *prometheus.CounterVec
	rateLimited  *prometheus.CounterVec
	grantsEnded  *prometheus.CounterVec
	vaultLatency *prometheus.HistogramVec
}

// New registers every collector. liveGrants is read at scrape time.
func New(liveGrants func() map[access.Tier]int) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatekeeper_http_requests_total", Help: "HTTP requests by handler and status code.",
		}, []string{"handler", "code"}),
		toolCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatekeeper_tool_calls_total", Help: "MCP tool calls by tool and outcome.",
		}, []string{"tool", "outcome"}),
		approvals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatekeeper_approvals_total", Help: "Approval requests by tier and outcome.",
		}, []string{"tier", "outcome"}),
		auth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatekeeper_authentications_total", Help: "Client authentication decisions by method and outcome.",
		}, []string{"method", "outcome"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatekeeper_rate_limited_total", Help: "Refusals by a rate limit.",
		}, []string{"kind"}),
		grantsEnded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatekeeper_grants_ended_total", Help: "Grants that ended, by tier and how.",
		}, []string{"tier", "how"}),
		vaultLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatekeeper_vault_request_duration_seconds", Help: "Latency of requests to Vault.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"method", "code"}),
	}
	live := prometheus.NewDesc("gatekeeper_live_grants", "Live grants by tier.", []string{"tier"}, nil)
	m.reg.MustRegister(m.requests, m.toolCalls, m.approvals, m.auth, m.rateLimited, m.grantsEnded, m.vaultLatency,
		&gaugeFunc{desc: live, read: liveGrants},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Record counts a decision from the audit stream. It never fails.
func (m *Metrics) Record(_ context.Context, e audit.Event) error {
	outcome := string(e.Outcome)
	switch e.Event {
	case audit.ToolCall:
		m.toolCalls.WithLabelValues(e.Tool, outcome).Inc()
	case audit.ApprovalDecided:
		m.approvals.WithLabelValues(e.Tier, outcome).Inc()
	case audit.Authentication:
		m.auth.WithLabelValues(e.Method, outcome).Inc()
	case audit.RateLimited:
		kind := "tool_calls"
		if strings.HasPrefix(e.Detail, "approval") {
			kind = "approvals"
		}
		m.rateLimited.WithLabelValues(kind).Inc()
	case audit.GrantExpired, audit.GrantRevoked, audit.GrantReleased, audit.GrantLost:
		m.grantsEnded.WithLabelValues(e.Tier, strings.TrimPrefix(e.Event, "grant.")).Inc()
	}
	return nil
}

// InstrumentHandler counts requests to one handler.
func (m *Metrics) InstrumentHandler(name string, h http.Handler) http.Handler {
	return promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(prometheus.Labels{"handler": name}), h)
}

// InstrumentVault measures the Vault client's requests.
func (m *Metrics) InstrumentVault(rt http.RoundTripper) http.RoundTripper {
	return promhttp.InstrumentRoundTripperDuration(m.vaultLatency, rt)
}

// gaugeFunc reports live grants by tier when scraped.
type gaugeFunc struct {
	desc *prometheus.Desc
	read func() map[access.Tier]int
}

func (g *gaugeFunc) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *gaugeFunc) Collect(ch chan<- prometheus.Metric) {
	for tier, n := range g.read() {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(n), tier.String())
	}
}
