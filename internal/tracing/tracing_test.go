package tracing

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// collector is an OTLP/HTTP receiver that keeps what it was sent.
type collector struct {
	mu    sync.Mutex
	raw   [][]byte
	spans []*tracepb.Span
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "unexpected request", http.StatusBadRequest)
		return
	}
	b, _ := io.ReadAll(r.Body)
	var req collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.raw = append(c.raw, b)
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			c.spans = append(c.spans, ss.Spans...)
		}
	}
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

type fakeIssuer struct{ vault string }

func (f fakeIssuer) Issue(ctx context.Context, req access.Request, _ sensitive.String) (access.Issued, error) {
	// The approval talks to Vault, as the real issuers do.
	r, _ := http.NewRequestWithContext(ctx, "POST", f.vault+"/v1/auth/userpass/login/gatekeeper-read", nil)
	r.Header.Set("X-Vault-Token", canary)
	resp, err := client.Do(r)
	if err != nil {
		return access.Issued{}, err
	}
	resp.Body.Close()
	if req.Tier == access.Write {
		return access.Issued{}, access.ErrDenied
	}
	return access.Issued{Token: sensitive.New(canary), Accessor: "acc", TTL: req.TTL}, nil
}
func (fakeIssuer) Revoke(context.Context, sensitive.String) error { return nil }
func (fakeIssuer) Check(context.Context, sensitive.String) error  { return nil }

const canary = "hvs.CANARY-TOKEN-must-never-be-exported"

var client *http.Client

func TestSpansReachTheCollector(t *testing.T) {
	col := &collector{}
	colSrv := httptest.NewServer(col)
	defer colSrv.Close()
	vaultSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer vaultSrv.Close()

	tr, err := New(t.Context(), Options{Endpoint: colSrv.URL, SampleRatio: 1, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	client = &http.Client{Transport: tr.Transport(http.DefaultTransport)}
	iss := tr.Issuer(fakeIssuer{vault: vaultSrv.URL})

	ctx, tool := tr.Tracer().Start(context.Background(), "tool read_secret")
	if _, err := iss.Issue(ctx, access.Request{ID: "apr_1", Principal: "ci", Tier: access.Read}, sensitive.New(canary)); err != nil {
		t.Fatal(err)
	}
	End(tool, "ok", false)
	ctx, tool = tr.Tracer().Start(context.Background(), "tool escalate")
	if _, err := iss.Issue(ctx, access.Request{ID: "apr_2", Principal: "ci", Tier: access.Write}, sensitive.String{}); !errors.Is(err, access.ErrDenied) {
		t.Fatalf("Issue(write) = %v, want denied", err)
	}
	End(tool, "denied", true)
	if err := tr.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}

	col.mu.Lock()
	defer col.mu.Unlock()
	byName := map[string][]*tracepb.Span{}
	for _, s := range col.spans {
		byName[s.Name] = append(byName[s.Name], s)
	}
	approval, tool1 := byName["approval read"], byName["tool read_secret"]
	vault := byName["vault POST /v1/auth/userpass/login/gatekeeper-read"]
	if len(approval) != 1 || len(tool1) != 1 || len(vault) != 2 {
		t.Fatalf("spans = %v, want a tool, approval and vault span per call", names(col.spans))
	}
	if !bytes.Equal(approval[0].ParentSpanId, tool1[0].SpanId) {
		t.Errorf("the approval span is not a child of the tool call")
	}
	if !bytes.Equal(vault[0].ParentSpanId, approval[0].SpanId) && !bytes.Equal(vault[1].ParentSpanId, approval[0].SpanId) {
		t.Errorf("no Vault span is a child of the read approval")
	}
	denied := byName["approval write"]
	if len(denied) != 1 || denied[0].Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("denied approval span = %v, want error status", denied)
	}
	for _, b := range col.raw {
		if bytes.Contains(b, []byte(canary)) {
			t.Fatal("a token reached the trace collector")
		}
	}
}

func names(spans []*tracepb.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

func TestOffIsFree(t *testing.T) {
	tr, err := New(t.Context(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var next access.Issuer = fakeIssuer{}
	if tr.Enabled() || tr.Issuer(next) != next || tr.Transport(http.DefaultTransport) != http.DefaultTransport {
		t.Error("tracing off still wraps")
	}
	if _, err := New(t.Context(), Options{Endpoint: "ftp://x"}); err == nil {
		t.Error("a non-http endpoint was accepted")
	}
}
