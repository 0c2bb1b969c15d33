package restapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// route is one named route: a method and pattern the ServeMux matches, the
// operation it calls and how the request becomes the operation's input.
// The same table serves the requests and writes the OpenAPI document.
type route struct {
	method  string
	pattern string // ServeMux pattern; "{path...}" is the secret's path
	// suffix, for POST /v1/secrets/{path}:verb, is ":verb".
	suffix    string
	operation string
	summary   string
	// query are the query parameters the route takes, as input fields.
	query []param
	// body says the request body is a JSON object of the input's fields
	// (those not in the URL).
	body bool
}

// param is a query parameter and the input field it fills; def, if set,
// fills it when the parameter is absent.
type param struct {
	name, field, kind, description string // kind: string, integer, boolean, integers (comma-separated)
	def                            any
}

var routes = []route{
	{method: http.MethodGet, pattern: "/v1/whoami", operation: "whoami", summary: "Who you are: principal, tier, scopes and folder (never a token)"},
	{method: http.MethodGet, pattern: "/v1/status", operation: "token_status", summary: "Your access now: tier, grants, pending approvals"},
	{method: http.MethodPost, pattern: "/v1/authenticate", operation: "authenticate", body: true, summary: "Ask the human for read access"},
	{method: http.MethodPost, pattern: "/v1/escalate", operation: "escalate", body: true, summary: "Ask the human for write access, with a reason"},
	{method: http.MethodPost, pattern: "/v1/release", operation: "release", summary: "Give up write access"},
	{method: http.MethodPost, pattern: "/v1/logout", operation: "logout", summary: "Give up all access"},
	{method: http.MethodGet, pattern: "/v1/secrets", operation: "list_secrets", summary: "List secrets under a prefix", query: []param{
		{name: "prefix", field: "path", kind: "string", def: "", description: "a folder relative to your secrets folder; empty for the top"},
		{name: "recursive", field: "recursive", kind: "boolean", description: "also list inside the folders"},
		{name: "depth", field: "depth", kind: "integer", description: "with recursive: how many levels (1 to 5)"},
	}},
	{method: http.MethodGet, pattern: "/v1/secrets/{path...}", operation: "read_secret", summary: "Read a secret", query: []param{
		{name: "version", field: "version", kind: "integer", description: "an older version to read; omit for the current one"},
	}},
	{method: http.MethodPut, pattern: "/v1/secrets/{path...}", operation: "write_secret", body: true, summary: "Write a secret's new version (data, optional cas)"},
	{method: http.MethodPatch, pattern: "/v1/secrets/{path...}", operation: "patch_secret", body: true, summary: "Change some fields of a secret"},
	{method: http.MethodDelete, pattern: "/v1/secrets/{path...}", operation: "delete_secret", summary: "Delete a secret's current version, or the listed ones (recoverable)", query: []param{
		{name: "versions", field: "versions", kind: "integers", description: "comma-separated versions; omit for the current one"},
	}},
	{method: http.MethodPost, pattern: "/v1/secrets/{path...}", suffix: ":undelete", operation: "undelete_secret", body: true, summary: "Bring back deleted versions"},
	{method: http.MethodPost, pattern: "/v1/secrets/{path...}", suffix: ":destroy", operation: "destroy_secret", body: true, summary: "Destroy versions permanently (asks the human every time)"},
	{method: http.MethodPost, pattern: "/v1/transit/encrypt", operation: "encrypt", body: true, summary: "Encrypt with your transit key"},
	{method: http.MethodPost, pattern: "/v1/transit/decrypt", operation: "decrypt", body: true, summary: "Decrypt with your transit key"},
}

// operationsPrefix is the generic route: POST /v1/operations/NAME calls
// any operation with its input object as the body, so a new operation is
// reachable, and documented, without a route of its own.
const operationsPrefix = "/v1/operations/"

// Routes lists the named routes as "METHOD /path", the secret's path
// written {path} as in the OpenAPI document, with the document's own route.
func Routes() []string {
	out := []string{"GET /v1/openapi.json"}
	for _, rt := range routes {
		out = append(out, rt.method+" "+rt.openAPIPath())
	}
	return out
}

// hasPath says whether the route's URL holds the secret's path.
func (rt route) hasPath() bool { return strings.Contains(rt.pattern, "{path...}") }

// openAPIPath is the route's path as OpenAPI writes it.
func (rt route) openAPIPath() string {
	return strings.Replace(rt.pattern, "{path...}", "{path}", 1) + rt.suffix
}

// input builds the operation's input from the request: the body's fields,
// the path from the URL, the query parameters.
func (rt route) input(r *http.Request, path string) (json.RawMessage, error) {
	in := map[string]any{}
	if rt.body {
		var err error
		if in, err = bodyObject(r); err != nil {
			return nil, err
		}
	}
	if rt.hasPath() {
		if _, given := in["path"]; given {
			return nil, badRequest("the path goes in the URL, not in the body")
		}
		in["path"] = path
	}
	q := r.URL.Query()
	for _, p := range rt.query {
		if !q.Has(p.name) {
			if p.def != nil {
				in[p.field] = p.def
			}
			continue
		}
		v := q.Get(p.name)
		switch p.kind {
		case "string":
			in[p.field] = v
		case "boolean":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, badRequest(p.name + " must be true or false")
			}
			in[p.field] = b
		case "integer":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, badRequest(p.name + " must be a whole number")
			}
			in[p.field] = n
		case "integers":
			var ns []int64
			for s := range strings.SplitSeq(v, ",") {
				n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
				if err != nil {
					return nil, badRequest(p.name + " must be whole numbers separated by commas")
				}
				ns = append(ns, n)
			}
			in[p.field] = ns
		}
	}
	return json.Marshal(in)
}
