package setup

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// Shared state of replicas (state.backend: vault). Replicas keep grants,
// pending approvals and heartbeats in Gatekeeper's own KV folder, outside
// every agent's prefix, and seal grant tokens with a transit key of their
// own; Gatekeeper's own identity (the bootstrap token, or the broker token
// in the brokered strategy) gets exactly these paths, and no agent tier
// policy reaches either.
const (
	// StateFolder is the replicas' folder in the KV mount.
	StateFolder = OwnFolder + "/state"
	// StateKey is the transit key that seals grant tokens in the store.
	StateKey = "gatekeeper-state"
)

// statePolicy is what Gatekeeper's own identity needs for shared state:
// read and write (check-and-set) its records, list them, prune the
// heartbeats of replicas long gone, and encrypt and decrypt with its key,
// never read the key itself.
func (l Layout) statePolicy() string {
	if !l.SharedState {
		return ""
	}
	return fmt.Sprintf(`
# Shared state of Gatekeeper's replicas: grants, pending approvals and
# heartbeats in its own folder, grant tokens sealed with its own transit
# key. This token can unseal them: it holds the live grants' tokens, as
# every replica does in memory, and still reads no secret itself.
path "%s/*" {
  capabilities = ["create", "read", "update"]
}
path "%s/*" {
  capabilities = ["read", "list"]
}
path "%s/replicas/*" {
  capabilities = ["read", "list", "delete"]
}
path "%s/encrypt/%s" {
  capabilities = ["update"]
}
path "%s/decrypt/%s" {
  capabilities = ["update"]
}
`, l.dataPath(StateFolder), l.metadataPath(StateFolder), l.metadataPath(StateFolder),
		l.Transit(), StateKey, l.Transit(), StateKey)
}

// stateKey creates the transit key that seals grant tokens, if the layout
// shares state and the key does not exist yet. It cannot be exported, and
// Vault refuses to delete it while deletion_allowed stays false.
func (r *run) stateKey(ctx context.Context) error {
	if !r.opts.Layout.SharedState {
		return nil
	}
	path := r.opts.Layout.Transit() + "/keys/" + StateKey
	if _, err := r.v.Read(ctx, r.admin, path); err == nil {
		return nil
	} else if !errors.Is(err, vault.ErrNotFound) {
		return fmt.Errorf("reading transit key %s: %w", StateKey, err)
	}
	if _, err := r.v.Write(ctx, r.admin, path, map[string]any{"type": "aes256-gcm96", "exportable": false}); err != nil {
		return fmt.Errorf("creating transit key %s: %w", StateKey, err)
	}
	r.changed("transit key " + StateKey)
	return nil
}
