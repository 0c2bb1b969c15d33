package restapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/mcptools"
	"github.com/gatekeeper-mcp/gatekeeper/internal/nodetest"
)

// TestDocumentValidates checks the document built from the real
// operations table with an OpenAPI validator nobody here wrote, and that
// it offers every operation. A document the validator refuses must fail,
// or the check proves nothing.
func TestDocumentValidates(t *testing.T) {
	ops := mcptools.NewOperations(mcptools.Options{
		Access: struct{ mcptools.Access }{}, Vault: struct{ mcptools.Vault }{}, KVMount: "secret", TransitMount: "transit",
		Folder:  func(access.Principal) string { return "agent" },
		KeyName: func(_ access.Principal, k string) string { return k },
	})
	a, err := New(Options{Operations: ops, Version: "test", Caller: func(context.Context) (mcptools.Caller, bool) { return mcptools.Caller{}, false }})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	a.Document().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/openapi.json", nil))
	doc := w.Body.Bytes()

	res := nodetest.ValidateOpenAPI(t, doc)
	if !res.Valid || res.Version != "3.1" {
		t.Fatalf("the validator refuses the document (version %q): %s", res.Version, res.Errors)
	}
	var parsed struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(doc, &parsed); err != nil {
		t.Fatal(err)
	}
	for _, s := range ops.Specs() {
		if _, ok := parsed.Paths[operationsPrefix+s.Name]["post"]; !ok {
			t.Errorf("operation %s has no route in the document", s.Name)
		}
	}
	for _, rt := range routes {
		if _, ok := parsed.Paths[rt.openAPIPath()][strings.ToLower(rt.method)]; !ok {
			t.Errorf("route %s %s is not in the document", rt.method, rt.openAPIPath())
		}
	}

	broken := strings.Replace(string(doc), `"openapi":"3.1.0"`, `"openapi":"3.1.0","paths2":1`, 1)
	broken = strings.Replace(broken, `"responses":`, `"responses_":`, 1)
	if res := nodetest.ValidateOpenAPI(t, []byte(broken)); res.Valid {
		t.Error("the validator accepts a broken document")
	}
}
