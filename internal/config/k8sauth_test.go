package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestVaultAuthKubernetes(t *testing.T) {
	noToken := []string{"VAULT_ADDR=https://vault.example:8200", "PATH=/usr/bin"}
	tests := []struct {
		name string
		env  []string
		yaml string
		want []string // substrings of the validation error; none means valid
	}{
		{"ok/defaults", noToken, "vault_auth:\n  method: kubernetes\n  kubernetes: {role: gatekeeper}\n", nil},
		{"ok/everything", noToken, "vault_auth:\n  method: kubernetes\n  kubernetes: {role: gk.prod, mount: k8s/cluster-a, jwt_file: /var/run/secrets/gatekeeper/sa/token}\n", nil},
		{"ok/token-default", base, "", nil},
		{"fail/no-token", noToken, "", []string{"VAULT_TOKEN is required", "vault_auth.method: kubernetes"}},
		{"fail/token-too", base, "vault_auth:\n  method: kubernetes\n  kubernetes: {role: gatekeeper}\n", []string{"do not also set VAULT_TOKEN"}},
		{"fail/no-role", noToken, "vault_auth:\n  method: kubernetes\n", []string{"role \"\" is not a Vault role name"}},
		{"fail/role-path", noToken, "vault_auth:\n  method: kubernetes\n  kubernetes: {role: ../admin}\n", []string{"is not a Vault role name"}},
		{"fail/mount", noToken, "vault_auth:\n  method: kubernetes\n  kubernetes: {role: gk, mount: /kubernetes/}\n", []string{"mount \"/kubernetes/\" is not a mount path"}},
		{"fail/relative-jwt", noToken, "vault_auth:\n  method: kubernetes\n  kubernetes: {role: gk, jwt_file: token}\n", []string{"jwt_file \"token\" is not an absolute path"}},
		{"fail/method", noToken, "vault_auth:\n  method: ldap\n", []string{"vault_auth.method \"ldap\" is not token, kubernetes or approle"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.yaml != "" {
				path = writeFile(t, tc.yaml)
			}
			c, err := Load(tc.env, path)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate passed, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestVaultAuthDefaults(t *testing.T) {
	path := writeFile(t, "vault_auth:\n  method: kubernetes\n  kubernetes: {role: gatekeeper}\n")
	c, err := Load([]string{"VAULT_ADDR=https://vault.example:8200"}, path)
	if err != nil {
		t.Fatal(err)
	}
	want := VaultAuth{Method: "kubernetes", Kubernetes: KubernetesAuth{Mount: "kubernetes", Role: "gatekeeper", JWTFile: "/var/run/secrets/kubernetes.io/serviceaccount/token"},
		AppRole: AppRoleAuth{Mount: "approle"}}
	if diff := cmp.Diff(want, c.VaultAuth, cmpConfig...); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}
