package main_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// canaryHTTP is the credential http_request injects. Its characters make
// each encoding differ from the others (/ + = for base64 and URL escaping,
// < & > for JSON's HTML escaping).
const canaryHTTP = "CANARY-http-8c7b6a/+=<&>-must-not-leak"

const marker = "[REDACTED:app/http#token]"

// credentialEcho is a TLS service on 127.0.0.1 that requires the canary
// as a bearer token and echoes it back in every encoding a careless API
// might.
type credentialEcho struct {
	*httptest.Server
	caFile string
	mu     sync.Mutex
	got    []string // the credentials it was sent
}

func newCredentialEcho(t *testing.T) *credentialEcho {
	t.Helper()
	e := &credentialEcho{}
	e.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		e.mu.Lock()
		e.got = append(e.got, tok)
		e.mu.Unlock()
		if tok != canaryHTTP {
			http.Error(w, "wrong credential", http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		js, _ := json.Marshal(tok)
		w.Header().Set("X-Echo", tok)
		w.Header().Set("X-Echo-Base64", base64.StdEncoding.EncodeToString([]byte(tok)))
		_, _ = fmt.Fprintf(w, "raw: %s\nbase64: %s\nbase64url: %s\nurl: %s\nhex: %s\njson: %s\nquery: %s\nbody: %s\n",
			tok, base64.StdEncoding.EncodeToString([]byte(tok)), base64.RawURLEncoding.EncodeToString([]byte(tok)),
			url.QueryEscape(tok), hex.EncodeToString([]byte(tok)), js, r.URL.Query().Get("t"), body)
	}))
	e.Config.ErrorLog = log.New(io.Discard, "", 0)
	e.StartTLS()
	t.Cleanup(e.Close)
	e.caFile = filepath.Join(t.TempDir(), "echo-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.Certificate().Raw})
	if err := os.WriteFile(e.caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *credentialEcho) credentials() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.got...)
}

// config is the http_request section allowing the echo service to agents
// ("": every agent, the stdio agent included).
func (e *credentialEcho) config(agents string) string {
	list := ""
	if agents != "" {
		list = "      agents: [" + agents + "]\n"
	}
	return fmt.Sprintf(`http_request:
  destinations:
    - url: %s/api/
      methods: [GET, POST]
%s      allow_private: true
  ca_file: %s
`, e.URL, list, e.caFile)
}

// wantEcho is the echo as the agent must see it.
const wantEcho = "raw: " + marker + "\nbase64: " + marker + "\nbase64url: " + marker + "\nurl: " + marker +
	"\nhex: " + marker + "\njson: \"" + marker + "\"\nquery: " + marker + "\nbody: {\"token\": \"" + marker + "\"}\n"

