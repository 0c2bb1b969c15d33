package vault

import (
	"context"
	"fmt"
)

// Health is the server's own account of itself.
type Health struct {
	Initialized bool
	Sealed      bool
	Version     string
}

// Health asks sys/health, which answers without a token.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	h, err := c.base.Sys().HealthWithContext(ctx)
	if err != nil {
		return nil, classify("checking health", "sys/health", err, nil)
	}
	if h == nil {
		return nil, fmt.Errorf("checking health: empty response")
	}
	return &Health{Initialized: h.Initialized, Sealed: h.Sealed, Version: h.Version}, nil
}
