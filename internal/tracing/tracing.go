// Package tracing turns on OpenTelemetry traces of Gatekeeper's work: each
// MCP tool call, the approval it waited for and the Vault requests it made,
// exported over OTLP/HTTP to a collector the operator names.
//
// Traces are off by default: with no endpoint, every tracer is a no-op and
// costs nothing. Spans carry what the audit log carries (tool, principal,
// agent path, tier, outcome, correlation id) and never a value, a token or
// a passcode: Vault requests are traced by method and path only, with no
// headers or bodies.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Options configure tracing. An empty Endpoint turns it off.
type Options struct {
	// Endpoint is the collector's OTLP/HTTP base URL, e.g.
	// http://127.0.0.1:4318; spans go to its /v1/traces.
	Endpoint string
	// SampleRatio is the share of new traces kept (0 to 1); a call whose
	// caller sent a sampled traceparent is always kept.
	SampleRatio float64
	Version     string
}

// Tracing holds the provider every part takes its tracer from.
type Tracing struct {
	Provider trace.TracerProvider
	sdk      *sdktrace.TracerProvider
}

// Off is tracing turned off: no-op tracers.
func Off() *Tracing { return &Tracing{Provider: noop.NewTracerProvider()} }

// New returns tracing as opts say; Off when no endpoint is set.
func New(ctx context.Context, opts Options) (*Tracing, error) {
	if opts.Endpoint == "" {
		return Off(), nil
	}
	u, err := url.Parse(opts.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("tracing: the OTLP endpoint must be an http(s) URL")
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.JoinPath("/v1/traces").String()))
	if err != nil {
		return nil, fmt.Errorf("tracing: creating the OTLP exporter: %w", err)
	}
	res := resource.NewSchemaless(semconv.ServiceName("gatekeeper"), semconv.ServiceVersion(opts.Version))
	sdk := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(opts.SampleRatio))),
	)
	return &Tracing{Provider: sdk, sdk: sdk}, nil
}

// Enabled reports whether spans are exported.
func (t *Tracing) Enabled() bool { return t.sdk != nil }

// Shutdown exports what is buffered and stops.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t.sdk == nil {
		return nil
	}
	return t.sdk.Shutdown(ctx)
}

// Tracer is Gatekeeper's tracer.
func (t *Tracing) Tracer() trace.Tracer {
	return t.Provider.Tracer("github.com/gatekeeper-mcp/gatekeeper")
}

// Transport traces outgoing requests (to Vault) by method and path.
func (t *Tracing) Transport(rt http.RoundTripper) http.RoundTripper {
	if !t.Enabled() {
		return rt
	}
	return otelhttp.NewTransport(rt, otelhttp.WithTracerProvider(t.Provider),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "vault " + r.Method + " " + r.URL.Path }))
}

// Handler continues a trace an HTTP caller started (W3C traceparent).
func (t *Tracing) Handler(name string, h http.Handler) http.Handler {
	if !t.Enabled() {
		return h
	}
	return otelhttp.NewHandler(h, name, otelhttp.WithTracerProvider(t.Provider),
		otelhttp.WithPropagators(propagation.TraceContext{}))
}

// End ends span with err's status: what went wrong is named by its class
// only (the audit outcome), never by its text, which may name a path of
// Gatekeeper's own material.
func End(span trace.Span, outcome string, failed bool) {
	span.SetAttributes(attribute.String("gatekeeper.outcome", outcome))
	if failed {
		span.SetStatus(codes.Error, outcome)
	}
	span.End()
}
