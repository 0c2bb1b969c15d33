package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// DefaultHTTPTimeout bounds one POST to an HTTP collector.
const DefaultHTTPTimeout = 5 * time.Second

// HTTPOptions configure an HTTPSink.
type HTTPOptions struct {
	URL string
	// Timeout bounds each POST, connection included; default
	// DefaultHTTPTimeout. The decision waits for it.
	Timeout time.Duration
	// Authorization, if set, is sent as the Authorization header (for
	// example "Bearer …" or "Splunk …").
	Authorization sensitive.String
	// Transport replaces the default (tests); nil: a keep-alive transport
	// of its own.
	Transport http.RoundTripper
}

// HTTPSink POSTs each line, as one JSON object, to a collector, reusing
// connections. Any status other than 2xx is a failed write.
type HTTPSink struct {
	opts   HTTPOptions
	client *http.Client
}

// NewHTTPSink returns a sink that posts to o.URL.
func NewHTTPSink(o HTTPOptions) (*HTTPSink, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("the audit collector URL is not an http(s) URL")
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultHTTPTimeout
	}
	if o.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 4 // one at a time from the sink's writer, a few spare
		o.Transport = t
	}
	return &HTTPSink{opts: o, client: &http.Client{Timeout: o.Timeout, Transport: o.Transport}}, nil
}

func (s *HTTPSink) Name() string { return "http" }

func (s *HTTPSink) Write(line []byte) error {
	req, err := http.NewRequest(http.MethodPost, s.opts.URL, bytes.NewReader(line))
	if err != nil {
		return fmt.Errorf("posting to the audit collector: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if !s.opts.Authorization.IsZero() {
		req.Header.Set("Authorization", s.opts.Authorization.Reveal())
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// url.Error repeats the URL, which may carry a collector's token
		// in its query: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("posting to the audit collector: %w", err)
	}
	// Read the body out so the connection is reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the audit collector answered %s", resp.Status)
	}
	return nil
}

// Close drops idle connections.
func (s *HTTPSink) Close() error {
	s.client.CloseIdleConnections()
	return nil
}
