package vault

import (
	"context"
	"net/http"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// ServerTime is the server's clock as its Date header says, to the
// second, and when the answer arrived by this machine's clock (now). Any
// answer has a Date, so a sealed server tells its time too.
func (c *Client) ServerTime(ctx context.Context, now func() time.Time) (server, local time.Time, err error) {
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	const path = "sys/health"
	sent := now()
	resp, rerr := c.base.RawRequestWithContext(ctx, c.base.NewRequest(http.MethodGet, "/v1/"+path))
	if resp != nil {
		defer resp.Body.Close()
	}
	if resp == nil {
		return time.Time{}, time.Time{}, classify("reading the time", path, rerr, nil)
	}
	got := now()
	server, err = http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return time.Time{}, time.Time{}, &Error{Kind: ErrInvalidRequest, Op: "reading the time", Path: path, Detail: "no Date header"}
	}
	// The header was written somewhere between sending and receiving.
	return server, sent.Add(got.Sub(sent) / 2), nil
}

// Mount describes a secrets engine mount.
type Mount struct {
	Type    string // kv, transit, …
	Version string // a KV mount's version ("2"), else ""
}

// MountOf describes the mount at path as tok may see it: Vault shows a
// token only mounts it has some capability under, so a mount the token
// cannot use is ErrPermissionDenied, like one that is not there.
func (c *Client) MountOf(ctx context.Context, tok sensitive.String, path string) (*Mount, error) {
	s, err := c.Read(ctx, tok, "sys/internal/ui/mounts/"+path)
	if err != nil {
		return nil, err
	}
	m := mountFrom(s.Data)
	return &m, nil
}

// mountFrom reads a mount's description as Vault's mount endpoints
// return it.
func mountFrom(data map[string]any) Mount {
	var m Mount
	m.Type, _ = data["type"].(string)
	if opts, ok := data["options"].(map[string]any); ok {
		m.Version, _ = opts["version"].(string)
	}
	return m
}
