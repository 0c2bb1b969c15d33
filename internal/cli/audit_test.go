package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/config"
)

// auditKey is base64 of 32 bytes.
const auditKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// testIO is a command's process as a test sees it.
func testIO(env ...string) (IO, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return IO{Stdin: io.NopCloser(strings.NewReader("")), Stdout: &out, Stderr: &errb, Environ: env}, &out, &errb
}

// writeAuditSet writes n records through the file sink, rotating every
// few records, and returns the set's files and head.
func writeAuditSet(t *testing.T, n int) ([]string, audit.Head) {
	t.Helper()
	key, err := audit.ParseKey(auditKey)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	fs, err := audit.NewFileSink(audit.FileOptions{Path: path, MaxBytes: 600, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	l := audit.New(audit.Options{Sinks: []audit.Sink{fs}, Key: key, Head: fs.Head()})
	for i := range n {
		if err := l.Record(context.Background(), audit.Event{Event: audit.ToolCall, Outcome: audit.OK, Principal: "ci", Tool: "read_secret", ElapsedMS: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rot, err := audit.Rotated(path)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, r := range rot {
		files = append(files, r.Path)
	}
	if len(files) < 2 {
		t.Fatalf("the set did not rotate: %v", files)
	}
	return append(files, path), l.Head()
}

func TestAuditVerifyCommand(t *testing.T) {
	files, head := writeAuditSet(t, 10)
	keyFile := filepath.Join(t.TempDir(), "audit.key")
	if err := os.WriteFile(keyFile, []byte(auditKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("ok/key-file", func(t *testing.T) {
		sys, out, _ := testIO()
		if err := Run(context.Background(), append([]string{"audit", "verify", "--key-file", keyFile}, files...), sys); err != nil {
			t.Fatalf("verify: %v\n%s", err, out)
		}
		for _, want := range []string{"ok: 10 records in ", " file(s), seq 1 to 10\n", "without --head", "head: " + head.MAC + "\n"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("ok/env-key-and-head-after-the-files", func(t *testing.T) {
		sys, out, _ := testIO("GATEKEEPER_AUDIT_KEY=" + auditKey)
		args := append(append([]string{"audit", "verify"}, files...), "--head", head.MAC)
		if err := Run(context.Background(), args, sys); err != nil {
			t.Fatalf("verify: %v\n%s", err, out)
		}
		if strings.Contains(out.String(), "without --head") || !strings.Contains(out.String(), "ok: 10 records") {
			t.Errorf("output:\n%s", out)
		}
	})
	t.Run("fail/edited", func(t *testing.T) {
		b, err := os.ReadFile(files[1])
		if err != nil {
			t.Fatal(err)
		}
		edited := filepath.Join(t.TempDir(), filepath.Base(files[1]))
		if err := os.WriteFile(edited, bytes.Replace(b, []byte(`"principal":"ci"`), []byte(`"principal":"cj"`), 1), 0o600); err != nil {
			t.Fatal(err)
		}
		set := append([]string{files[0], edited}, files[2:]...)
		sys, out, _ := testIO("GATEKEEPER_AUDIT_KEY=" + auditKey)
		err = Run(context.Background(), append([]string{"audit", "verify"}, set...), sys)
		if err == nil {
			t.Fatalf("an edited set verifies:\n%s", out)
		}
		if want := "problem: " + edited + ":1 (seq "; !strings.HasPrefix(out.String(), want) || !strings.Contains(out.String(), "edited record") {
			t.Errorf("output = %q, want %q… edited record", out, want)
		}
	})
	t.Run("fail/truncated-with-head", func(t *testing.T) {
		sys, out, _ := testIO("GATEKEEPER_AUDIT_KEY=" + auditKey)
		err := Run(context.Background(), append([]string{"audit", "verify", "--head", head.MAC}, files[:len(files)-1]...), sys)
		if err == nil || !strings.Contains(out.String(), "truncated") {
			t.Errorf("verify = %v, output %q; want truncated", err, out)
		}
	})
	for _, tt := range []struct {
		name string
		env  []string
		args []string
		want error  // or nil with msg
		msg  string // in the error
	}{
		{name: "fail/no-subcommand", args: []string{"audit"}, want: ErrUsage},
		{name: "fail/no-files", env: []string{"GATEKEEPER_AUDIT_KEY=" + auditKey}, args: []string{"audit", "verify"}, want: ErrUsage},
		{name: "fail/no-key", args: append([]string{"audit", "verify"}, files...), msg: "GATEKEEPER_AUDIT_KEY"},
		{name: "fail/short-key", env: []string{"GATEKEEPER_AUDIT_KEY=c2hvcnQ="}, args: append([]string{"audit", "verify"}, files...), msg: "at least 32"},
		{name: "fail/bad-head", env: []string{"GATEKEEPER_AUDIT_KEY=" + auditKey}, args: append([]string{"audit", "verify", "--head", "xyz"}, files...), msg: "64 lower-case hex"},
		{name: "fail/missing-file", env: []string{"GATEKEEPER_AUDIT_KEY=" + auditKey}, args: []string{"audit", "verify", filepath.Join(t.TempDir(), "none")}, msg: "no such file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sys, _, _ := testIO(tt.env...)
			err := Run(context.Background(), tt.args, sys)
			if tt.want != nil && !errors.Is(err, tt.want) || tt.msg != "" && (err == nil || !strings.Contains(err.Error(), tt.msg)) {
				t.Errorf("Run = %v, want %v %q", err, tt.want, tt.msg)
			}
		})
	}
}

// TestAuditWiring opens the sinks a configuration names and records
// config.loaded: every sink gets the same chained line, a restart
// continues the chain, and audit verify accepts the file.
func TestAuditWiring(t *testing.T) {
	var mu sync.Mutex
	var collected []string
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		collected = append(collected, string(b))
		mu.Unlock()
	}))
	defer srv.Close()
	dir := t.TempDir()
	auditFile := filepath.Join(dir, "audit.jsonl")
	cfgFile := filepath.Join(dir, "gatekeeper.yaml")
	if err := os.WriteFile(cfgFile, []byte("audit:\n  stderr: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"VAULT_ADDR=http://127.0.0.1:1", "VAULT_TOKEN=s.x", "GATEKEEPER_AUDIT_FILE=" + auditFile,
		"GATEKEEPER_AUDIT_KEY=" + auditKey, "GATEKEEPER_AUDIT_HTTP_URL=" + srv.URL}
	cfg, err := config.Load(env, cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for range 2 { // two starts of the server
		l, err := openAudit(cfg, &stderr, logger)
		if err != nil {
			t.Fatal(err)
		}
		if err := recordConfigLoaded(context.Background(), l, cfg); err != nil {
			t.Fatal(err)
		}
		closeAuditLog(l, logger)
	}
	file, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	fromCollector := strings.Join(collected, "\n") + "\n"
	mu.Unlock()
	if stderr.String() != string(file) || fromCollector != string(file) {
		t.Errorf("sinks differ:\nfile      %s\nstderr    %s\ncollector %s", file, stderr.String(), fromCollector)
	}
	var ev map[string]any
	if err := json.Unmarshal(bytes.SplitN(file, []byte("\n"), 2)[0], &ev); err != nil {
		t.Fatal(err)
	}
	if ev["event"] != audit.ConfigLoaded || ev["outcome"] != "ok" || ev["digest"] != "sha256:"+cfg.FileSHA256 || ev["seq"] != 1.0 {
		t.Errorf("config.loaded = %v", ev)
	}
	sys, out, _ := testIO("GATEKEEPER_AUDIT_KEY=" + auditKey)
	if err := Run(context.Background(), []string{"audit", "verify", auditFile}, sys); err != nil || !strings.Contains(out.String(), "ok: 2 records") {
		t.Errorf("verify after a restart = %v:\n%s", err, out)
	}
}

// TestServeRefusesToStartUnaudited: an audit sink that cannot be opened,
// or a config.loaded record that cannot be written, stops serve before it
// serves anything.
func TestServeRefusesToStartUnaudited(t *testing.T) {
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer failing.Close()
	base := []string{"VAULT_ADDR=http://127.0.0.1:1", "VAULT_TOKEN=s.x", "GATEKEEPER_AUDIT_KEY=" + auditKey}
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"fail/audit-file-is-a-directory", []string{"GATEKEEPER_AUDIT_FILE=" + t.TempDir()}, "audit file"},
		{"fail/collector-refuses", []string{"GATEKEEPER_AUDIT_HTTP_URL=" + failing.URL}, "recording the configuration in the audit log"},
		{"fail/file-without-key", []string{"GATEKEEPER_AUDIT_FILE=" + filepath.Join(t.TempDir(), "a.jsonl"), "GATEKEEPER_AUDIT_KEY="}, "needs a key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys, _, _ := testIO(append(append([]string{}, base...), tt.env...)...)
			err := Run(context.Background(), []string{"serve"}, sys)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("serve = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// TestConfigCheckListsAuditProblems: config check reports every bad audit
// value at once.
func TestConfigCheckListsAuditProblems(t *testing.T) {
	sys, out, _ := testIO("VAULT_ADDR=http://127.0.0.1:8200", "VAULT_TOKEN=s.x",
		"GATEKEEPER_AUDIT_FILE=/var/log/gatekeeper/audit.jsonl", "GATEKEEPER_AUDIT_ON_FAILURE=shrug",
		"GATEKEEPER_AUDIT_HTTP_URL=ftp://collector", "GATEKEEPER_AUDIT_SYSLOG=udp://nohost")
	if err := Run(context.Background(), []string{"config", "check"}, sys); err == nil {
		t.Fatalf("config check passed:\n%s", out)
	}
	for _, want := range []string{"needs a key", "on_failure", "audit.http.url", "audit.syslog.address"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("config check output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out.String(), "problem: "); n != 4 {
		t.Errorf("problems = %d, want 4:\n%s", n, out)
	}
}
