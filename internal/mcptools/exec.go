package mcptools

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/execsecret"
	"github.com/gatekeeper-mcp/gatekeeper/internal/secretuse"
)

var runTool = &mcp.Tool{
	Name:  "run_with_secret",
	Title: "Run a command with a secret in its environment",
	Description: "Run one of the commands the operator allowed with secret values in its environment, so the value " +
		"reaches the program and not your context. env maps an environment variable name either to a field of " +
		"the secret at path, e.g. {\"PGPASSWORD\": \"password\"}, or to a placeholder naming any of your secrets, " +
		"e.g. {\"TOKEN\": \"{{secret \\\"api/github\\\" \\\"token\\\"}}\"}; when every value is a placeholder, path " +
		"may be omitted. Only the variable names the operator allows for the command are accepted. Placeholders are " +
		"refused in args: every process on the machine can read a command line. " +
		"Returns the exit code and the output, with every occurrence of a value (and its common encodings) " +
		"replaced by [REDACTED:PATH#FIELD]. Needs read access.",
	Annotations: &mcp.ToolAnnotations{ReadOnlyHint: false, DestructiveHint: ptr(true), IdempotentHint: false, OpenWorldHint: ptr(true)},
}

// RunIn is run_with_secret's input. The names are a public interface.
type RunIn struct {
	Path    string            `json:"path,omitempty" jsonschema:"the secret whose fields env names, relative to your secrets folder; optional when every env value is a placeholder"`
	Env     map[string]string `json:"env" jsonschema:"environment variable name -> a field of the secret at path, or a placeholder {{secret \"PATH\" \"FIELD\"}}"`
	Command string            `json:"command" jsonschema:"absolute path of an allowed command"`
	Args    []string          `json:"args,omitempty" jsonschema:"its arguments (no shell, no placeholders)"`
}

// RunOut is what the command did, values redacted.
type RunOut struct {
	ExitCode  int    `json:"exit_code"`
	Stdout    string `json:"stdout"`
	Stderr    string `json:"stderr"`
	Truncated bool   `json:"truncated,omitempty"`
	Redacted  int    `json:"redacted" jsonschema:"how many occurrences of the values were replaced"`
}

const maxEnv = 16

func (t *tools) runWithSecret(ctx context.Context, c *call, in RunIn) (RunOut, error) {
	if len(in.Env) == 0 || len(in.Env) > maxEnv {
		return RunOut{}, inputError("env must map 1 to 16 variable names to fields of the secret or placeholders")
	}
	for i, arg := range in.Args {
		if tmpl, err := secretuse.Parse(arg); err != nil || tmpl.Len() > 0 {
			return RunOut{}, inputError("argument " + strconv.Itoa(i+1) + " holds a placeholder; every process on the machine can read a command line, so put the secret in env and have the command read the variable")
		}
	}
	// Each variable's reference: a placeholder, or a field of path.
	refOf := map[string]secretuse.Ref{}
	var fields []string // variables naming a field of path
	for _, name := range slices.Sorted(maps.Keys(in.Env)) {
		v := in.Env[name]
		tmpl, err := secretuse.Parse(v)
		if err != nil {
			return RunOut{}, err
		}
		if tmpl.Len() > 0 {
			ref, ok := tmpl.Only()
			if !ok {
				return RunOut{}, inputError("the value for " + name + " must be exactly one placeholder, with nothing around it")
			}
			refOf[name] = ref
			continue
		}
		if !secretuse.ValidField(v) {
			return RunOut{}, inputError("env values must be field names of the secret at path, or placeholders {{secret \"PATH\" \"FIELD\"}}")
		}
		fields = append(fields, name)
	}
	if len(fields) > 0 || in.Path != "" {
		p, err := c.setPath(in.Path, false)
		if err != nil {
			return RunOut{}, err
		}
		for _, name := range fields {
			refOf[name] = secretuse.Ref{Kind: secretuse.KindSecret, Path: p, Field: in.Env[name]}
		}
	}
	var refs []secretuse.Ref
	for _, name := range slices.Sorted(maps.Keys(refOf)) {
		if !slices.Contains(refs, refOf[name]) {
			refs = append(refs, refOf[name])
		}
	}
	c.setSecrets(refs)

	var grant *access.Grant
	vals, err := withRead(ctx, t, c, func(g *access.Grant) (*secretuse.Values, error) {
		grant = g
		return t.resolver.Resolve(ctx, t.source(c, g), refs)
	})
	if err != nil {
		return RunOut{}, err
	}
	env := make(map[string]secretuse.Secret, len(refOf))
	for name, ref := range refOf {
		v, _ := vals.Get(ref)
		env[name] = secretuse.Secret{Name: ref.Name(), Value: v}
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
	c.http.redacted = int64(res.Redacted)
	return RunOut{ExitCode: res.ExitCode, Stdout: res.Stdout, Stderr: res.Stderr, Truncated: res.Truncated, Redacted: res.Redacted}, nil
}

// setSecrets remembers the references a call uses, for the audit log:
// "path#field", space-separated (neither holds a space).
func (c *call) setSecrets(refs []secretuse.Ref) {
	names := make([]string, 0, len(refs))
	for _, r := range refs {
		names = append(names, r.Name())
	}
	c.secrets = strings.Join(names, " ")
}
