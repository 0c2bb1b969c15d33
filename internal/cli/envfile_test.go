package cli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeEnvFile(t *testing.T, body string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile's mode goes through the umask
		t.Fatal(err)
	}
	return path
}

// configCheck runs `gatekeeper config check` with env and args, and
// returns its stdout, stderr and error.
func configCheck(t *testing.T, env []string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Run(t.Context(), append([]string{"config", "check"}, args...), IO{
		Stdin: io.NopCloser(strings.NewReader("")), Stdout: &out, Stderr: &errOut, Environ: env,
	})
	return out.String(), errOut.String(), err
}

const envFileBody = `# Gatekeeper's settings
export VAULT_ADDR=https://from-file.example:8200
VAULT_TOKEN='s.from-file'
GATEKEEPER_PREFIX="team"
`

// TestEnvFilePrecedence: the file is read, and a variable the environment
// also sets takes the environment's value; --env-file wins over
// GATEKEEPER_ENV_FILE.
func TestEnvFilePrecedence(t *testing.T) {
	file := writeEnvFile(t, envFileBody, 0o600)
	other := writeEnvFile(t, "VAULT_ADDR=https://other.example:8200\nVAULT_TOKEN=s.other\n", 0o600)
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"ok/flag", nil, []string{"--env-file", file}, "vault https://from-file.example:8200, folder secret/team"},
		{"ok/variable", []string{"GATEKEEPER_ENV_FILE=" + file}, nil, "vault https://from-file.example:8200, folder secret/team"},
		{"ok/flag-wins", []string{"GATEKEEPER_ENV_FILE=" + file}, []string{"--env-file", other}, "vault https://other.example:8200, folder secret/agent"},
		{"ok/environment-wins", []string{"VAULT_ADDR=https://from-env.example:8200"}, []string{"--env-file", file}, "vault https://from-env.example:8200, folder secret/team"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := configCheck(t, tc.env, tc.args...)
			if err != nil {
				t.Fatalf("config check: %v\n%s%s", err, out, errOut)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("config check printed %q, want %q", out, tc.want)
			}
			if errOut != "" {
				t.Errorf("unexpected warnings: %s", errOut)
			}
		})
	}
}

// TestEnvFileRefusals: the file goes through the environment's checks, and
// a file that cannot be read or parsed is an error that quotes nothing of it.
func TestEnvFileRefusals(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"fail/unknown-key", envFileBody + "GATEKEEPER_PREFX=typo\n", "GATEKEEPER_PREFX is not a Gatekeeper setting"},
		{"fail/bad-value", envFileBody + "GATEKEEPER_READ_TTL=forever\n", `GATEKEEPER_READ_TTL: "forever" is not a duration`},
		{"fail/not-env", "VAULT_TOKEN=s.secret-in-a-bad-line\nthis is no assignment s.secret-in-a-bad-line\n", "is not KEY=VALUE lines"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := configCheck(t, nil, "--env-file", writeEnvFile(t, tc.body, 0o600))
			if err == nil {
				t.Fatalf("config check passed:\n%s", out)
			}
			if got := out + errOut + err.Error(); !strings.Contains(got, tc.want) || strings.Contains(got, "secret-in-a-bad-line") {
				t.Errorf("config check said %q, want %q and no line of the file", got, tc.want)
			}
		})
	}
	_, _, err := configCheck(t, nil, "--env-file", filepath.Join(t.TempDir(), "missing"))
	if err == nil || !strings.Contains(err.Error(), "reading the env file") {
		t.Errorf("a missing file: %v", err)
	}
}

// TestEnvFileWarnings: a file holding secrets that others may read, and a
// key that has no effect in the file, are reported on stderr, naming keys
// and never values.
func TestEnvFileWarnings(t *testing.T) {
	tests := []struct {
		name string
		body string
		mode os.FileMode
		want []string // substrings of stderr; none means silent
	}{
		{"ok/secret-private", envFileBody, 0o600, nil},
		{"ok/no-secret-readable", "VAULT_ADDR=https://v.example:8200\nGATEKEEPER_PREFIX=team\n", 0o644, nil},
		{"warn/secret-group-readable", envFileBody, 0o640, []string{"holds secrets (VAULT_TOKEN)", "mode 0640", "chmod 600"}},
		{"warn/secret-world-readable", envFileBody + "VAULT_SECRET_ID=sid-value\n", 0o604, []string{"holds secrets (VAULT_SECRET_ID, VAULT_TOKEN)", "mode 0604"}},
		{"warn/not-a-setting", envFileBody + "VAULT_CACERT=/etc/ca.pem\n", 0o600, []string{"VAULT_CACERT in", "has no effect there"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := []string{"VAULT_ADDR=https://v.example:8200", "VAULT_TOKEN=s.x"}
			if strings.Contains(tc.body, "VAULT_SECRET_ID") {
				env = nil // AppRole and token together would be refused
			}
			file := writeEnvFile(t, tc.body, tc.mode)
			_, errOut, _ := configCheck(t, env, "--env-file", file)
			if len(tc.want) == 0 && errOut != "" {
				t.Errorf("unexpected warning: %s", errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			for _, v := range []string{"s.from-file", "sid-value"} {
				if strings.Contains(errOut, v) {
					t.Errorf("stderr quotes a secret value %q:\n%s", v, errOut)
				}
			}
		})
	}
}
