package mcptools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/paths"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

var (
	readTool = &mcp.Tool{
		Name:  "read_secret",
		Title: "Read a secret",
		Description: "Read a secret's key/value data: the current version, or an older one with version. path is " +
			"relative to your secrets folder, like \"db/postgres\" (use list_secrets to find paths). Where the " +
			"deployment keeps values out of your context, you get the field names only. Needs read access; " +
			"without it this starts an approval for read access, or tells you to call authenticate.",
		Annotations: readOnly(),
	}
	listTool = &mcp.Tool{
		Name:  "list_secrets",
		Title: "List secrets",
		Description: "List the secrets and folders under path (folders end in \"/\"); \"\" is the top of your " +
			"folder. With recursive, also what is inside the folders, up to depth levels (at most 5) and 500 " +
			"entries; every folder listed after the first counts as one more call against your rate limit, and " +
			"the walk stops (truncated, rate_limited) when the limit is reached. Needs read access, like read_secret.",
		Annotations: readOnly(),
	}
	writeTool = &mcp.Tool{
		Name:  "write_secret",
		Title: "Write a secret",
		Description: "Write data (a JSON object of keys and values) as the new version of the secret at path. It " +
			"replaces all current keys: include every key the secret should keep, or use patch_secret to change " +
			"some. With cas, the write happens only if the current version is cas (0: only if the secret does " +
			"not exist), so you do not overwrite someone else's change. Needs write access (call escalate first).",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: false, DestructiveHint: ptr(true), IdempotentHint: true, OpenWorldHint: ptr(false)},
	}
	patchTool = &mcp.Tool{
		Name:  "patch_secret",
		Title: "Change some fields of a secret",
		Description: "Merge data into the current version of the secret at path, as a new version: the keys you give " +
			"are set, a key set to null is removed, other keys stay. The secret must exist. Optional cas as for " +
			"write_secret. Needs write access.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: false, DestructiveHint: ptr(true), IdempotentHint: true, OpenWorldHint: ptr(false)},
	}
)

func readOnly() *mcp.ToolAnnotations {
	return &mcp.ToolAnnotations{ReadOnlyHint: true, DestructiveHint: ptr(false), IdempotentHint: true, OpenWorldHint: ptr(false)}
}

// PathIn is the input of tools that take only a path.
type PathIn struct {
	Path string `json:"path" jsonschema:"relative to your secrets folder, e.g. db/postgres"`
}

// ReadIn is read_secret's input.
type ReadIn struct {
	Path    string `json:"path" jsonschema:"relative to your secrets folder, e.g. db/postgres"`
	Version int64  `json:"version,omitempty" jsonschema:"an older version to read; omit for the current one"`
}

// ListIn is list_secrets' input.
type ListIn struct {
	Path      string `json:"path" jsonschema:"a folder relative to your secrets folder; empty for the top"`
	Recursive bool   `json:"recursive,omitempty" jsonschema:"also list inside the folders"`
	Depth     int    `json:"depth,omitempty" jsonschema:"with recursive: how many levels (1 to 5, default 5)"`
}

// WriteIn is write_secret's and patch_secret's input.
type WriteIn struct {
	Path string         `json:"path" jsonschema:"relative to your secrets folder, e.g. db/postgres"`
	Data map[string]any `json:"data" jsonschema:"the secret's keys and values"`
	CAS  *int64         `json:"cas,omitempty" jsonschema:"write only if the current version is this (0: only if it does not exist yet)"`
}

// SecretOut is a secret's version. Without reveal, Data is absent and
// Fields names the keys.
type SecretOut struct {
	Path     string         `json:"path"`
	Version  int64          `json:"version"`
	Created  time.Time      `json:"created,omitzero"`
	Data     map[string]any `json:"data,omitempty"`
	Fields   []string       `json:"fields,omitempty" jsonschema:"the keys, when values are withheld"`
	Revealed bool           `json:"revealed" jsonschema:"false: the deployment keeps this secret's values out of your context"`
}

// WrittenOut reports a write; it never echoes values.
type WrittenOut struct {
	Path    string `json:"path"`
	Version int64  `json:"version"`
}

// ListOut lists a folder.
type ListOut struct {
	Path      string   `json:"path"`
	Keys      []string `json:"keys"`
	Truncated bool     `json:"truncated,omitempty" jsonschema:"the walk stopped at its limit"`
	// RateLimited: the walk stopped because the next folder would have
	// exceeded the caller's rate limit.
	RateLimited bool `json:"rate_limited,omitempty" jsonschema:"the walk stopped at your rate limit: each folder listed counts as a call; list a narrower path or retry later"`
}

// full is where an agent path lives in the KV mount.
func (t *tools) full(c *call, p string) string { return joinPath(t.opts.Folder(c.principal), p) }

func (t *tools) read(ctx context.Context, c *call, in ReadIn) (SecretOut, error) {
	p, err := c.setPath(in.Path, false)
	if err != nil {
		return SecretOut{}, err
	}
	if in.Version < 0 {
		return SecretOut{}, inputError("version must be positive")
	}
	s, err := withRead(ctx, t, c, func(g *access.Grant) (*vault.KVSecret, error) {
		return t.opts.Vault.KVReadVersion(ctx, g.Token, t.opts.KVMount, t.full(c, p), in.Version)
	})
	if err != nil {
		return SecretOut{}, err
	}
	out := SecretOut{Path: p, Version: s.Version, Created: s.Created}
	if t.opts.Reveal(c.principal, p) {
		out.Data, out.Revealed, c.reveal = s.Data, true, "revealed"
	} else {
		out.Fields, c.reveal = slices.Sorted(maps.Keys(s.Data)), "withheld"
	}
	return out, nil
}

