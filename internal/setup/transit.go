package setup

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// Keys every agent gets: one to encrypt with, one to sign with. Agents use
// them through Gatekeeper and never see their material.
var agentKeys = map[string]string{"default": "aes256-gcm96", "signing": "ed25519"}

// transitMount enables the transit engine, or checks that the mount is one.
func (r *run) transitMount(ctx context.Context) error {
	m := r.opts.Layout.Transit()
	created, err := r.v.MountEngine(ctx, r.admin, m, vault.Engine{Type: "transit", Description: "Gatekeeper agents' keys"})
	if created {
		r.changed("transit mount " + m)
	}
	return err
}

// keys creates the agent's transit keys that do not exist yet.
func (r *run) keys(ctx context.Context, a Agent) error {
	m := r.opts.Layout.Transit()
	for key, typ := range agentKeys {
		path := m + "/keys/" + a.KeyName(key)
		_, err := r.v.Read(ctx, r.admin, path)
		if err == nil {
			continue
		}
		if !errors.Is(err, vault.ErrNotFound) {
			return fmt.Errorf("reading transit key %s: %w", a.KeyName(key), err)
		}
		if _, err := r.v.Write(ctx, r.admin, path, map[string]any{"type": typ}); err != nil {
			return fmt.Errorf("creating transit key %s: %w", a.KeyName(key), err)
		}
		r.changed("transit key " + a.KeyName(key))
	}
	return nil
}
