package vault

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// KVSecret is one version of a KV v2 secret.
type KVSecret struct {
	Data    map[string]any
	Version int64
	Created time.Time
	// CustomMetadata is the secret's (not the version's) custom metadata.
	CustomMetadata map[string]string
}

func kvPath(mount, kind, path string) string {
	return strings.Trim(mount, "/") + "/" + kind + "/" + strings.Trim(path, "/")
}

// KVRead reads the current version of mount/path. A missing secret is
// ErrNotFound; a deleted or destroyed current version is ErrDeleted or
// ErrDestroyed, which are ErrNotFound too.
func (c *Client) KVRead(ctx context.Context, tok sensitive.String, mount, path string) (*KVSecret, error) {
	return c.KVReadVersion(ctx, tok, mount, path, 0)
}

// KVWrite writes data as the next version of mount/path and returns that
// version.
func (c *Client) KVWrite(ctx context.Context, tok sensitive.String, mount, path string, data map[string]any) (int64, error) {
	return c.KVWriteCAS(ctx, tok, mount, path, data, nil)
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

// Int64 reads a number from a Vault response, which the API client
// decodes as json.Number (float64 when decoded elsewhere); 0 otherwise.
func Int64(v any) int64 {
	switch n := v.(type) {
	case json.Number:
		i, _ := n.Int64()
		return i
	case float64:
		return int64(n)
	}
	return 0
}

// timeOf reads one of Vault's RFC 3339 times; "" (not deleted) is zero.
func timeOf(v any) time.Time {
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// stringMap reads custom_metadata, which Vault keeps as strings and sends
// as null when there is none.
func stringMap(v any) map[string]string {
	m, _ := v.(map[string]any)
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, val := range m {
		if s, ok := val.(string); ok {
			out[k] = s
		}
	}
	return out
}

// MountKVv2 enables a KV v2 engine at mount, or checks that mount already is
// one.
func (c *Client) MountKVv2(ctx context.Context, tok sensitive.String, mount string) error {
	_, err := c.MountEngine(ctx, tok, mount, Engine{Type: "kv", Version: "2", Description: "Gatekeeper secrets"})
	return err
}
