package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStrict(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"ok/closes-objects", `{"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"string"}}}}}`,
			`{"type":"object","additionalProperties":false,"properties":{"a":{"type":"object","additionalProperties":false,"properties":{"b":{"type":"string"}}}}}`},
		{"ok/keeps-maps", `{"type":"object","additionalProperties":{"type":"string"}}`, `{"type":"object","additionalProperties":{"type":"string"}}`},
		{"ok/preserve-unknown", `{"type":"object","x-kubernetes-preserve-unknown-fields":true,"properties":{"a":{"type":"string"}}}`,
			`{"type":"object","x-kubernetes-preserve-unknown-fields":true,"properties":{"a":{"type":"string"}}}`},
		{"ok/int-or-string", `{"properties":{"port":{"type":"string","format":"int-or-string"}}}`,
			`{"additionalProperties":false,"properties":{"port":{"oneOf":[{"type":"string"},{"type":"integer"}]}}}`},
		{"ok/crd-int-or-string", `{"properties":{"port":{"anyOf":[{"type":"integer"},{"type":"string"}],"x-kubernetes-int-or-string":true}}}`,
			`{"additionalProperties":false,"properties":{"port":{"oneOf":[{"type":"string"},{"type":"integer"}],"x-kubernetes-int-or-string":true}}}`},
		{"ok/property-named-properties", `{"properties":{"properties":{"type":"string"}}}`,
			`{"additionalProperties":false,"properties":{"properties":{"type":"string"}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var in, want any
			mustJSON(t, tc.in, &in)
			mustJSON(t, tc.want, &want)
			if diff := cmp.Diff(want, strict(in)); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFromSwagger(t *testing.T) {
	doc := `{"definitions":{
	  "io.k8s.api.core.v1.Thing":{"type":"object","x-kubernetes-group-version-kind":[{"group":"","version":"v1","kind":"Thing"}],
	    "properties":{"spec":{"$ref":"#/definitions/io.k8s.api.core.v1.ThingSpec","description":"the spec"}}},
	  "io.k8s.api.core.v1.ThingSpec":{"type":"object","properties":{"self":{"$ref":"#/definitions/io.k8s.api.core.v1.ThingSpec"}}},
	  "io.k8s.api.apps.v1.Widget":{"type":"object","x-kubernetes-group-version-kind":[{"group":"apps.example.io","version":"v2","kind":"Widget"}]}
	}}`
	p := filepath.Join(t.TempDir(), "swagger.json")
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := fromSwagger(p)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	mustJSON(t, `{
	  "thing-v1.json":{"type":"object","additionalProperties":false,"x-kubernetes-group-version-kind":[{"group":"","version":"v1","kind":"Thing"}],
	    "properties":{"spec":{"type":"object","description":"the spec","additionalProperties":false,
	      "properties":{"self":{"description":"(recursive io.k8s.api.core.v1.ThingSpec, not checked)"}}}}},
	  "widget-apps-v2.json":{"type":"object","x-kubernetes-group-version-kind":[{"group":"apps.example.io","version":"v2","kind":"Widget"}]}
	}`, &want)
	gotJSON, _ := json.Marshal(got)
	var gotAny map[string]any
	mustJSON(t, string(gotJSON), &gotAny)
	if diff := cmp.Diff(want, gotAny); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func TestFromSwaggerRefusesUnknownRef(t *testing.T) {
	p := filepath.Join(t.TempDir(), "swagger.json")
	doc := `{"definitions":{"A":{"x-kubernetes-group-version-kind":[{"group":"","version":"v1","kind":"A"}],"properties":{"b":{"$ref":"#/definitions/Missing"}}}}}`
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := fromSwagger(p); err == nil {
		t.Fatal("an unknown reference was accepted")
	}
}

func TestFromCRD(t *testing.T) {
	crd := `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
spec:
  group: monitoring.coreos.com
  names: {kind: ServiceMonitor}
  versions:
    - name: v1
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: {type: object, properties: {jobLabel: {type: string}}}
---
apiVersion: v1
kind: ConfigMap
`
	p := filepath.Join(t.TempDir(), "crd.yaml")
	if err := os.WriteFile(p, []byte(crd), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := fromCRD(p)
	if err != nil {
		t.Fatal(err)
	}
	var want any
	mustJSON(t, `{"type":"object","additionalProperties":false,"properties":{"spec":{"type":"object","additionalProperties":false,"properties":{"jobLabel":{"type":"string"}}}}}`, &want)
	if diff := cmp.Diff(map[string]any{"servicemonitor-monitoring-v1.json": want}, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%v in %s", err, s)
	}
}
