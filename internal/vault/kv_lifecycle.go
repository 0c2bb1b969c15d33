package vault

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// KV v2 keeps every version of a secret until max_versions pushes it out.
// A version can be soft-deleted (its data hidden, undelete brings it back) or
// destroyed (its data gone for good); reading one is ErrDeleted or
// ErrDestroyed, both of class ErrNotFound. A check-and-set (cas) write
// succeeds only if cas is the current version (0: the secret does not
// exist yet), which is how two writers avoid overwriting each other.

// KVVersion is what KV v2 remembers about one version.
type KVVersion struct {
	Version   int64
	Created   time.Time
	Deleted   time.Time // zero if not deleted
	Destroyed bool
}

// KVMetadata describes a secret and all its versions, never their data.
type KVMetadata struct {
	CurrentVersion int64
	OldestVersion  int64
	// MaxVersions is the secret's own limit; 0 means the mount's.
	MaxVersions    int
	CASRequired    bool
	Created        time.Time
	Updated        time.Time
	CustomMetadata map[string]string
	Versions       []KVVersion // sorted by version
}

// KVReadVersion reads version of mount/path; 0 is the current version. A
// missing secret or version is ErrNotFound, a soft-deleted one ErrDeleted,
// a destroyed one ErrDestroyed.
func (c *Client) KVReadVersion(ctx context.Context, tok sensitive.String, mount, path string, version int64) (*KVSecret, error) {
	const op = "reading"
	full := kvPath(mount, "data", path)
	if version < 0 {
		return nil, invalid(op, full, "version must be 0 (current) or positive")
	}
	r := request{method: http.MethodGet, path: full}
	if version > 0 {
		r.query = url.Values{"version": {strconv.FormatInt(version, 10)}}
	}
	s, err := c.sendExpecting(ctx, tok, op, r)
	if err != nil {
		return nil, err
	}
	meta, _ := s.Data["metadata"].(map[string]any)
	data, _ := s.Data["data"].(map[string]any)
	if data == nil {
		// Vault answers a deleted or destroyed version with 404, which send
		// classifies; a server that answers 200 with the metadata alone gets
		// the same classification.
		e := &Error{Op: op, Path: full}
		gone(e, meta)
		return nil, e
	}
	return &KVSecret{
		Data:           data,
		Version:        Int64(meta["version"]),
		Created:        timeOf(meta["created_time"]),
		CustomMetadata: stringMap(meta["custom_metadata"]),
	}, nil
}

// KVWriteCAS writes data as the next version of mount/path and returns that
// version (0 if Vault did not say). With cas, the write succeeds only if cas
// is the current version (0: no version yet), else ErrCASMismatch. Without
// cas on a secret or mount that requires one, ErrCASRequired.
func (c *Client) KVWriteCAS(ctx context.Context, tok sensitive.String, mount, path string, data map[string]any, cas *int64) (int64, error) {
	return c.kvWrite(ctx, tok, "writing", mount, path, data, cas, false)
}

// KVPatch merges data into the current version of mount/path as a JSON merge
// patch (RFC 7396: a null value removes its key) and writes the result as the
// next version, whose number it returns. cas works as in KVWriteCAS. A
// missing secret is ErrNotFound; a deleted current version, ErrDeleted.
// The token needs the patch capability, which update does not imply.
func (c *Client) KVPatch(ctx context.Context, tok sensitive.String, mount, path string, data map[string]any, cas *int64) (int64, error) {
	return c.kvWrite(ctx, tok, "patching", mount, path, data, cas, true)
}

func (c *Client) kvWrite(ctx context.Context, tok sensitive.String, op, mount, path string, data map[string]any, cas *int64, patch bool) (int64, error) {
	full := kvPath(mount, "data", path)
	body := map[string]any{"data": data}
	if cas != nil {
		if *cas < 0 {
			return 0, invalid(op, full, "cas must be 0 (no version yet) or positive")
		}
		body["options"] = map[string]any{"cas": *cas}
	}
	method := http.MethodPut
	if patch {
		method = http.MethodPatch
	}
	s, err := c.send(ctx, tok, op, request{method: method, path: full, body: body, mergePatch: patch})
	if err != nil || s == nil {
		return 0, err
	}
	return Int64(s.Data["version"]), nil
}

// KVMetadata reads what KV v2 knows about mount/path and its versions. A
// missing secret is ErrNotFound.
func (c *Client) KVMetadata(ctx context.Context, tok sensitive.String, mount, path string) (*KVMetadata, error) {
	full := kvPath(mount, "metadata", path)
	s, err := c.sendExpecting(ctx, tok, "reading metadata", request{method: http.MethodGet, path: full})
	if err != nil {
		return nil, err
	}
	d := s.Data
	md := &KVMetadata{
		CurrentVersion: Int64(d["current_version"]),
		OldestVersion:  Int64(d["oldest_version"]),
		MaxVersions:    int(Int64(d["max_versions"])),
		Created:        timeOf(d["created_time"]),
		Updated:        timeOf(d["updated_time"]),
		CustomMetadata: stringMap(d["custom_metadata"]),
	}
	md.CASRequired, _ = d["cas_required"].(bool)
	versions, _ := d["versions"].(map[string]any)
	for num, raw := range versions {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			continue
		}
		v, _ := raw.(map[string]any)
		destroyed, _ := v["destroyed"].(bool)
		md.Versions = append(md.Versions, KVVersion{
			Version:   n,
			Created:   timeOf(v["created_time"]),
			Deleted:   timeOf(v["deletion_time"]),
			Destroyed: destroyed,
		})
	}
	slices.SortFunc(md.Versions, func(a, b KVVersion) int { return cmp.Compare(a.Version, b.Version) })
	return md, nil
}

// KVDelete soft-deletes versions of mount/path, or the latest version when
// none are listed. Vault does not report a missing secret or version here:
// deleting one succeeds and changes nothing.
func (c *Client) KVDelete(ctx context.Context, tok sensitive.String, mount, path string, versions []int64) error {
	if len(versions) == 0 {
		_, err := c.send(ctx, tok, "deleting", request{method: http.MethodDelete, path: kvPath(mount, "data", path)})
		return err
	}
	return c.kvVersions(ctx, tok, "deleting", kvPath(mount, "delete", path), versions)
}

// KVUndelete restores soft-deleted versions of mount/path. Versions are
// required; missing or destroyed ones are left as they are.
func (c *Client) KVUndelete(ctx context.Context, tok sensitive.String, mount, path string, versions []int64) error {
	return c.kvVersions(ctx, tok, "undeleting", kvPath(mount, "undelete", path), versions)
}

// KVDestroy permanently removes the data of versions of mount/path; their
// metadata stays, marked destroyed. Versions are required.
func (c *Client) KVDestroy(ctx context.Context, tok sensitive.String, mount, path string, versions []int64) error {
	return c.kvVersions(ctx, tok, "destroying", kvPath(mount, "destroy", path), versions)
}

func (c *Client) kvVersions(ctx context.Context, tok sensitive.String, op, full string, versions []int64) error {
	if len(versions) == 0 {
		return invalid(op, full, "no versions given")
	}
	if slices.ContainsFunc(versions, func(v int64) bool { return v <= 0 }) {
		return invalid(op, full, "versions must be positive")
	}
	_, err := c.send(ctx, tok, op, request{method: http.MethodPut, path: full, body: map[string]any{"versions": versions}})
	return err
}

// invalid is a request refused before it reaches Vault.
func invalid(op, path, detail string) error {
	return &Error{Kind: ErrInvalidRequest, Op: op, Path: path, Detail: detail}
}