// useCanary sends the canary through http_request and checks what came
// back, then tries what must be refused. It returns every text the model
// read.
func useCanary(t *testing.T, a *agent, echo *credentialEcho) []string {
	t.Helper()
	var seen []string
	record := func(r result) result {
		b, _ := json.Marshal(r.out)
		seen = append(seen, r.text, string(b))
		return r
	}
	r := record(a.call("http_request", map[string]any{
		"method":  "POST",
		"url":     echo.URL + `/api/echo?t={{secret "app/http" "token"}}`,
		"headers": map[string]any{"Authorization": `Bearer {{secret "app/http" "token"}}`, "Content-Type": "application/json"},
		"body":    `{"token": "{{secret "app/http" "token"}}"}`,
	}))
	if r.isError {
		t.Fatalf("http_request failed: %s", r.text)
	}
	if r.out["status"] != 200.0 || r.out["body"] != wantEcho || r.out["body_encoding"] != "text" {
		t.Errorf("http_request = %v\nbody:\n%s\nwant:\n%s", r.out, r.out["body"], wantEcho)
	}
	headers, _ := r.out["headers"].(map[string]any)
	if fmt.Sprint(headers["X-Echo"]) != "["+marker+"]" || fmt.Sprint(headers["X-Echo-Base64"]) != "["+marker+"]" {
		t.Errorf("echoed headers = %v", headers)
	}
	if got := echo.credentials(); len(got) == 0 || got[len(got)-1] != canaryHTTP {
		t.Errorf("the service was not sent the credential")
	}
	n := len(echo.credentials())
	for _, args := range []map[string]any{
		{"url": "https://127.0.0.1:1/api/x", "headers": map[string]any{"Authorization": `Bearer {{secret "app/http" "token"}}`}},
		{"url": echo.URL + "/other", "headers": map[string]any{"Authorization": `Bearer {{secret "app/http" "token"}}`}},
		{"url": "http://169.254.169.254/latest/meta-data/"},
		{"url": echo.URL + "/api/x", "method": "DELETE"},
		{"url": echo.URL + "/api/x", "headers": map[string]any{"X-A": `{{secret "app/http" "nope"}}`}},
	} {
		r := record(a.call("http_request", args))
		if !r.isError || !strings.Contains(r.text, "(ref ") {
			t.Errorf("http_request(%v) = %v, want a refusal", args, r.out)
		}
	}
	if len(echo.credentials()) != n {
		t.Errorf("a refused request reached the service")
	}
	// Withheld values can be used, not read.
	read := record(a.call("read_secret", map[string]any{"path": "app/http"}))
	if read.isError || read.out["revealed"] != false {
		t.Errorf("read_secret of a withheld path = %v %s", read.out, read.text)
	}
	return seen
}

// checkAudit finds the request's intent and call, which name the
// destination, method, secret and status, and refusals that name their
// destination.
func checkAudit(t *testing.T, events []map[string]any, echoURL string) {
	t.Helper()
	dest := echoURL + "/api/echo"
	var intent, ok, refused int
	for _, ev := range events {
		if ev["tool"] != "http_request" {
			continue
		}
		switch {
		case ev["event"] == "tool.request":
			intent++
			if ev["destination"] != dest || ev["http_method"] != "POST" || ev["secrets"] != "app/http#token" || ev["reveal"] != "injected" {
				t.Errorf("tool.request = %v", ev)
			}
		case ev["event"] == "tool.call" && ev["outcome"] == "ok":
			ok++
			if ev["destination"] != dest || ev["http_status"] != 200.0 || ev["bytes_sent"] == nil || ev["bytes_received"] == nil || ev["redactions"] == nil {
				t.Errorf("tool.call = %v", ev)
			}
		case ev["event"] == "tool.call" && ev["outcome"] == "refused":
			refused++
			if ev["destination"] == nil || ev["destination"] == "" {
				t.Errorf("refused tool.call without its destination: %v", ev)
			}
		}
	}
	if intent != 1 || ok != 1 || refused != 5 {
		t.Errorf("audit: %d intents, %d ok, %d refused http_request calls; want 1, 1, 5", intent, ok, refused)
	}
}

// noCanary searches every place for the canary and its encodings.
func noCanary(t *testing.T, places map[string]string) {
	t.Helper()
	forms := []string{canaryHTTP, base64.StdEncoding.EncodeToString([]byte(canaryHTTP)), hex.EncodeToString([]byte(canaryHTTP)),
		url.QueryEscape(canaryHTTP), "8c7b6a"}
	for where, text := range places {
		if text == "" {
			t.Errorf("%s is empty: the search would prove nothing", where)
		}
		for _, f := range forms {
			if strings.Contains(text, f) {
				t.Errorf("the %s contains the canary (%q)", where, f)
			}
		}
	}
}

const withheldHTTP = `reveal:
  rules:
    - {pattern: app/http, reveal: false}
`

