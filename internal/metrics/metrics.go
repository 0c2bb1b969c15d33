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
	// From the durations the audit events carry.
	approvalLatency *prometheus.HistogramVec
	grantLifetime   *prometheus.HistogramVec
	toolLatency     *prometheus.HistogramVec
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
	m.approvalLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gatekeeper_approval_duration_seconds", Help: "Time from an approval request to its decision, by tier and outcome.",
		// A push answered in seconds up to the approval timeout (minutes).
		Buckets: []float64{0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600},
	}, []string{"tier", "outcome"})
	m.grantLifetime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gatekeeper_grant_lifetime_seconds", Help: "How long grants lived, by tier and how they ended.",
		// Seconds (released at once) up to a working day of read access.
		Buckets: []float64{10, 60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 24 * 3600},
	}, []string{"tier", "how"})
	m.toolLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gatekeeper_tool_call_duration_seconds", Help: "Latency of MCP tool calls by tool and outcome, approvals included.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 18),
	}, []string{"tool", "outcome"})
	live := prometheus.NewDesc("gatekeeper_live_grants", "Live grants by tier.", []string{"tier"}, nil)
	m.reg.MustRegister(m.requests, m.toolCalls, m.approvals, m.auth, m.rateLimited, m.grantsEnded, m.vaultLatency,
		m.approvalLatency, m.grantLifetime, m.toolLatency,
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
		m.toolLatency.WithLabelValues(e.Tool, outcome).Observe(seconds(e.ElapsedMS))
	case audit.ApprovalDecided:
		m.approvals.WithLabelValues(e.Tier, outcome).Inc()
		m.approvalLatency.WithLabelValues(e.Tier, outcome).Observe(seconds(e.ElapsedMS))
	case audit.Authentication:
		m.auth.WithLabelValues(e.Method, outcome).Inc()
	case audit.RateLimited:
		kind := "tool_calls"
		if strings.HasPrefix(e.Detail, "approval") {
			kind = "approvals"
		}
		m.rateLimited.WithLabelValues(kind).Inc()
	case audit.GrantExpired, audit.GrantRevoked, audit.GrantReleased, audit.GrantLost:
		how := strings.TrimPrefix(e.Event, "grant.")
		m.grantsEnded.WithLabelValues(e.Tier, how).Inc()
		m.grantLifetime.WithLabelValues(e.Tier, how).Observe(seconds(e.LifetimeMS))
	}
	return nil
}

func seconds(ms int64) float64 { return float64(ms) / 1000 }

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
