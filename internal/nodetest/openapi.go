package nodetest

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// OpenAPIResult is what the validator said of a document.
type OpenAPIResult struct {
	Valid bool `json:"valid"`
	// Version is the OpenAPI version it validated against ("3.1").
	Version string            `json:"version"`
	Errors  []json.RawMessage `json:"errors"`
}

// ValidateOpenAPI checks an OpenAPI document with
// @seriousme/openapi-schema-validator (test/node/openapi.mjs), which
// validates against the OpenAPI Initiative's published schemas.
func ValidateOpenAPI(t testing.TB, doc []byte) OpenAPIResult {
	t.Helper()
	node := Node22(t)
	script := filepath.Join(Install(t), "openapi.mjs")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = filepath.Dir(script)
	cmd.Env = cleanEnv()
	cmd.Stdin = bytes.NewReader(doc)
	stdout, stderr, err := run(ctx, cmd)
	if err != nil {
		t.Fatalf("nodetest: openapi.mjs: %v\nstderr:\n%s", err, stderr)
	}
	var res OpenAPIResult
	if err := json.Unmarshal(stdout, &res); err != nil {
		t.Fatalf("nodetest: decoding openapi.mjs output: %v\n%s", err, stdout)
	}
	return res
}
