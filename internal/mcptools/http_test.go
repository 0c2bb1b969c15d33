package mcptools

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/egress"
	"github.com/gatekeeper-mcp/gatekeeper/internal/egress/egresstest"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

const httpToken = "ghp-CANARY-http-5e4d3c2b1a"

// mapKV is a KV store of fixed secrets that counts its reads.
type mapKV struct {
	Vault
	mu    sync.Mutex
	data  map[string]map[string]any
	reads []string
}

func (m *mapKV) KVReadVersion(_ context.Context, _ sensitive.String, mount, path string, _ int64) (*vault.KVSecret, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads = append(m.reads, mount+"/"+path)
	d, ok := m.data[path]
	if !ok {
		return nil, vault.ErrNotFound
	}
	return &vault.KVSecret{Data: d, Version: 1}, nil
}

func (m *mapKV) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.reads)
}

func newMapKV() *mapKV {
	return &mapKV{data: map[string]map[string]any{
		"agent/api/github": {
			"token": httpToken, "crlf": "abcd\r\nX-Evil: 1", "lf": "abcd\nefgh", "nul": "abcd\x00efgh",
		},
	}}
}

// httpSession serves the tools with a real egress client to an in-memory
// client, principal "p", folder "agent".
func httpSession(t *testing.T, eg Egress, kv Vault, rec Recorder) *mcp.ClientSession {
	t.Helper()
	return connectWith(t, Options{Access: &stubAccess{}, Vault: kv, Audit: rec, Egress: eg}, nil, "")
}

// callHTTP calls http_request and returns whether it failed, the text the
// model reads and the structured result.
func callHTTP(t *testing.T, cs *mcp.ClientSession, args map[string]any) (bool, string, HTTPOut) {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "http_request", Arguments: args})
	if err != nil {
		t.Fatalf("http_request: protocol error %v", err)
	}
	var text string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			text += tc.Text
		}
	}
	var out HTTPOut
	if res.StructuredContent != nil {
		b, _ := json.Marshal(res.StructuredContent)
		_ = json.Unmarshal(b, &out)
	}
	return res.IsError, text, out
}

// toolCalls returns the audit records of http_request since from.
func (r *recorder) since(from int) []audit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.all[from:])
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.all)
}

// refusedAndAudited checks one refused call: one tool.call record, outcome
// refused, with the destination; no intent unless the request was built.
func refusedAndAudited(t *testing.T, events []audit.Event, wantIntent bool) {
	t.Helper()
	var calls, intents int
	for _, e := range events {
		switch e.Event {
		case audit.ToolCall:
			calls++
			if e.Tool != "http_request" || e.Outcome != audit.Refused || e.Destination == "" || e.HTTPMethod == "" {
				t.Errorf("tool.call = %+v; want http_request refused with its destination and method", e)
			}
		case audit.ToolRequest:
			intents++
		}
	}
	if calls != 1 || (intents == 1) != wantIntent {
		t.Errorf("%d tool.call and %d tool.request records, want 1 and intent %v: %+v", calls, intents, wantIntent, events)
	}
	for _, e := range events {
		if b, _ := json.Marshal(e); strings.Contains(string(b), httpToken) {
			t.Errorf("an audit record holds the secret: %s", b)
		}
	}
}