const (
	maxListDepth   = 5
	maxListEntries = 500
)

func (t *tools) list(ctx context.Context, c *call, in ListIn) (ListOut, error) {
	p, err := c.setPath(in.Path, true)
	if err != nil {
		return ListOut{}, err
	}
	depth := 1
	if in.Recursive {
		depth = maxListDepth
		if in.Depth != 0 {
			depth = in.Depth
		}
	}
	if depth < 1 || depth > maxListDepth {
		return ListOut{}, inputError(fmt.Sprintf("depth must be between 1 and %d", maxListDepth))
	}
	out := ListOut{Path: p, Keys: []string{}}
	_, err = withRead(ctx, t, c, func(g *access.Grant) (struct{}, error) {
		// Breadth first, so the limit keeps the shallow entries. Paths in
		// the queue are relative to the agent's folder; shown ones to p.
		type folder struct {
			rel   string
			level int
		}
		shown := func(rel string) string { return strings.TrimPrefix(rel, joinPath(p, "")) }
		for queue, listed := []folder{{p, 1}}, 0; len(queue) > 0; queue, listed = queue[1:], listed+1 {
			f := queue[0]
			// The tool call paid for the first Vault call; each further
			// one is charged to the same limit, so that one call cannot
			// spend more than the agent may.
			if listed > 0 && !t.spend(c) {
				out.Truncated, out.RateLimited = true, true
				return struct{}{}, nil
			}
			keys, err := t.opts.Vault.KVList(ctx, g.Token, t.opts.KVMount, t.full(c, f.rel))
			if errors.Is(err, vault.ErrNotFound) {
				continue // an empty folder and a missing one look the same
			}
			if err != nil {
				return struct{}{}, err
			}
			for _, k := range keys {
				if len(out.Keys) == maxListEntries {
					out.Truncated = true
					return struct{}{}, nil
				}
				child := joinPath(f.rel, k)
				out.Keys = append(out.Keys, shown(child))
				if strings.HasSuffix(k, "/") && f.level < depth {
					queue = append(queue, folder{strings.TrimSuffix(child, "/"), f.level + 1})
				}
			}
		}
		return struct{}{}, nil
	})
	if err != nil {
		return ListOut{}, err
	}
	return out, nil
}

const maxWrite = 64 << 10

// checkData validates the data of a write or patch.
func checkData(data map[string]any) error {
	if len(data) == 0 {
		return inputError("data must be an object with at least one key")
	}
	if b, err := json.Marshal(data); err != nil || len(b) > maxWrite {
		return inputError(fmt.Sprintf("data must be a JSON object of at most %d bytes", maxWrite))
	}
	return nil
}

func (t *tools) write(ctx context.Context, c *call, in WriteIn) (WrittenOut, error) {
	return t.writeWith(ctx, c, in, t.opts.Vault.KVWriteCAS)
}

func (t *tools) patch(ctx context.Context, c *call, in WriteIn) (WrittenOut, error) {
	return t.writeWith(ctx, c, in, t.opts.Vault.KVPatch)
}

type writeFunc func(ctx context.Context, tok sensitive.String, mount, path string, data map[string]any, cas *int64) (int64, error)

func (t *tools) writeWith(ctx context.Context, c *call, in WriteIn, write writeFunc) (WrittenOut, error) {
	p, err := c.setPath(in.Path, false)
	if err != nil {
		return WrittenOut{}, err
	}
	if err := checkData(in.Data); err != nil {
		return WrittenOut{}, err
	}
	if in.CAS != nil && *in.CAS < 0 {
		return WrittenOut{}, inputError("cas must be 0 or a version")
	}
	v, err := withWrite(ctx, t, c, p, func(g *access.Grant) (int64, error) {
		return write(ctx, g.Token, t.opts.KVMount, t.full(c, p), in.Data, in.CAS)
	})
	if err != nil {
		return WrittenOut{}, err
	}
	return WrittenOut{Path: p, Version: v}, nil
}

// withRead runs fn with the grant p reads with, starting a read approval if
// there is none.
func withRead[T any](ctx context.Context, t *tools, c *call, fn func(*access.Grant) (T, error)) (T, error) {
	var zero T
	stop := t.waiting(ctx, c, access.Read)
	g, err := t.opts.Access.ForRead(ctx, c.principal, c.tool+" "+c.path)
	stop()
	if err != nil {
		return zero, err
	}
	c.tier, c.accessor = g.Tier.String(), g.Accessor
	v, err := fn(g)
	if err != nil {
		return zero, t.refused(ctx, g, err)
	}
	return v, nil
}

// withWrite runs fn with p's live write grant for path: a write never
// escalates by itself, and happens only once its intent is on record.
func withWrite[T any](ctx context.Context, t *tools, c *call, path string, fn func(*access.Grant) (T, error)) (T, error) {
	var zero T
	g, err := t.opts.Access.ForWrite(c.principal, path)
	if err != nil {
		return zero, err
	}
	if err := t.intent(ctx, c, g); err != nil {
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

// joinPath joins a folder (possibly "") and a name.
func joinPath(folder, name string) string {
	if folder == "" {
		return name
	}
	return folder + "/" + name
}
