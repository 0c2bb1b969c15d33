package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// KVSecret is the current version of a KV v2 secret.
type KVSecret struct {
	Data    map[string]any
	Version int64
}

func kvPath(mount, kind, path string) string {
	return strings.Trim(mount, "/") + "/" + kind + "/" + strings.Trim(path, "/")
}

// KVRead reads the current version of mount/path. A missing or deleted
// secret is ErrNotFound.
func (c *Client) KVRead(ctx context.Context, tok sensitive.String, mount, path string) (*KVSecret, error) {
	full := kvPath(mount, "data", path)
	s, err := c.Read(ctx, tok, full)
	if err != nil {
		return nil, err
	}
	data, _ := s.Data["data"].(map[string]any)
	if data == nil {
		// KV v2 answers a deleted version with metadata and no data.
		return nil, &Error{Kind: ErrNotFound, Op: "reading", Path: full}
	}
	return &KVSecret{Data: data, Version: versionOf(s.Data["metadata"])}, nil
}

// KVWrite writes data as the next version of mount/path and returns that
// version.
func (c *Client) KVWrite(ctx context.Context, tok sensitive.String, mount, path string, data map[string]any) (int64, error) {
	full := kvPath(mount, "data", path)
	s, err := c.Write(ctx, tok, full, map[string]any{"data": data})
	if err != nil {
		return 0, err
	}
	if s == nil {
		return 0, nil
	}
	return versionOf(s.Data), nil
}

// KVList lists the keys directly under mount/path; folders end in "/".
// An empty or missing folder is ErrNotFound.
func (c *Client) KVList(ctx context.Context, tok sensitive.String, mount, path string) ([]string, error) {
	full := kvPath(mount, "metadata", path)
	s, err := c.List(ctx, tok, full)
	if err != nil {
		return nil, err
	}
	raw, _ := s.Data["keys"].([]any)
	keys := make([]string, 0, len(raw))
	for _, k := range raw {
		if ks, ok := k.(string); ok {
			keys = append(keys, ks)
		}
	}
	return keys, nil
}

func versionOf(meta any) int64 {
	m, ok := meta.(map[string]any)
	if !ok {
		return 0
	}
	switch v := m["version"].(type) {
	case json.Number:
		n, _ := v.Int64()
		return n
	case float64:
		return int64(v)
	}
	return 0
}

// MountKVv2 enables a KV v2 engine at mount, or checks that mount already is
// one.
func (c *Client) MountKVv2(ctx context.Context, tok sensitive.String, mount string) error {
	s, err := c.Read(ctx, tok, "sys/mounts/"+mount)
	if err == nil && s != nil {
		typ, _ := s.Data["type"].(string)
		opts, _ := s.Data["options"].(map[string]any)
		if typ != "kv" || opts["version"] != "2" {
			return fmt.Errorf("mount %s exists but is %s version %v, not kv version 2", mount, typ, opts["version"])
		}
		return nil
	}
	if err != nil && !isNotFoundOrBadRequest(err) {
		return err
	}
	_, err = c.Write(ctx, tok, "sys/mounts/"+mount, map[string]any{
		"type":        "kv",
		"options":     map[string]any{"version": "2"},
		"description": "Gatekeeper secrets",
	})
	return err
}
