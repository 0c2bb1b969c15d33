package main_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/nodetest"
)

// restResult is a REST answer: its status and JSON body.
type restResult struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// errorField is a field of the error object of a REST error answer.
func (r restResult) errorField(name string) string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e[name].(string)
	return s
}

// rest makes one REST call with hc; body, if not nil, is sent as JSON.
func (m *manyAgents) rest(t *testing.T, hc *http.Client, method, path string, body any) restResult {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, m.h.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := restResult{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("%s %s: %d, body %q is not a JSON object", method, path, resp.StatusCode, raw)
	}
	return r
}

// restStep is one call, made as an MCP tool call and as a REST request.
type restStep struct {
	tool         string
	args         map[string]any
	method, path string
	body         any
	status       int // REST's status (after the approval, if any)
	// approve: the call starts an approval; the agent relays the link,
	// the human answers and the same call again gives status.
	approve string // the tier asked for
}

// seen is a call's outcome as either front door shows it, without what
// differs from call to call (correlation ids, links, expiry times,
// versions).
type seen struct {
	OK  bool
	Msg string
	Out map[string]any
}

var (
	refPattern   = regexp.MustCompile(` \(ref [0-9a-f]+\)`)
	untilPattern = regexp.MustCompile(` \(open until [0-9:]+ UTC\)`)
)

func seenOf(ok bool, msg string, out map[string]any) seen {
	msg = untilPattern.ReplaceAllString(refPattern.ReplaceAllString(msg, ""), "")
	msg = approvalLink.ReplaceAllString(msg, "LINK")
	if ok {
		msg = ""
	}
	for _, k := range []string{"grants", "version", "created"} {
		delete(out, k)
	}
	if !ok {
		out = nil
	}
	return seen{OK: ok, Msg: msg, Out: out}
}

