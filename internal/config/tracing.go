package config

import (
	"errors"
	"net/url"
)

// Tracing exports OpenTelemetry traces of tool calls, approvals and Vault
// requests over OTLP/HTTP. Off unless an endpoint is set.
type Tracing struct {
	// OTLPEndpoint is the collector's base URL, e.g. http://127.0.0.1:4318.
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// SampleRatio is the share of traces kept, 0 to 1 (default 1).
	SampleRatio float64 `yaml:"sample_ratio"`
}

func (t Tracing) check() []error {
	var errs []error
	if t.OTLPEndpoint != "" {
		if u, err := url.Parse(t.OTLPEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			errs = append(errs, errors.New("GATEKEEPER_OTLP_ENDPOINT (tracing.otlp_endpoint) is not an http(s) URL without credentials"))
		}
	}
	if t.SampleRatio < 0 || t.SampleRatio > 1 {
		errs = append(errs, errors.New("tracing.sample_ratio must be between 0 and 1"))
	}
	return errs
}
