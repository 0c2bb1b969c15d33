package mcptools

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

var (
	metadataTool = &mcp.Tool{
		Name:  "secret_metadata",
		Title: "Show a secret's versions",
		Description: "Show the versions of the secret at path (created, deleted, destroyed) and its custom " +
			"metadata. Never shows values. Needs read access.",
		Annotations: readOnly(),
	}
	deleteTool = &mcp.Tool{
		Name:  "delete_secret",
		Title: "Delete a secret (recoverable)",
		Description: "Soft-delete the current version of the secret at path, or the listed versions. Deleted " +
			"versions can be brought back with undelete_secret. Needs write access.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: false, DestructiveHint: ptr(true), IdempotentHint: true, OpenWorldHint: ptr(false)},
	}
	undeleteTool = &mcp.Tool{
		Name:        "undelete_secret",
		Title:       "Bring back deleted versions",
		Description: "Undelete the listed soft-deleted versions of the secret at path. Needs write access.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: false, DestructiveHint: ptr(false), IdempotentHint: true, OpenWorldHint: ptr(false)},
	}
	destroyTool = &mcp.Tool{
		Name:  "destroy_secret",
		Title: "Destroy versions permanently",
		Description: "Permanently destroy the listed versions of the secret at path: they can never be read or " +
			"brought back. Needs write access AND a fresh approval by the human for exactly this path and these " +
			"versions, every time, on Gatekeeper's approval page; give a reason they will see. Prefer " +
			"delete_secret unless the values must be gone for good.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: false, DestructiveHint: ptr(true), IdempotentHint: true, OpenWorldHint: ptr(false)},
	}
)

// VersionsIn names a secret and some of its versions.
type VersionsIn struct {
	Path     string  `json:"path" jsonschema:"relative to your secrets folder, e.g. db/postgres"`
	Versions []int64 `json:"versions,omitempty" jsonschema:"versions to act on"`
}

// DestroyIn is destroy_secret's input.
type DestroyIn struct {
	Path     string  `json:"path" jsonschema:"relative to your secrets folder, e.g. db/postgres"`
	Versions []int64 `json:"versions" jsonschema:"the versions to destroy for good"`
	Reason   string  `json:"reason" jsonschema:"why these versions must be gone for good; shown to the human who approves"`
	Passcode string  `json:"passcode,omitempty" jsonschema:"leave this out: the human answers on Gatekeeper's approval page. Only a deployment that allows codes in chat takes one here, and only a code the human chose to give you"`
}

// VersionOut is one version's history.
type VersionOut struct {
	Version   int64     `json:"version"`
	Created   time.Time `json:"created"`
	Deleted   time.Time `json:"deleted,omitzero"`
	Destroyed bool      `json:"destroyed"`
}

// MetadataOut is a secret's metadata, without values.
type MetadataOut struct {
	Path           string            `json:"path"`
	CurrentVersion int64             `json:"current_version"`
	OldestVersion  int64             `json:"oldest_version"`
	MaxVersions    int               `json:"max_versions"`
	CASRequired    bool              `json:"cas_required"`
	Created        time.Time         `json:"created"`
	Updated        time.Time         `json:"updated"`
	CustomMetadata map[string]string `json:"custom_metadata,omitempty"`
	Versions       []VersionOut      `json:"versions"`
}

// DoneOut reports a lifecycle change.
type DoneOut struct {
	Path     string  `json:"path"`
	Versions []int64 `json:"versions,omitempty"`
	Done     string  `json:"done"`
}

