package mcptools

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/execsecret"
	"github.com/gatekeeper-mcp/gatekeeper/internal/secretuse"
)

// envRunner records the environment a command would get.
type envRunner struct {
	mu  sync.Mutex
	env map[string]string // variable -> "name=value"
}

func (r *envRunner) Run(_ context.Context, _ string, _ []string, env map[string]secretuse.Secret) (execsecret.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.env = map[string]string{}
	for k, s := range env {
		r.env[k] = s.Name + "=" + s.Value.Reveal()
	}
	return execsecret.Result{Stdout: "ran"}, nil
}

func TestRunWithSecretEnv(t *testing.T) {
	gh := `{{secret "api/github" "token"}}`
	tests := []struct {
		name    string
		args    map[string]any
		want    map[string]string
		secrets string
		err     string
	}{
		{name: "ok/field-of-path", args: map[string]any{"path": "api/github", "env": map[string]any{"T": "token"}},
			want: map[string]string{"T": "api/github#token=" + httpToken}, secrets: "api/github#token"},
		{name: "ok/placeholder-without-path", args: map[string]any{"env": map[string]any{"T": gh}},
			want: map[string]string{"T": "api/github#token=" + httpToken}, secrets: "api/github#token"},
		{name: "ok/both", args: map[string]any{"path": "api/github", "env": map[string]any{"A": gh, "B": "lf"}},
			want: map[string]string{"A": "api/github#token=" + httpToken, "B": "api/github#lf=abcd\nefgh"}, secrets: "api/github#token api/github#lf"},
		{name: "fail/field-without-path", args: map[string]any{"env": map[string]any{"T": "token"}}, err: "empty"},
		{name: "fail/placeholder-in-args", args: map[string]any{"env": map[string]any{"T": gh}, "args": []any{"-H", "Authorization: " + gh}}, err: "argument 2 holds a placeholder"},
		{name: "fail/malformed-placeholder-in-args", args: map[string]any{"env": map[string]any{"T": gh}, "args": []any{`{{secret "x"`}}, err: "argument 1 holds a placeholder"},
		{name: "fail/text-around-placeholder", args: map[string]any{"env": map[string]any{"T": "Bearer " + gh}}, err: "exactly one placeholder"},
		{name: "fail/malformed-placeholder", args: map[string]any{"env": map[string]any{"T": `{{secret "api/github"}}`}}, err: "invalid placeholder"},
		{name: "fail/missing-field", args: map[string]any{"env": map[string]any{"T": `{{secret "api/github" "nope"}}`}}, err: "no text field nope"},
		{name: "fail/missing-secret", args: map[string]any{"env": map[string]any{"T": `{{secret "nothing" "x"}}`}}, err: "Nothing at that path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			runner, rec := &envRunner{}, &recorder{}
			cs := connectWith(t, Options{Access: &stubAccess{}, Vault: newMapKV(), Audit: rec, Exec: runner}, nil, "")
			tc.args["command"] = "/usr/bin/env"
			res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "run_with_secret", Arguments: tc.args})
			if err != nil {
				t.Fatal(err)
			}
			text := res.Content[0].(*mcp.TextContent).Text
			if tc.err != "" {
				if !res.IsError || !strings.Contains(text, tc.err) || runner.env != nil {
					t.Fatalf("result %q (ran: %v); want an error containing %q and nothing run", text, runner.env != nil, tc.err)
				}
				return
			}
			if res.IsError {
				t.Fatal(text)
			}
			if diff := cmp.Diff(tc.want, runner.env); diff != "" {
				t.Errorf("environment mismatch (-want +got):\n%s", diff)
			}
			for _, e := range rec.since(0) {
				if e.Event == audit.ToolCall && (e.Secrets != tc.secrets || e.Reveal != "injected") {
					t.Errorf("tool.call = %+v; want secrets %q", e, tc.secrets)
				}
			}
		})
	}
}
