package mcptools

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/execsecret"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

var runTool = &mcp.Tool{
	Name:  "run_with_secret",
	Title: "Run a command with a secret in its environment",
	Description: "Run one of the commands the operator allowed, with fields of the secret at path put into its " +
		"environment, so the value reaches the program and not your context. Returns the exit code and the " +
		"output, with every occurrence of the values replaced by [REDACTED]. env maps an environment variable " +
		"name to a field of the secret, e.g. {\"PGPASSWORD\": \"password\"}. Needs read access.",
	Annotations: &mcp.ToolAnnotations{ReadOnlyHint: false, DestructiveHint: ptr(true), IdempotentHint: false, OpenWorldHint: ptr(true)},
}

// RunIn is run_with_secret's input.
type RunIn struct {
	Path    string            `json:"path" jsonschema:"the secret, relative to your secrets folder"`
	Env     map[string]string `json:"env" jsonschema:"environment variable name -> the secret's field to put in it"`
	Command string            `json:"command" jsonschema:"absolute path of an allowed command"`
	Args    []string          `json:"args,omitempty" jsonschema:"its arguments (no shell)"`
}

// RunOut is what the command did, values redacted.
type RunOut struct {
	ExitCode  int    `json:"exit_code"`
	Stdout    string `json:"stdout"`
	Stderr    string `json:"stderr"`
	Truncated bool   `json:"truncated,omitempty"`
	Redacted  int    `json:"redacted" jsonschema:"how many occurrences of the values were replaced"`
}

var envField = regexp.MustCompile(`^[A-Za-z0-9._@+=,:-]{1,128}$`)

func (t *tools) runWithSecret(ctx context.Context, c *call, in RunIn) (RunOut, error) {
	p, err := c.setPath(in.Path, false)
	if err != nil {
		return RunOut{}, err
	}
	if len(in.Env) == 0 || len(in.Env) > 16 {
		return RunOut{}, inputError("env must map 1 to 16 variable names to fields of the secret")
	}
	for _, field := range in.Env {
		if !envField.MatchString(field) {
			return RunOut{}, inputError("env values must be field names of the secret")
		}
	}
	var grant *access.Grant
	s, err := withRead(ctx, t, c, func(g *access.Grant) (*vault.KVSecret, error) {
		grant = g
		return t.opts.Vault.KVReadVersion(ctx, g.Token, t.opts.KVMount, t.full(c, p), 0)
	})
	if err != nil {
		return RunOut{}, err
	}
	env := map[string]sensitive.String{}
	for _, name := range slices.Sorted(maps.Keys(in.Env)) {
		v, ok := s.Data[in.Env[name]].(string)
		if !ok {
			return RunOut{}, inputError(fmt.Sprintf("the secret has no text field %q", in.Env[name]))
		}
		env[name] = sensitive.New(v)
	}
	c.reveal = "injected"
	if err := t.intent(ctx, c, grant); err != nil {
		return RunOut{}, err
	}
	res, err := t.opts.Exec.Run(ctx, in.Command, in.Args, env)
	switch {
	case errors.Is(err, execsecret.ErrNotAllowed), errors.Is(err, execsecret.ErrInvalidEnv):
		// Their messages name the command or variable, never a value.
		return RunOut{}, inputError(err.Error())
	case errors.Is(err, execsecret.ErrTimeout):
		return RunOut{}, inputError("the command ran longer than allowed and was stopped")
	case err != nil:
		return RunOut{}, err
	}
	return RunOut{ExitCode: res.ExitCode, Stdout: res.Stdout, Stderr: res.Stderr, Truncated: res.Truncated, Redacted: res.Redacted}, nil
}
