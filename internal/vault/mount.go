package vault

import (
	"context"
	"fmt"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// Engine is a secrets engine for MountEngine.
type Engine struct {
	Type        string // kv, transit, pki, database, …
	Version     string // the engine's version option (kv: "2"); empty: any
	Description string
	Config      map[string]any // the mount's tuning, e.g. max_lease_ttl
}

// MountEngine mounts e at path, or checks that what is mounted there is
// e's type (and version): setup and a dev Vault that keeps its storage run
// again over their own mounts, and a mount of another engine is refused
// rather than used. created reports whether this call mounted it.
func (c *Client) MountEngine(ctx context.Context, tok sensitive.String, path string, e Engine) (created bool, err error) {
	s, err := c.Read(ctx, tok, "sys/mounts/"+path)
	if err == nil && s != nil {
		m := mountFrom(s.Data)
		if m.Type != e.Type || (e.Version != "" && m.Version != e.Version) {
			return false, fmt.Errorf("mount %s exists but is %s, not %s", path, describeEngine(m.Type, m.Version), describeEngine(e.Type, e.Version))
		}
		return false, nil
	}
	if err != nil && !isNotFoundOrBadRequest(err) {
		return false, fmt.Errorf("reading mount %s: %w", path, err)
	}
	body := map[string]any{"type": e.Type}
	if e.Version != "" {
		body["options"] = map[string]any{"version": e.Version}
	}
	if e.Description != "" {
		body["description"] = e.Description
	}
	if e.Config != nil {
		body["config"] = e.Config
	}
	if _, err := c.Write(ctx, tok, "sys/mounts/"+path, body); err != nil {
		return false, fmt.Errorf("enabling the %s engine at %s: %w", e.Type, path, err)
	}
	return true, nil
}

func describeEngine(typ, version string) string {
	if version == "" {
		return typ
	}
	return typ + " version " + version
}
