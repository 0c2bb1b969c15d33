package restapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/jsonschema-go/jsonschema"

	"github.com/gatekeeper-mcp/gatekeeper/internal/mcptools"
)

// These tests cover the adapter alone: how a request becomes an operation's
// input and how an answer becomes HTTP. The operations themselves are
// tested in mcptools, and end to end in cmd/gatekeeper.

// fakeOps records the requests and answers with answer.
type fakeOps struct {
	got    []mcptools.Request
	answer func(req mcptools.Request) (any, error)
}

func (f *fakeOps) Call(_ context.Context, req mcptools.Request) (any, error) {
	f.got = append(f.got, req)
	if f.answer != nil {
		return f.answer(req)
	}
	return map[string]string{"done": req.Operation}, nil
}

// Specs are every operation a named route calls, plus one with no route.
func (f *fakeOps) Specs() []mcptools.Spec {
	names := []string{"patch_secret_only_generic"}
	for _, rt := range routes {
		names = append(names, rt.operation)
	}
	slices.Sort(names)
	var out []mcptools.Spec
	for _, n := range slices.Compact(names) {
		in := &jsonschema.Schema{Type: "object", Properties: map[string]*jsonschema.Schema{"path": {Type: "string"}, "data": {Type: "object"}}, Required: []string{"path"}}
		out = append(out, mcptools.Spec{Name: n, Title: n, Input: in, Output: &jsonschema.Schema{Type: "object"}})
	}
	return out
}