func (t *tools) metadata(ctx context.Context, c *call, in PathIn) (MetadataOut, error) {
	p, err := c.setPath(in.Path, false)
	if err != nil {
		return MetadataOut{}, err
	}
	md, err := withRead(ctx, t, c, func(g *access.Grant) (*vault.KVMetadata, error) {
		return t.opts.Vault.KVMetadata(ctx, g.Token, t.opts.KVMount, t.full(c, p))
	})
	if err != nil {
		return MetadataOut{}, err
	}
	out := MetadataOut{
		Path: p, CurrentVersion: md.CurrentVersion, OldestVersion: md.OldestVersion, MaxVersions: md.MaxVersions,
		CASRequired: md.CASRequired, Created: md.Created, Updated: md.Updated, CustomMetadata: md.CustomMetadata,
		Versions: []VersionOut{},
	}
	for _, v := range md.Versions {
		out.Versions = append(out.Versions, VersionOut{Version: v.Version, Created: v.Created, Deleted: v.Deleted, Destroyed: v.Destroyed})
	}
	return out, nil
}

func (t *tools) delete(ctx context.Context, c *call, in VersionsIn) (DoneOut, error) {
	p, vs, err := c.versions(in.Path, in.Versions, false)
	if err != nil {
		return DoneOut{}, err
	}
	_, err = withWrite(ctx, t, c, p, func(g *access.Grant) (struct{}, error) {
		return struct{}{}, t.opts.Vault.KVDelete(ctx, g.Token, t.opts.KVMount, t.full(c, p), vs)
	})
	if err != nil {
		return DoneOut{}, err
	}
	done := "deleted the current version (recoverable with undelete_secret)"
	if len(vs) > 0 {
		done = "deleted the listed versions (recoverable with undelete_secret)"
	}
	return DoneOut{Path: p, Versions: vs, Done: done}, nil
}

func (t *tools) undelete(ctx context.Context, c *call, in VersionsIn) (DoneOut, error) {
	p, vs, err := c.versions(in.Path, in.Versions, true)
	if err != nil {
		return DoneOut{}, err
	}
	_, err = withWrite(ctx, t, c, p, func(g *access.Grant) (struct{}, error) {
		return struct{}{}, t.opts.Vault.KVUndelete(ctx, g.Token, t.opts.KVMount, t.full(c, p), vs)
	})
	if err != nil {
		return DoneOut{}, err
	}
	return DoneOut{Path: p, Versions: vs, Done: "undeleted"}, nil
}

// destroy asks the human again, for exactly this path and these versions,
// and destroys with a token minted for this one operation.
func (t *tools) destroy(ctx context.Context, c *call, in DestroyIn) (DoneOut, error) {
	p, vs, err := c.versions(in.Path, in.Versions, true)
	if err != nil {
		return DoneOut{}, err
	}
	reason, err := checkReason(in.Reason)
	if err != nil {
		return DoneOut{}, err
	}
	code, err := passcode(in.Passcode)
	if err != nil {
		return DoneOut{}, err
	}
	trigger := fmt.Sprintf("destroy_secret %s versions %s", p, joinVersions(vs))
	defer t.waiting(ctx, c, access.Destroy)()
	err = t.opts.Access.Once(ctx, c.principal, reason, trigger, []string{p}, code, func(tok sensitive.String) error {
		return t.opts.Vault.KVDestroy(ctx, tok, t.opts.KVMount, t.full(c, p), vs)
	})
	if err != nil {
		return DoneOut{}, err
	}
	return DoneOut{Path: p, Versions: vs, Done: "destroyed permanently"}, nil
}

const maxVersions = 100

// versions validates a path and a version list; required says the list
// may not be empty.
func (c *call) versions(path string, vs []int64, required bool) (string, []int64, error) {
	p, err := c.setPath(path, false)
	if err != nil {
		return "", nil, err
	}
	if required && len(vs) == 0 {
		return "", nil, inputError("versions: name at least one version (see secret_metadata)")
	}
	if len(vs) > maxVersions {
		return "", nil, inputError(fmt.Sprintf("at most %d versions at once", maxVersions))
	}
	for _, v := range vs {
		if v < 1 {
			return "", nil, inputError("versions are numbered from 1")
		}
	}
	out := slices.Clone(vs)
	slices.Sort(out)
	return p, slices.Compact(out), nil
}

func joinVersions(vs []int64) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, ",")
}
