package main_test

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestDevWithDevApprover runs `gatekeeper dev --approver dev` as a developer
// would: connect the agent it prints, answer its prompts on the terminal.
func TestDevWithDevApprover(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(binary, "dev", "--approver", "dev")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "GATEKEEPER_VAULT_BIN=" + os.Getenv("GATEKEEPER_VAULT_BIN"), "GATEKEEPER_CACHE_DIR=" + os.Getenv("GATEKEEPER_CACHE_DIR")}
	cmd.Env = slicesDeleteEmpty(cmd.Env)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("gatekeeper dev stderr:\n%s", stderr)
		}
	})
	addLine := regexp.MustCompile(`claude mcp add --transport http gatekeeper (\S+) --header "X-API-Key: (\S+)"`)
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := addLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m
			}
		}
	}()
	var m []string
	select {
	case m = <-found:
	case <-time.After(60 * time.Second):
		t.Fatalf("gatekeeper dev printed no connection line:\n%s", stderr)
	}
	hc := (&httpServer{}).client(nil, map[string]string{"X-API-Key": m[2]})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "dev-e2e", Version: "1"}, nil).Connect(ctx, &mcp.StreamableClientTransport{Endpoint: m[1], HTTPClient: hc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	a := &agent{t: t, session: cs, stderr: stderr, closed: true}

	answer := func(reply string) {
		t.Helper()
		waitFor(t, 20*time.Second, func() bool {
			return strings.Count(stderr.String(), "Approve? [y/N]") > strings.Count(stderr.String(), "approved\n")+strings.Count(stderr.String(), "denied\n")
		})
		if _, err := io.WriteString(stdin, reply+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan result, 1)
	go func() { done <- a.call("authenticate", nil) }()
	answer("y")
	if r := <-done; r.isError || r.out["tier"] != "read" {
		t.Fatalf("authenticate approved at the terminal: %+v", r)
	}
	if !strings.Contains(stderr.String(), "Agent:") || !strings.Contains(stderr.String(), "dev") {
		t.Errorf("the prompt does not show the request:\n%s", stderr)
	}
	got := a.ok("read_secret", map[string]any{"path": "demo/database"})
	if got["data"].(map[string]any)["username"] != "app" {
		t.Errorf("read_secret = %v", got)
	}
	// Credentials to try: a certificate from the dev PKI, and (PostgreSQL
	// is installed here, as scripts/test installs it) a database login.
	cert := a.ok("issue_credential", map[string]any{"name": "web-cert", "common_name": "app.dev.internal"})
	if data, _ := cert["data"].(map[string]any); !strings.Contains(str(data["certificate"]), "BEGIN CERTIFICATE") {
		t.Errorf("issue_credential web-cert = %v", cert)
	}
	db := a.ok("issue_credential", map[string]any{"name": "app-db"})
	if data, _ := db["data"].(map[string]any); str(data["username"]) == "" || db["lease_id"] == "" {
		t.Errorf("issue_credential app-db = %v", db)
	}
	go func() { done <- a.call("escalate", map[string]any{"reason": "try a write"}) }()
	answer("n")
	if r := <-done; !r.isError || !strings.Contains(r.text, "denied") {
		t.Errorf("escalate denied at the terminal: %+v", r)
	}
}

func slicesDeleteEmpty(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasSuffix(kv, "=") {
			out = append(out, kv)
		}
	}
	return out
}
