package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

func TestVaultAuthAppRole(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret-id")
	roleFile := filepath.Join(dir, "role-id")
	if err := os.WriteFile(secretFile, []byte("file-secret-id\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(roleFile, []byte("file-role-id\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "VAULT_ADDR=https://vault.example:8200"
	tests := []struct {
		name string
		env  []string
		yaml string
		want AppRoleAuth // when valid
		errs []string    // substrings of the validation error; none means valid
	}{
		{name: "ok/env", env: []string{addr, "VAULT_ROLE_ID=rid", "VAULT_SECRET_ID=sid"},
			want: AppRoleAuth{Mount: "approle", RoleID: "rid", SecretID: sensitive.New("sid")}},
		{name: "ok/files", env: []string{addr, "VAULT_ROLE_ID_FILE=" + roleFile, "VAULT_SECRET_ID_FILE=" + secretFile},
			want: AppRoleAuth{Mount: "approle", RoleID: "file-role-id", RoleIDFile: roleFile, SecretID: sensitive.New("file-secret-id"), SecretIDFile: secretFile}},
		{name: "ok/env-wins-over-files", env: []string{addr, "VAULT_ROLE_ID=rid", "VAULT_SECRET_ID=sid", "VAULT_ROLE_ID_FILE=" + roleFile, "VAULT_SECRET_ID_FILE=" + secretFile},
			want: AppRoleAuth{Mount: "approle", RoleID: "rid", RoleIDFile: roleFile, SecretID: sensitive.New("sid"), SecretIDFile: secretFile}},
		{name: "ok/config-file", env: []string{addr},
			yaml: "vault_auth:\n  method: approle\n  approle: {mount: ci/approle, role_id: rid, secret_id_file: " + secretFile + "}\n",
			want: AppRoleAuth{Mount: "ci/approle", RoleID: "rid", SecretID: sensitive.New("file-secret-id"), SecretIDFile: secretFile}},
		{name: "fail/token-too", env: []string{addr, "VAULT_TOKEN=s.x", "VAULT_ROLE_ID=rid", "VAULT_SECRET_ID=sid"},
			errs: []string{"do not also set VAULT_TOKEN"}},
		{name: "fail/no-secret-id", env: []string{addr, "VAULT_ROLE_ID=rid"}, errs: []string{"AppRole needs a secret id"}},
		{name: "fail/no-role-id", env: []string{addr, "VAULT_SECRET_ID=sid"}, errs: []string{"AppRole needs a role id"}},
		{name: "fail/method-without-credentials", env: []string{addr}, yaml: "vault_auth:\n  method: approle\n",
			errs: []string{"needs a role id", "needs a secret id"}},
		{name: "fail/mount", env: []string{addr, "VAULT_ROLE_ID=rid", "VAULT_SECRET_ID=sid"}, yaml: "vault_auth:\n  approle: {mount: ../sys}\n",
			errs: []string{`vault_auth.approle.mount "../sys" is not a mount path`}},
		{name: "fail/role-id-space", env: []string{addr, "VAULT_ROLE_ID=r id", "VAULT_SECRET_ID=sid"}, errs: []string{"role id has spaces"}},
		{name: "fail/kubernetes-too", env: []string{addr, "VAULT_ROLE_ID=rid", "VAULT_SECRET_ID=sid"},
			yaml: "vault_auth:\n  method: kubernetes\n  kubernetes: {role: gatekeeper}\n", errs: []string{"do not also set VAULT_ROLE_ID"}},
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
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if c.VaultAuth.Method != VaultAuthAppRole {
					t.Errorf("method %q, want approle", c.VaultAuth.Method)
				}
				if diff := cmp.Diff(tc.want, c.VaultAuth.AppRole, cmpConfig...); diff != "" {
					t.Errorf("mismatch (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate passed, want %q", tc.errs)
			}
			for _, w := range tc.errs {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "sid") {
				t.Errorf("an error quotes the secret id:\n%v", err)
			}
		})
	}
}

func TestAppRoleMissingFile(t *testing.T) {
	_, err := Load([]string{"VAULT_ADDR=https://vault.example:8200", "VAULT_ROLE_ID=rid",
		"VAULT_SECRET_ID_FILE=" + filepath.Join(t.TempDir(), "missing")}, "")
	if err == nil || !strings.Contains(err.Error(), "VAULT_SECRET_ID_FILE") {
		t.Errorf("Load = %v, want an error naming VAULT_SECRET_ID_FILE", err)
	}
}

func TestVaultNamespace(t *testing.T) {
	for _, tc := range []struct {
		name, ns string
		ok       bool
	}{
		{"ok/one", "admin", true},
		{"ok/nested", "admin/team-a", true},
		{"ok/trailing-slash", "admin/team-a/", true},
		{"fail/absolute", "/admin", false},
		{"fail/dots", "admin/../root", false},
		{"fail/space", "team a", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(append(base[:len(base):len(base)], "VAULT_NAMESPACE="+tc.ns), "")
			if err != nil {
				t.Fatal(err)
			}
			if c.VaultNamespace != tc.ns {
				t.Errorf("namespace %q, want %q", c.VaultNamespace, tc.ns)
			}
			if err := c.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