// TestHTTPRequestAttackCorpus runs the egress attack corpus through the
// tool: every case is refused before any connection, audited, and never
// reads a secret it would not send.
func TestHTTPRequestAttackCorpus(t *testing.T) {
	n := egresstest.NewNet(map[string][]netip.Addr{})
	dests := egresstest.Destinations(t)
	for _, d := range egresstest.DNS(t) {
		n.Set(d.Host, d.Addrs...)
		dests = append(dests, egress.Destination{URL: "https://" + d.Host + "/"})
	}
	eg, err := egress.New(egress.Options{Destinations: dests, Resolve: n.Resolve, Dial: n.Dial})
	if err != nil {
		t.Fatal(err)
	}
	kv, rec := newMapKV(), &recorder{}
	cs := httpSession(t, eg, kv, rec)
	auth := map[string]any{"Authorization": `Bearer {{secret "api/github" "token"}}`}

	for i, tc := range egresstest.URLs(t) {
		t.Run(fmt.Sprintf("fail/url-%03d", i+1), func(t *testing.T) {
			from, reads := rec.len(), kv.count()
			failed, text, _ := callHTTP(t, cs, map[string]any{"url": tc.URL, "headers": auth})
			if !failed || !strings.Contains(text, "(ref ") {
				t.Fatalf("%s: %q; want a refusal", tc.URL, text)
			}
			refusedAndAudited(t, rec.since(from), false)
			if kv.count() != reads {
				t.Errorf("%s: a secret was read for a request refused by its URL", tc.URL)
			}
		})
	}
	for _, tc := range egresstest.DNS(t) {
		t.Run("fail/dns-"+tc.Host, func(t *testing.T) {
			from := rec.len()
			failed, text, _ := callHTTP(t, cs, map[string]any{"url": "https://" + tc.Host + "/x", "headers": auth})
			if !failed || !strings.Contains(text, "not allowed") {
				t.Fatalf("%q; want a refusal", text)
			}
			refusedAndAudited(t, rec.since(from), true)
		})
	}
	// A secret whose value would split a header or the URL.
	for _, tc := range []map[string]any{
		{"url": "https://api.example.com/repos/acme/x", "headers": map[string]any{"X-T": `{{secret "api/github" "crlf"}}`}},
		{"url": "https://api.example.com/repos/acme/x", "headers": map[string]any{"X-T": `a {{secret "api/github" "lf"}}`}},
		{"url": "https://api.example.com/repos/acme/x", "headers": map[string]any{"X-T": `{{secret "api/github" "nul"}}`}},
		{"url": `https://api.example.com/repos/acme/x?t={{secret "api/github" "crlf"}}`},
		{"url": `https://api.example.com/repos/acme/{{secret "api/github" "lf"}}`},
		{"url": "https://api.example.com/repos/acme/x", "headers": map[string]any{"X-T": "a\r\nHost: evil.example"}},
		{"url": "https://api.example.com/repos/acme/x", "headers": map[string]any{"Host": "evil.example"}},
		{"url": "https://api.example.com/repos/acme/x", "headers": map[string]any{"Accept-Encoding": "identity"}},
		{"url": `https://{{secret "api/github" "token"}}/repos/acme/x`},
		{"url": `https://user:{{secret "api/github" "token"}}@api.example.com/repos/acme/x`},
	} {
		t.Run("fail/injection", func(t *testing.T) {
			from := rec.len()
			failed, text, _ := callHTTP(t, cs, tc)
			if !failed || strings.Contains(text, "X-Evil") || strings.Contains(text, "efgh") {
				t.Fatalf("%v: %q; want a refusal that quotes no value", tc, text)
			}
			refusedAndAudited(t, rec.since(from), false)
		})
	}
	if n.Dials() != 0 {
		t.Errorf("%d connections for requests that were all refused", n.Dials())
	}
}

