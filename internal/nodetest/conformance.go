package nodetest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// ConformanceTimeout bounds one scenario. The slowest generic scenario,
// server-sse-polling, waits up to 15 s on streams the server may hold open.
const ConformanceTimeout = 2 * time.Minute

// Check is one result line of a conformance scenario, as the CLI writes it to
// checks.json.
type Check struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Description  string `json:"description"`
	Status       string `json:"status"` // SUCCESS, FAILURE, WARNING or INFO
	ErrorMessage string `json:"errorMessage,omitempty"`
	Details      any    `json:"details,omitempty"`
}

// Conformance runs one server scenario of @modelcontextprotocol/conformance
// against the MCP endpoint at url and fails the test unless it passes.
//
// How the CLI (0.1.16, `conformance server --url URL --scenario NAME`)
// reports: each scenario returns a list of checks with status SUCCESS,
// FAILURE, WARNING or INFO; it prints them with ANSI colours, then "Passed:
// S/S+F, F failed, W warnings", and exits 1 if any check is FAILURE, else 0.
// Warnings (SHOULDs, such as no SSE priming event) and INFO never fail it,
// so a scenario can pass with no SUCCESS at all. With -o DIR it also writes
// DIR/server-NAME-TIMESTAMP/checks.json, which is what this returns, so a
// caller can insist on more than the CLI does. An unknown scenario or a
// crash also exits 1, with no checks.json.
//
// The CLI has no option for an auth header: put AuthProxy in front of a
// server that needs one.
func Conformance(t testing.TB, url, scenario string) []Check {
	t.Helper()
	node := Node22(t)
	cli := filepath.Join(Install(t), "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js")
	outDir := t.TempDir()

	ctx, cancel := context.WithTimeout(context.Background(), ConformanceTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, cli, "server", "--url", url, "--scenario", scenario, "-o", outDir)
	stdout, stderr, runErr := run(ctx, cmd)
	output := ansi.ReplaceAllString(string(stdout)+string(stderr), "")

	checks, readErr := readChecks(outDir)
	var failed, warned []string
	for _, c := range checks {
		line := fmt.Sprintf("%s [%s] %s", c.Status, c.ID, c.Description)
		if c.ErrorMessage != "" {
			line += ": " + c.ErrorMessage
		}
		switch c.Status {
		case "FAILURE":
			failed = append(failed, line)
		case "WARNING":
			warned = append(warned, line)
		}
	}
	switch {
	case runErr != nil || len(failed) > 0:
		t.Errorf("conformance scenario %s against %s did not pass (%v):\n%s\n\nfull output:\n%s",
			scenario, url, runErr, strings.Join(failed, "\n"), output)
	case readErr != nil:
		t.Errorf("conformance scenario %s: %v\n\nfull output:\n%s", scenario, readErr, output)
	default:
		t.Logf("conformance scenario %s passed: %d checks, %d warnings", scenario, len(checks), len(warned))
		for _, w := range warned {
			t.Log("  " + w)
		}
	}
	return checks
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

func readChecks(outDir string) ([]Check, error) {
	files, _ := filepath.Glob(filepath.Join(outDir, "*", "checks.json"))
	if len(files) != 1 {
		return nil, fmt.Errorf("want one checks.json under %s, found %d", outDir, len(files))
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		return nil, fmt.Errorf("reading checks: %w", err)
	}
	var checks []Check
	if err := json.Unmarshal(data, &checks); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", files[0], err)
	}
	return checks, nil
}
