package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const head = `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: gatekeeper}
spec:
  source:
    repoURL: https://github.com/gatekeeper-mcp/gatekeeper.git
    path: deploy/helm/gatekeeper
`

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr string
	}{
		{"ok/values-object", head + "    helm:\n      valuesObject:\n        replicaCount: 1\n        vault: {address: https://vault:8200}\n",
			"replicaCount: 1\nvault:\n  address: https://vault:8200\n", ""},
		{"ok/values-string", head + "    helm:\n      values: |\n        replicaCount: 2\n", "replicaCount: 2\n", ""},
		{"ok/defaults", head, "", ""},
		{"ok/comment-and-separator", "# the chart\n---\n" + head, "", ""},
		{"fail/other-path", strings.Replace(head, "deploy/helm/gatekeeper", "deploy/helm/other", 1), "", `want the chart at "deploy/helm/gatekeeper"`},
		{"fail/not-an-application", strings.Replace(head, "kind: Application", "kind: AppProject", 1), "", "want an argoproj.io/v1alpha1 Application"},
		{"fail/two-manifests", head + "---\n" + head, "", "want exactly one manifest, found 2"},
		{"fail/none", "# nothing\n", "", "want exactly one manifest, found 0"},
		{"fail/sources", head + "  sources:\n    - path: x\n", "", "spec.sources is not checked"},
		{"fail/value-files", head + "    helm:\n      valueFiles: [prod.yaml]\n", "", "not checked"},
		{"fail/parameters", head + "    helm:\n      parameters:\n        - {name: replicaCount, value: \"3\"}\n", "", "not checked"},
		{"fail/both", head + "    helm:\n      values: \"a: 1\"\n      valuesObject: {a: 1}\n", "", "both values and valuesObject"},
		{"fail/yaml", head + "  source: [\n", "", "decoding document 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run([]string{"--path", "deploy/helm/gatekeeper"}, strings.NewReader(tc.in), &out)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, out.String()); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