// TestRESTMatchesMCP drives the REST API with plain net/http as three
// agents (API key, JWT, client certificate) and makes the same calls as
// MCP tool calls: tiers, approvals and refusals match call for call, and
// the audit trail records both front doors alike.
func TestRESTMatchesMCP(t *testing.T) {
	t.Parallel()
	m := newManyAgents(t)
	others := map[string]string{"alice": "bob", "bob": "carol", "carol": "alice"}
	t.Run("agents", func(t *testing.T) {
		for _, who := range []string{"alice", "bob", "carol"} {
			t.Run(who, func(t *testing.T) {
				t.Parallel()
				a := m.session(t, who, "")
				hc := m.httpClient(t, who)
				data := map[string]any{"password": "pw-of-" + who}
				steps := []restStep{
					{tool: "token_status", method: "GET", path: "/v1/status", status: 200},
					{tool: "read_secret", args: map[string]any{"path": "db"}, method: "GET", path: "/v1/secrets/db", status: 200, approve: "read"},
					{tool: "read_secret", args: map[string]any{"path": `..\` + others[who] + `\db`}, method: "GET", path: "/v1/secrets/..%5C" + others[who] + "%5Cdb", status: 400},
					{tool: "read_secret", args: map[string]any{"path": others[who] + "/db"}, method: "GET", path: "/v1/secrets/" + others[who] + "/db", status: 404},
					{tool: "list_secrets", args: map[string]any{"path": ""}, method: "GET", path: "/v1/secrets", status: 200},
					{tool: "write_secret", args: map[string]any{"path": "db", "data": data}, method: "PUT", path: "/v1/secrets/db", body: map[string]any{"data": data}, status: 403},
					{tool: "escalate", args: map[string]any{"reason": "rotate the password"}, method: "POST", path: "/v1/escalate", body: map[string]any{"reason": "rotate the password"}, status: 200, approve: "write"},
					{tool: "write_secret", args: map[string]any{"path": "db", "data": data, "cas": 0}, method: "PUT", path: "/v1/secrets/db", body: map[string]any{"data": data, "cas": 0}, status: 409},
					{tool: "write_secret", args: map[string]any{"path": "db", "data": data}, method: "PUT", path: "/v1/secrets/db", body: map[string]any{"data": data}, status: 200},
					{tool: "release", method: "POST", path: "/v1/release", status: 200},
					{tool: "logout", method: "POST", path: "/v1/logout", status: 200},
				}
				viaMCP := func(s restStep) (seen, string) {
					r := a.call(s.tool, s.args)
					return seenOf(!r.isError, r.text, r.out), linkIn(r.text)
				}
				viaREST := func(s restStep, status int) (seen, string) {
					r := m.rest(t, hc, s.method, s.path, s.body)
					if r.status != status {
						t.Fatalf("%s %s: status %d, want %d: %s", s.method, s.path, r.status, status, r.raw)
					}
					if r.status != 200 && r.errorField("correlation_id") == "" {
						t.Errorf("%s %s: error without a correlation id: %s", s.method, s.path, r.raw)
					}
					if s.approve != "" && status == 403 && r.errorField("tier") != s.approve {
						t.Errorf("%s %s: 403 names tier %q, want %s", s.method, s.path, r.errorField("tier"), s.approve)
					}
					return seenOf(r.status == 200, r.errorField("message"), r.body), r.errorField("approval_url")
				}
				run := func(call func(restStep, int) (seen, string)) []seen {
					var out []seen
					for _, s := range steps {
						if s.approve != "" {
							first, link := call(s, 403)
							if first.OK || link == "" {
								t.Fatalf("%s: %+v, want the approval page's link to relay", s.tool, first)
							}
							if state := human.Code(t, link, a.code()); state != "approved" {
								t.Fatalf("%s: the approval page after the code: %s", s.tool, state)
							}
							out = append(out, first)
						}
						got, _ := call(s, s.status)
						out = append(out, got)
					}
					return out
				}
				mcpSeen := run(func(s restStep, _ int) (seen, string) { return viaMCP(s) })
				restSeen := run(viaREST)
				if diff := cmp.Diff(mcpSeen, restSeen); diff != "" {
					t.Errorf("%s: MCP and REST differ (-mcp +rest):\n%s", who, diff)
				}
				// The data came from Vault, for this agent only.
				if got := restSeen[2].Out["data"]; !cmp.Equal(got, map[string]any{"password": "pw-of-" + who}) {
					t.Errorf("%s read %v", who, got)
				}

				me := m.rest(t, hc, "GET", "/v1/whoami", nil)
				want := map[string]any{"principal": who, "tier": "none", "folder": "secret/agent/" + who}
				got := map[string]any{"principal": me.body["principal"], "tier": me.body["tier"], "folder": me.body["folder"]}
				if diff := cmp.Diff(want, got); diff != "" || len(me.body) != 4 || me.body["scopes"] == nil {
					t.Errorf("whoami = %s (-want +got):\n%s", me.raw, diff)
				}
			})
		}
	})

	events := m.h.auditEvents(t)
	type key struct{ principal, api string }
	calls := map[key][]string{}
	approvals, logins := map[key]int{}, map[key]string{}
	for _, ev := range events {
		k := key{str(ev["principal"]), str(ev["api"])}
		switch ev["event"] {
		case "tool.call":
			if ev["tool"] != "whoami" {
				calls[k] = append(calls[k], str(ev["tool"])+" "+str(ev["outcome"]))
			}
		case "approval.requested":
			approvals[k]++
		case "authentication":
			if ev["outcome"] == "ok" {
				logins[k] = str(ev["method"])
			}
		}
	}
	for who, method := range map[string]string{"alice": "api_key", "bob": "jwt", "carol": "mtls"} {
		mcp, rest := calls[key{who, "mcp"}], calls[key{who, "rest"}]
		if len(rest) == 0 {
			t.Errorf("no REST tool.call events for %s", who)
		}
		if diff := cmp.Diff(mcp, rest); diff != "" {
			t.Errorf("%s: audited calls (-mcp +rest):\n%s", who, diff)
		}
		if approvals[key{who, "mcp"}] != 2 || approvals[key{who, "rest"}] != 2 {
			t.Errorf("%s: approvals requested %d over MCP and %d over REST, want 2 and 2", who, approvals[key{who, "mcp"}], approvals[key{who, "rest"}])
		}
		if !strings.HasPrefix(logins[key{who, "rest"}], method) {
			t.Errorf("%s: REST authentication audited as %q, want %s", who, logins[key{who, "rest"}], method)
		}
	}

	t.Run("transit", func(t *testing.T) {
		alice := m.httpClient(t, "alice")
		r := m.rest(t, alice, "POST", "/v1/authenticate", nil)
		if r.status != 403 || r.errorField("approval_url") == "" {
			t.Fatalf("authenticate: %d %s, want 403 with the approval link", r.status, r.raw)
		}
		if state := human.Code(t, r.errorField("approval_url"), m.e.authFor["alice"].Code(t)); state != "approved" {
			t.Fatalf("the approval page after the code: %s", state)
		}
		if r := m.rest(t, alice, "POST", "/v1/authenticate", nil); r.status != 200 || r.body["tier"] != "read" {
			t.Fatalf("authenticate again: %d %s", r.status, r.raw)
		}
		enc := m.rest(t, alice, "POST", "/v1/transit/encrypt", map[string]any{"plaintext": "aGVsbG8="})
		ct, _ := enc.body["ciphertext"].(string)
		if enc.status != 200 || !strings.HasPrefix(ct, "vault:v1:") {
			t.Fatalf("encrypt: %d %s", enc.status, enc.raw)
		}
		if dec := m.rest(t, alice, "POST", "/v1/transit/decrypt", map[string]any{"ciphertext": ct}); dec.status != 200 || dec.body["plaintext"] != "aGVsbG8=" {
			t.Errorf("decrypt: %d %s", dec.status, dec.raw)
		}
		// carol's credential has no transit scope: the route is refused.
		if r := m.rest(t, m.httpClient(t, "carol"), "POST", "/v1/transit/decrypt", map[string]any{"ciphertext": ct}); r.status != 403 {
			t.Errorf("carol decrypting: %d %s, want 403", r.status, r.raw)
		}
		m.rest(t, alice, "POST", "/v1/logout", nil)
	})

	t.Run("refusals", func(t *testing.T) {
		dave := m.httpClient(t, "dave")
		if r := m.rest(t, dave, "GET", "/v1/secrets/db", nil); r.status != 403 || !strings.Contains(r.errorField("message"), `read_secret needs the "read" scope`) {
			t.Errorf("dave (list only) reading: %d %s", r.status, r.raw)
		}
		anon := m.h.client(nil, nil)
		for name, hc := range map[string]*http.Client{
			"no-credential": anon,
			"wrong-key":     m.h.client(nil, map[string]string{"X-API-Key": strings.Replace(aliceKey, "alice", "mallory", 1)}),
			"revoked-key":   m.h.client(nil, map[string]string{"X-API-Key": oldKey}),
		} {
			r := m.rest(t, hc, "GET", "/v1/whoami", nil)
			if r.status != 401 || r.header.Get("WWW-Authenticate") == "" || r.errorField("message") == "" {
				t.Errorf("%s: %d %v %s, want 401 with a challenge and a JSON error", name, r.status, r.header, r.raw)
			}
		}
		// DNS rebinding: a loopback server answers only to loopback names.
		req, _ := http.NewRequestWithContext(t.Context(), "GET", m.h.url+"/v1/whoami", nil)
		req.Host = "rebound.example"
		if resp, err := m.httpClient(t, "alice").Do(req); err != nil || resp.StatusCode != 403 {
			t.Errorf("a request for a foreign Host: %v %v, want 403", resp, err)
		} else {
			resp.Body.Close()
		}
		// A traversal the router cleans never reaches another agent's secret.
		if r := m.rest(t, m.httpClient(t, "alice"), "GET", "/v1/secrets/%2e%2e/bob/db", nil); r.status == 200 {
			t.Errorf("alice read through a traversal: %s", r.raw)
		}
	})

	t.Run("openapi", func(t *testing.T) {
		resp, err := m.h.client(nil, nil).Get(m.h.url + "/v1/openapi.json") // no credential needed
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("openapi.json: %d %s", resp.StatusCode, doc)
		}
		if res := nodetest.ValidateOpenAPI(t, doc); !res.Valid || res.Version != "3.1" {
			t.Fatalf("the served document is not valid OpenAPI 3.1 (%q): %s", res.Version, res.Errors)
		}
		var parsed struct {
			Paths map[string]map[string]any `json:"paths"`
		}
		_ = json.Unmarshal(doc, &parsed)
		var routes []string
		for p, item := range parsed.Paths {
			for method := range item {
				routes = append(routes, strings.ToUpper(method)+" "+p)
			}
		}
		for _, want := range []string{
			"GET /v1/secrets/{path}", "PUT /v1/secrets/{path}", "DELETE /v1/secrets/{path}", "GET /v1/secrets",
			"POST /v1/secrets/{path}:undelete", "POST /v1/secrets/{path}:destroy", "POST /v1/transit/encrypt",
			"POST /v1/transit/decrypt", "GET /v1/whoami", "POST /v1/authenticate", "POST /v1/escalate",
			"POST /v1/release", "POST /v1/logout", "GET /v1/status",
			// Every MCP tool is an operation, reachable and documented.
			"POST /v1/operations/read_secret", "POST /v1/operations/secret_metadata", "POST /v1/operations/sign",
		} {
			if !slices.Contains(routes, want) {
				t.Errorf("the document does not list %s", want)
			}
		}
	})

	t.Run("rate-limit", func(t *testing.T) {
		dave := m.httpClient(t, "dave")
		for range 200 {
			r := m.rest(t, dave, "GET", "/v1/status", nil)
			if r.status == 200 {
				continue
			}
			secs, err := strconv.Atoi(r.header.Get("Retry-After"))
			if r.status != 429 || err != nil || secs < 1 || r.body["error"].(map[string]any)["retry_after"] != float64(secs) {
				t.Fatalf("%d Retry-After %q: %s, want 429 with Retry-After", r.status, r.header.Get("Retry-After"), r.raw)
			}
			return
		}
		t.Error("200 calls in a row were never limited")
	})

	t.Run("vault-down", func(t *testing.T) {
		m.e.srv.Stop()
		r := m.rest(t, m.httpClient(t, "alice"), "POST", "/v1/authenticate", nil)
		if r.status != 503 || !strings.Contains(r.errorField("message"), "Vault is not answering") {
			t.Errorf("with Vault down: %d %s, want 503", r.status, r.raw)
		}
	})
}