func newTestAPI(t *testing.T, ops *fakeOps, authenticated bool) http.Handler {
	t.Helper()
	a, err := New(Options{Operations: ops, MaxBodyBytes: 256, Version: "test",
		Caller: func(context.Context) (mcptools.Caller, bool) {
			return mcptools.Caller{Principal: "alice", Scopes: []string{"read"}}, authenticated
		}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", a)
	mux.Handle("GET /v1/openapi.json", a.Document())
	return mux
}

func do(t *testing.T, h http.Handler, method, target, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestRoutesBuildInputs(t *testing.T) {
	tests := []struct {
		name, method, target, body string
		op                         string
		args                       string
	}{
		{"whoami", "GET", "/v1/whoami", "", "whoami", `{}`},
		{"status", "GET", "/v1/status", "", "token_status", `{}`},
		{"authenticate", "POST", "/v1/authenticate", "", "authenticate", `{}`},
		{"escalate", "POST", "/v1/escalate", `{"reason": "rotate", "paths": ["db/"]}`, "escalate", `{"paths":["db/"],"reason":"rotate"}`},
		{"release", "POST", "/v1/release", "", "release", `{}`},
		{"logout", "POST", "/v1/logout", "", "logout", `{}`},
		{"read", "GET", "/v1/secrets/db/postgres", "", "read_secret", `{"path":"db/postgres"}`},
		{"read-version", "GET", "/v1/secrets/db?version=2", "", "read_secret", `{"path":"db","version":2}`},
		{"read-escaped", "GET", "/v1/secrets/a%20b", "", "read_secret", `{"path":"a b"}`},
		{"list-top", "GET", "/v1/secrets", "", "list_secrets", `{"path":""}`},
		{"list-prefix", "GET", "/v1/secrets?prefix=app&recursive=true&depth=2", "", "list_secrets", `{"depth":2,"path":"app","recursive":true}`},
		{"write", "PUT", "/v1/secrets/db", `{"data": {"k": "v"}, "cas": 3}`, "write_secret", `{"cas":3,"data":{"k":"v"},"path":"db"}`},
		{"patch", "PATCH", "/v1/secrets/db", `{"data": {"k": null}}`, "patch_secret", `{"data":{"k":null},"path":"db"}`},
		{"delete", "DELETE", "/v1/secrets/db", "", "delete_secret", `{"path":"db"}`},
		{"delete-versions", "DELETE", "/v1/secrets/db?versions=1,3", "", "delete_secret", `{"path":"db","versions":[1,3]}`},
		{"undelete", "POST", "/v1/secrets/db/pg:undelete", `{"versions": [2]}`, "undelete_secret", `{"path":"db/pg","versions":[2]}`},
		{"destroy", "POST", "/v1/secrets/db:destroy", `{"versions": [1], "reason": "leaked"}`, "destroy_secret", `{"path":"db","reason":"leaked","versions":[1]}`},
		{"encrypt", "POST", "/v1/transit/encrypt", `{"plaintext": "aGk="}`, "encrypt", `{"plaintext":"aGk="}`},
		{"decrypt", "POST", "/v1/transit/decrypt", `{"ciphertext": "vault:v1:x"}`, "decrypt", `{"ciphertext":"vault:v1:x"}`},
		{"generic", "POST", "/v1/operations/secret_metadata", `{"path": "db"}`, "secret_metadata", `{"path":"db"}`},
		{"json-charset", "POST", "/v1/escalate", `{"reason": "r"}`, "escalate", `{"reason":"r"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ops := &fakeOps{}
			w := do(t, newTestAPI(t, ops, true), tc.method, tc.target, tc.body, "Content-Type", "application/json; charset=utf-8")
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if len(ops.got) != 1 {
				t.Fatalf("calls = %+v, want one", ops.got)
			}
			req := ops.got[0]
			if req.Operation != tc.op || string(req.Args) != tc.args || req.API != "rest" || req.Caller.Principal != "alice" {
				t.Errorf("call = %s %s (api %q, caller %q), want %s %s", req.Operation, req.Args, req.API, req.Caller.Principal, tc.op, tc.args)
			}
			if w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("headers = %v", w.Header())
			}
		})
	}
}

func TestRequestsRefusedBeforeAnyCall(t *testing.T) {
	tests := []struct {
		name, method, target, body, contentType string
		status                                  int
	}{
		{"fail/not-json", "PUT", "/v1/secrets/db", `data=1`, "", http.StatusBadRequest},
		{"fail/array", "PUT", "/v1/secrets/db", `[1]`, "", http.StatusBadRequest},
		{"fail/two-objects", "PUT", "/v1/secrets/db", `{} {}`, "", http.StatusBadRequest},
		{"fail/path-in-body", "PUT", "/v1/secrets/db", `{"path": "other", "data": {}}`, "", http.StatusBadRequest},
		{"fail/form", "POST", "/v1/escalate", `reason=x`, "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"fail/too-large", "PUT", "/v1/secrets/db", `{"data": {"k": "` + strings.Repeat("x", 300) + `"}}`, "", http.StatusRequestEntityTooLarge},
		{"fail/version-not-a-number", "GET", "/v1/secrets/db?version=latest", "", "", http.StatusBadRequest},
		{"fail/versions-not-numbers", "DELETE", "/v1/secrets/db?versions=1,x", "", "", http.StatusBadRequest},
		{"fail/recursive-not-bool", "GET", "/v1/secrets?recursive=yes-please", "", "", http.StatusBadRequest},
		{"fail/unknown-verb", "POST", "/v1/secrets/db:rename", `{}`, "", http.StatusNotFound},
		{"fail/unknown-route", "GET", "/v1/nothing", "", "", http.StatusNotFound},
		{"fail/wrong-method", "DELETE", "/v1/whoami", "", "", http.StatusMethodNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ops := &fakeOps{}
			var hdr []string
			if tc.contentType != "" {
				hdr = []string{"Content-Type", tc.contentType}
			}
			w := do(t, newTestAPI(t, ops, true), tc.method, tc.target, tc.body, hdr...)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			var e Error
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Message == "" {
				t.Errorf("body %q is not a JSON error: %v", w.Body, err)
			}
			if len(ops.got) != 0 {
				t.Errorf("an operation was called: %+v", ops.got)
			}
		})
	}
	w := do(t, newTestAPI(t, &fakeOps{}, true), "DELETE", "/v1/whoami", "")
	if got := w.Header().Get("Allow"); got != "GET" {
		t.Errorf("Allow = %q, want GET", got)
	}
}

func TestErrorsAreJSONWithHonestStatus(t *testing.T) {
	tests := []struct {
		name   string
		err    *mcptools.CallError
		want   ErrorBody
		header string // Retry-After
	}{
		{"approval", &mcptools.CallError{Status: 403, Message: "The human must approve read access ... (ref ab)", CorrelationID: "ab", Tier: "read", ApprovalURL: "https://gk/approve/x"},
			ErrorBody{Message: "The human must approve read access ... (ref ab)", CorrelationID: "ab", Tier: "read", ApprovalURL: "https://gk/approve/x"}, ""},
		{"limited", &mcptools.CallError{Status: 429, Message: "Too many tool calls. (ref cd)", CorrelationID: "cd", RetryAfter: 1200 * time.Millisecond},
			ErrorBody{Message: "Too many tool calls. (ref cd)", CorrelationID: "cd", RetryAfter: 2}, "2"},
		{"vault-down", &mcptools.CallError{Status: 503, Message: "Vault is not answering right now. (ref ef)", CorrelationID: "ef"},
			ErrorBody{Message: "Vault is not answering right now. (ref ef)", CorrelationID: "ef"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ops := &fakeOps{answer: func(mcptools.Request) (any, error) { return nil, tc.err }}
			w := do(t, newTestAPI(t, ops, true), "GET", "/v1/secrets/db", "")
			if w.Code != tc.err.Status || w.Header().Get("Retry-After") != tc.header {
				t.Errorf("status %d Retry-After %q, want %d %q", w.Code, w.Header().Get("Retry-After"), tc.err.Status, tc.header)
			}
			var got Error
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got.Error); diff != "" {
				t.Errorf("error body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnauthenticatedCallsNothing(t *testing.T) {
	ops := &fakeOps{}
	if w := do(t, newTestAPI(t, ops, false), "GET", "/v1/whoami", ""); w.Code != http.StatusUnauthorized || len(ops.got) != 0 {
		t.Errorf("status %d, calls %v: want 401 and no call", w.Code, ops.got)
	}
}

// TestDocumentListsEveryRoute: each named route and a generic route per
// operation, with the operation's own input schema.
func TestDocumentListsEveryRoute(t *testing.T) {
	ops := &fakeOps{}
	w := do(t, newTestAPI(t, ops, true), "GET", "/v1/openapi.json", "")
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q", doc.OpenAPI)
	}
	var got []string
	for p, item := range doc.Paths {
		for m := range item {
			got = append(got, strings.ToUpper(m)+" "+p)
		}
	}
	want := []string{
		"GET /v1/whoami", "GET /v1/status", "POST /v1/authenticate", "POST /v1/escalate", "POST /v1/release", "POST /v1/logout",
		"GET /v1/secrets", "GET /v1/secrets/{path}", "PUT /v1/secrets/{path}", "PATCH /v1/secrets/{path}", "DELETE /v1/secrets/{path}",
		"POST /v1/secrets/{path}:undelete", "POST /v1/secrets/{path}:destroy", "POST /v1/transit/encrypt", "POST /v1/transit/decrypt",
	}
	for _, s := range ops.Specs() {
		want = append(want, "POST /v1/operations/"+s.Name)
	}
	slices.Sort(got)
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("documented routes (-want +got):\n%s", diff)
	}
	body := doc.Paths["/v1/secrets/{path}"]["put"]["requestBody"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)
	if _, ok := body["properties"].(map[string]any)["path"]; ok || body["required"] != nil {
		t.Errorf("PUT body schema still has the path that the URL carries: %v", body)
	}
	if _, ok := doc.Components.Schemas["read_secret_input"]; !ok {
		t.Error("the operations' input schemas are not components")
	}
}