// echoServer checks the injected credential and echoes it back in every
// encoding a careless API might.
func echoServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if got != httpToken {
			http.Error(w, "bad credential", http.StatusUnauthorized)
			return
		}
		q := r.URL.Query().Get("t")
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Echo", got)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"raw": got, "query": q, "body": string(body),
			"base64": base64.StdEncoding.EncodeToString([]byte(got)), "base64url": base64.RawURLEncoding.EncodeToString([]byte(got)),
			"hex": hex.EncodeToString([]byte(got)), "url": url.QueryEscape(got), "json": `"` + got + `"`,
			"path": r.URL.EscapedPath(),
		})
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPRequest(t *testing.T) {
	srv := echoServer(t)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	eg, err := egress.New(egress.Options{Destinations: []egress.Destination{{URL: srv.URL + "/api/", Methods: []string{"GET", "POST"}, AllowPrivate: true}}, RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	kv, rec := newMapKV(), &recorder{}
	cs := httpSession(t, eg, kv, rec)
	failed, text, out := callHTTP(t, cs, map[string]any{
		"method":  "post",
		"url":     srv.URL + `/api/{{secret "api/github" "token"}}?t={{secret "api/github" "token"}}&plain=1`,
		"headers": map[string]any{"Authorization": `Bearer {{secret "api/github" "token"}}`, "Content-Type": "application/json"},
		"body":    `{"token": "{{secret "api/github" "token"}}"}`,
	})
	if failed {
		t.Fatalf("http_request failed: %s", text)
	}
	if out.Status != 200 || out.BodyEncoding != "text" {
		t.Fatalf("out = %+v", out)
	}
	const m = "[REDACTED:api/github#token]"
	var echo map[string]string
	if err := json.Unmarshal([]byte(out.Body), &echo); err != nil {
		t.Fatalf("body %q: %v", out.Body, err)
	}
	want := map[string]string{
		"raw": m, "query": m, "body": `{"token": "` + m + `"}`, "base64": m, "base64url": m, "hex": m, "url": m,
		"json": `"` + m + `"`, "path": "/api/" + m,
	}
	if diff := cmp.Diff(want, echo); diff != "" {
		t.Errorf("echo mismatch (-want +got):\n%s", diff)
	}
	if got := out.Headers["X-Echo"]; len(got) != 1 || got[0] != m {
		t.Errorf("X-Echo = %q", got)
	}
	if out.Redacted < 10 {
		t.Errorf("redacted = %d, want every echo counted", out.Redacted)
	}
	if strings.Contains(text, httpToken) || strings.Contains(out.Body, httpToken) {
		t.Fatalf("the secret reached the model: %s", text)
	}
	events := rec.since(0)
	var intent, call audit.Event
	for _, e := range events {
		if b, _ := json.Marshal(e); strings.Contains(string(b), httpToken) {
			t.Errorf("an audit record holds the secret: %s", b)
		}
		switch e.Event {
		case audit.ToolRequest:
			intent = e
		case audit.ToolCall:
			call = e
		}
	}
	wantDest := "https://" + srv.Listener.Addr().String() + `/api/{{secret "api/github" "token"}}`
	if intent.Destination != wantDest || intent.HTTPMethod != "POST" || intent.Secrets != "api/github#token" || intent.Reveal != "injected" {
		t.Errorf("intent = %+v; want destination %s", intent, wantDest)
	}
	if call.Outcome != audit.OK || call.Destination != wantDest || call.HTTPStatus != 200 || call.BytesReceived == 0 || call.BytesSent == 0 || call.Redactions != int64(out.Redacted) {
		t.Errorf("tool.call = %+v", call)
	}
	if len(kv.reads) != 1 || kv.reads[0] != "secret/agent/api/github" {
		t.Errorf("Vault reads = %v, want one of the secret", kv.reads)
	}
}

func TestHTTPRequestBinaryBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(append([]byte{0xff, 0xfe}, httpToken...))
	}))
	t.Cleanup(srv.Close)
	eg, err := egress.New(egress.Options{Destinations: []egress.Destination{{URL: srv.URL + "/", AllowPrivate: true}}})
	if err != nil {
		t.Fatal(err)
	}
	cs := httpSession(t, eg, newMapKV(), &recorder{})
	failed, text, out := callHTTP(t, cs, map[string]any{"url": srv.URL + "/", "headers": map[string]any{"X-T": `{{secret "api/github" "token"}}`}})
	if failed || out.BodyEncoding != "base64" {
		t.Fatalf("%q %+v", text, out)
	}
	b, _ := base64.StdEncoding.DecodeString(out.Body)
	if want := append([]byte{0xff, 0xfe}, "[REDACTED:api/github#token]"...); string(b) != string(want) {
		t.Errorf("body = %q, want %q", b, want)
	}
}

// The tool exists only for an agent with a destination, and a call by any
// other is refused again.
func TestHTTPRequestOnlyForAllowedAgents(t *testing.T) {
	eg, err := egress.New(egress.Options{Destinations: []egress.Destination{{URL: "https://api.example.com/", Agents: []string{"other"}}}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	cs := httpSession(t, eg, newMapKV(), rec)
	failed, text, _ := callHTTP(t, cs, map[string]any{"url": "https://api.example.com/"})
	if !failed || !strings.Contains(text, "not available to your credential") {
		t.Errorf("%q; want the tool refused", text)
	}
	if !Allowed("http_request", []string{"read"}) || Allowed("http_request", []string{"list", "write"}) {
		t.Error("http_request is not in the read scope")
	}
}
