package mcptools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/paths"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

var (
	readTool = &mcp.Tool{
		Name:  "read_secret",
		Title: "Read a secret",
		Description: "Read the current version of a secret: its key/value data. path is relative to your secrets " +
			"folder, like \"db/postgres\" (use list_secrets to find paths). Needs read access; without it this " +
			"starts an approval for read access, or tells you to call authenticate.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, DestructiveHint: ptr(false), IdempotentHint: true, OpenWorldHint: ptr(false)},
	}
	writeTool = &mcp.Tool{
		Name:  "write_secret",
		Title: "Write a secret",
		Description: "Write data (a JSON object of keys and values) as the new version of the secret at path, " +
			"relative to your secrets folder. It replaces the current keys: include every key the secret should " +
			"keep. Needs write access, which never comes by itself: call escalate with a reason first.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: false, DestructiveHint: ptr(true), IdempotentHint: true, OpenWorldHint: ptr(false)},
	}
	listTool = &mcp.Tool{
		Name:  "list_secrets",
		Title: "List secrets",
		Description: "List the secrets and folders directly under path (folders end in \"/\"). path is relative " +
			"to your secrets folder; use \"\" for the top. Needs read access, like read_secret.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, DestructiveHint: ptr(false), IdempotentHint: true, OpenWorldHint: ptr(false)},
	}
)

// PathIn is the input of tools that take only a path.
type PathIn struct {
	Path string `json:"path" jsonschema:"relative to your secrets folder, e.g. db/postgres"`
}

// WriteIn is write_secret's input.
type WriteIn struct {
	Path string         `json:"path" jsonschema:"relative to your secrets folder, e.g. db/postgres"`
	Data map[string]any `json:"data" jsonschema:"the secret's keys and values; replaces the current version"`
}

// SecretOut is a secret's current version.
type SecretOut struct {
	Path    string         `json:"path"`
	Data    map[string]any `json:"data"`
	Version int64          `json:"version"`
}

// WrittenOut reports a write.
type WrittenOut struct {
	Path    string `json:"path"`
	Version int64  `json:"version"`
}

// ListOut lists a folder.
type ListOut struct {
	Path string   `json:"path"`
	Keys []string `json:"keys"`
}

// full is where an agent path lives in the KV mount.
func (t *tools) full(c *call, p string) string {
	folder := t.opts.Folder(c.principal)
	if p == "" {
		return folder
	}
	return folder + "/" + p
}

func (t *tools) read(ctx context.Context, c *call, in PathIn) (SecretOut, error) {
	p, err := c.setPath(in.Path, false)
	if err != nil {
		return SecretOut{}, err
	}
	s, err := withRead(ctx, t, c, func(g *access.Grant) (*vault.KVSecret, error) {
		return t.opts.KV.KVRead(ctx, g.Token, t.opts.KVMount, t.full(c, p))
	})
	if err != nil {
		return SecretOut{}, err
	}
	return SecretOut{Path: p, Data: s.Data, Version: s.Version}, nil
}

func (t *tools) list(ctx context.Context, c *call, in PathIn) (ListOut, error) {
	p, err := c.setPath(in.Path, true)
	if err != nil {
		return ListOut{}, err
	}
	keys, err := withRead(ctx, t, c, func(g *access.Grant) ([]string, error) {
		return t.opts.KV.KVList(ctx, g.Token, t.opts.KVMount, t.full(c, p))
	})
	if errors.Is(err, vault.ErrNotFound) {
		// An empty folder and a missing one look the same to the agent.
		keys, err = []string{}, nil
	}
	if err != nil {
		return ListOut{}, err
	}
	return ListOut{Path: p, Keys: keys}, nil
}

const maxWrite = 64 << 10

func (t *tools) write(ctx context.Context, c *call, in WriteIn) (WrittenOut, error) {
	p, err := c.setPath(in.Path, false)
	if err != nil {
		return WrittenOut{}, err
	}
	if len(in.Data) == 0 {
		return WrittenOut{}, inputError("data must be an object with at least one key")
	}
	if b, err := json.Marshal(in.Data); err != nil || len(b) > maxWrite {
		return WrittenOut{}, inputError(fmt.Sprintf("data must be a JSON object of at most %d bytes", maxWrite))
	}
	g, err := t.opts.Access.ForWrite(c.principal, p)
	if err != nil {
		return WrittenOut{}, err
	}
	v, err := t.opts.KV.KVWrite(ctx, g.Token, t.opts.KVMount, t.full(c, p), in.Data)
	if err != nil {
		return WrittenOut{}, t.refused(ctx, g, err)
	}
	return WrittenOut{Path: p, Version: v}, nil
}

// withRead runs fn with the grant p reads with, starting a read approval if
// there is none.
func withRead[T any](ctx context.Context, t *tools, c *call, fn func(*access.Grant) (T, error)) (T, error) {
	var zero T
	stop := t.waiting(ctx, c, "read access")
	g, err := t.opts.Access.ForRead(ctx, c.principal, c.tool+" "+c.path)
	stop()
	if err != nil {
		return zero, err
	}
	v, err := fn(g)
	if err != nil {
		return zero, t.refused(ctx, g, err)
	}
	return v, nil
}

// refused checks, when Vault refuses a grant's token, whether the token was
// revoked from outside; if so the grant is gone and the agent is told so.
func (t *tools) refused(ctx context.Context, g *access.Grant, err error) error {
	if errors.Is(err, vault.ErrPermissionDenied) {
		if lost := t.opts.Access.Recheck(ctx, g); lost != nil {
			return lost
		}
	}
	return err
}

// setPath validates an agent path and remembers it, refused or not, for the
// audit log.
func (c *call) setPath(p string, allowRoot bool) (string, error) {
	c.path = p
	if len(p) > paths.MaxLen {
		c.path = p[:paths.MaxLen] + "…"
	}
	clean, err := paths.Parse(p, allowRoot)
	if err != nil {
		return "", err
	}
	c.path = clean
	return clean, nil
}
