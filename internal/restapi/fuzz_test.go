package restapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRequest sends any method, target and body: the API never panics,
// answers JSON with a status it documents, and calls an operation only
// with a JSON object as input, once.
func FuzzRequest(f *testing.F) {
	f.Add("GET", "/v1/secrets/db?version=2", "")
	f.Add("PUT", "/v1/secrets/db", `{"data": {"k": "v"}, "cas": 1}`)
	f.Add("POST", "/v1/secrets/a/b:destroy", `{"versions": [1, 2], "reason": "x"}`)
	f.Add("DELETE", "/v1/secrets/db?versions=1,,2", "")
	f.Add("POST", "/v1/operations/read_secret", `{"path": "db"} trailing`)
	f.Add("GET", "/v1/secrets?prefix=%2e%2e&depth=-1&recursive=1", "")
	f.Add("PATCH", "/v1/secrets/:undelete", `null`)
	known := map[int]bool{200: true, 400: true, 404: true, 405: true, 413: true, 415: true}
	f.Fuzz(func(t *testing.T, method, target, body string) {
		if !strings.HasPrefix(target, "/v1/") || strings.ContainsAny(target, " \r\n\t#") || method == "" || strings.ContainsAny(method, " \r\n\t") {
			return
		}
		r, err := http.NewRequest(method, "http://gk"+target, strings.NewReader(body))
		if err != nil {
			return
		}
		ops := &fakeOps{}
		w := httptest.NewRecorder()
		newTestAPI(t, ops, true).ServeHTTP(w, r)
		if w.Code == http.StatusMovedPermanently || w.Code == http.StatusTemporaryRedirect {
			return // the ServeMux cleans paths with dot segments
		}
		if !known[w.Code] {
			t.Fatalf("%s %s: status %d", method, target, w.Code)
		}
		if w.Code == http.StatusOK && r.URL.Path != "/v1/openapi.json" {
			if len(ops.got) != 1 {
				t.Fatalf("%s %s: %d calls", method, target, len(ops.got))
			}
			var in map[string]any
			if err := json.Unmarshal(ops.got[0].Args, &in); err != nil || in == nil {
				t.Fatalf("%s %s: input %q is not an object", method, target, ops.got[0].Args)
			}
		} else if len(ops.got) != 0 {
			t.Fatalf("%s %s: status %d after calling %+v", method, target, w.Code, ops.got)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %s: body %q is not JSON", method, target, w.Body)
		}
	})
}
