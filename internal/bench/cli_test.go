package bench

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestRunCommandStdio(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	err = RunCommand(t.Context(), []string{
		"--stdio", exe, "--env", stdioServerEnv + "=1",
		"--tool", "echo", "--args", `{"text":"hi"}`, "--setup-tool", "echo", "--setup-args", `{"text":"once"}`,
		"--clients", "2", "--count", "20", "--warmup", "0s", "--runs", "2", "--label", "echo | stdio",
	}, &out, &errOut)
	if err != nil {
		t.Fatalf("RunCommand: %v\n%s", err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[2], `| echo \| stdio | 2 | 2 | 40 | 0 |`) {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestRunCommandDirectVault(t *testing.T) {
	var mu sync.Mutex
	var tokens []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/secret/data/agent/db" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		tokens = append(tokens, r.Header.Get("X-Vault-Token"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"data":{"data":{"k":"v"},"metadata":{"version":1}}}`))
	}))
	t.Cleanup(srv.Close)
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte("tok-a\n\ntok-b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	err := RunCommand(t.Context(), []string{
		"--direct-vault", srv.URL, "--token-file", file, "--kv", "secret/agent/db",
		"--clients", "1", "--count", "4", "--warmup", "0s", "--runs", "1", "--no-header",
	}, &out, &errOut)
	if err != nil {
		t.Fatalf("RunCommand: %v\n%s", err, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "| Vault direct | 1 | 1 | 4 | 0 |") {
		t.Errorf("output: %q", out.String())
	}
	// One client uses the first token.
	mu.Lock()
	defer mu.Unlock()
	for _, tok := range tokens {
		if tok != "tok-a" {
			t.Errorf("a read used token %q", tok)
		}
	}
}

func TestRunCommandUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"fail/no-target", []string{"--tool", "x"}},
		{"fail/both-targets", []string{"--stdio", "x", "--url", "http://127.0.0.1:1/mcp", "--tool", "x"}},
		{"fail/no-tool", []string{"--url", "http://127.0.0.1:1/mcp"}},
		{"fail/clients", []string{"--url", "http://127.0.0.1:1/mcp", "--tool", "x", "--clients", "0"}},
		{"fail/direct-and-url", []string{"--direct-vault", "http://127.0.0.1:1", "--url", "http://127.0.0.1:1/mcp"}},
		{"fail/extra-args", []string{"--tool", "x", "extra"}},
		{"fail/bad-header", []string{"--url", "http://127.0.0.1:1/mcp", "--tool", "x", "--header", "nocolon"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut strings.Builder
			if err := RunCommand(t.Context(), tc.args, &out, &errOut); err == nil {
				t.Errorf("RunCommand(%q) succeeded:\n%s", tc.args, out.String())
			}
			if out.Len() != 0 {
				t.Errorf("printed a table on failure: %s", out.String())
			}
		})
	}
}