func TestHTTPRequestStdio(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, err := e.vc.KVWrite(t.Context(), e.root, "secret", "agent/app/http", map[string]any{"token": canaryHTTP}); err != nil {
		t.Fatal(err)
	}
	if tools := toolNames(t, e.serve()); contains(tools, "http_request") {
		t.Fatal("http_request exists without a destination")
	}
	echo := newCredentialEcho(t)
	cfg := filepath.Join(t.TempDir(), "gk.yaml")
	if err := os.WriteFile(cfg, []byte(echo.config("")+withheldHTTP), 0o600); err != nil {
		t.Fatal(err)
	}
	a := e.serve("GATEKEEPER_CONFIG=" + cfg)
	if !contains(toolNames(t, a), "http_request") {
		t.Fatal("http_request is missing for an allowed agent")
	}
	a.authenticate()
	seen := useCanary(t, a, echo)
	checkAudit(t, a.auditEvents(), echo.URL)
	auditFile, err := os.ReadFile(a.audit)
	if err != nil {
		t.Fatal(err)
	}
	noCanary(t, map[string]string{"tool results": strings.Join(seen, "\n"), "debug log": a.stderr.String(), "audit file": string(auditFile)})
}

func TestHTTPRequestHTTP(t *testing.T) {
	t.Parallel()
	e := &env{t: t, srv: vaulttest.Start(t)}
	e.vc, e.root = vaulttest.Client(t, e.srv), vaulttest.Root(e.srv)
	res, err := setup.Apply(t.Context(), e.vc, e.root, setup.Options{Layout: vaulttest.DefaultLayout, Agents: []setup.AgentSetup{{Name: "ci"}, {Name: "other"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.res, e.auth = res, vaulttest.NewAuthenticator(t, res.TOTPURL)
	if _, err := e.vc.KVWrite(t.Context(), e.root, "secret", "agent/ci/app/http", map[string]any{"token": canaryHTTP}); err != nil {
		t.Fatal(err)
	}
	echo := newCredentialEcho(t)
	const ciKey, ciListKey, otherKey = "gk_http-request-ci-key-for-tests-00000", "gk_http-request-ci-list-key-for-tests-0", "gk_http-request-other-key-for-tests-000"
	h := e.serveHTTP(`
auth:
  api_keys:
    - {id: ci-key, agent: ci, sha256: `+sha(ciKey)+`, scopes: [read]}
    - {id: ci-list-key, agent: ci, sha256: `+sha(ciListKey)+`, scopes: [list]}
    - {id: other-key, agent: other, sha256: `+sha(otherKey)+`, scopes: [read, list]}
agents:
  - {name: ci}
  - {name: other}
`+echo.config("ci")+withheldHTTP, nil)
	connect := func(key string) *agent {
		return &agent{t: t, e: e, session: h.connect(t, h.client(nil, map[string]string{"X-API-Key": key}), ""),
			stderr: h.stderr, audit: h.audit, closed: true}
	}
	// The tool exists only for an agent with a destination and the read scope.
	if contains(toolNames(t, connect(otherKey)), "http_request") {
		t.Error("http_request is listed for an agent without a destination")
	}
	if contains(toolNames(t, connect(ciListKey)), "http_request") {
		t.Error("http_request is listed for a credential without the read scope")
	}
	a := connect(ciKey)
	a.name = "ci"
	if !contains(toolNames(t, a), "http_request") {
		t.Fatal("http_request is missing for an allowed agent")
	}
	a.authenticate()
	seen := useCanary(t, a, echo)
	checkAudit(t, h.auditEvents(t), echo.URL)

	resp, err := h.client(nil, nil).Get(h.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `tool="http_request"`) {
		t.Errorf("/metrics does not count http_request calls")
	}
	auditFile, err := os.ReadFile(h.audit)
	if err != nil {
		t.Fatal(err)
	}
	noCanary(t, map[string]string{"tool results": strings.Join(seen, "\n"), "debug log": h.stderr.String(),
		"audit file": string(auditFile), "metrics": string(metrics)})
}
