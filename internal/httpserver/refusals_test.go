package httpserver

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/clientauth"
)

// TestBadCredentialFloodIsCounted: a flood of requests with a wrong API
// key, from one client, writes a handful of audit records instead of one
// each; the records' counts add up to every refusal, and the chain
// verifies.
func TestBadCredentialFloodIsCounted(t *testing.T) {
	key, err := audit.ParseKey(base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	fs, err := audit.NewFileSink(audit.FileOptions{Path: path, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	log := audit.New(audit.Options{Sinks: []audit.Sink{fs}, Key: key})
	keys, err := clientauth.NewAPIKeys([]clientauth.APIKey{{ID: "alice-key", Agent: "alice", SHA256: clientauth.HashKey("gk_the-right-key"), Scopes: []string{"read"}}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{
		Addr:   "127.0.0.1:0",
		Auth:   keys,
		Agents: func(string) ([]string, bool) { return nil, true },
		MCPServer: func(string, []string) *mcp.Server {
			return mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
		},
		Audit: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	const flood = 500
	for range flood {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL()+"/mcp", strings.NewReader("{}"))
		req.Header.Set("X-API-Key", "gk_a-wrong-key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", resp.StatusCode)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var records, refused int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e struct {
			Event   string `json:"event"`
			Outcome string `json:"outcome"`
			Source  string `json:"source"`
			Count   int    `json:"count"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		if e.Event != audit.Authentication || e.Outcome != string(audit.Refused) {
			t.Fatalf("unexpected record %s", sc.Bytes())
		}
		if e.Source != "127.0.0.1" {
			t.Errorf("source = %q, want the client's address", e.Source)
		}
		records++
		refused += max(e.Count, 1)
	}
	if records > flood/50 {
		t.Errorf("%d bad-credential requests wrote %d audit records, want a few", flood, records)
	}
	if refused != flood {
		t.Errorf("refusals counted = %d, want %d", refused, flood)
	}
	if _, err := audit.Verify(audit.VerifyOptions{Key: key}, []string{path}); err != nil {
		t.Errorf("the chain does not verify: %v", err)
	}
}
