package setup

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// bootstrapPeriod is how long the bootstrap token lives without a renewal.
// Gatekeeper renews it while it runs.
const bootstrapPeriod = "768h"

// bootstrap returns the bootstrap token: the one a previous run made if it is
// still valid and still bound to only the bootstrap policy, otherwise a new
// orphan token, which is kept in Gatekeeper's own KV folder for the next run.
func (r *run) bootstrap(ctx context.Context) (sensitive.String, error) {
	l := r.opts.Layout
	policy := BootstrapPolicy
	if cur, err := r.v.KVRead(ctx, r.admin, l.KVMount, bootstrapPath); err == nil {
		if s, _ := cur.Data["token"].(string); s != "" {
			tok := sensitive.New(s)
			info, err := r.v.LookupSelf(ctx, tok)
			if err == nil && slices.Equal(info.Policies, []string{policy}) {
				return tok, nil
			}
			if err != nil && !errors.Is(err, vault.ErrPermissionDenied) {
				return sensitive.String{}, fmt.Errorf("checking the existing bootstrap token: %w", err)
			}
		}
	} else if !errors.Is(err, vault.ErrNotFound) {
		return sensitive.String{}, fmt.Errorf("reading the stored bootstrap token: %w", err)
	}

	s, err := r.v.Write(ctx, r.admin, "auth/token/create", map[string]any{
		"policies":          []string{policy},
		"no_default_policy": true,
		"no_parent":         true,
		"period":            bootstrapPeriod,
		"renewable":         true,
		"display_name":      "gatekeeper-bootstrap",
	})
	if err != nil {
		return sensitive.String{}, fmt.Errorf("creating the bootstrap token: %w", err)
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return sensitive.String{}, errors.New("creating the bootstrap token: no token in the response")
	}
	tok := sensitive.New(s.Auth.ClientToken)
	if _, err := r.v.KVWrite(ctx, r.admin, l.KVMount, bootstrapPath, map[string]any{"token": tok.Reveal()}); err != nil {
		return sensitive.String{}, fmt.Errorf("storing the bootstrap token: %w", err)
	}
	r.changed("bootstrap token")
	return tok, nil
}
