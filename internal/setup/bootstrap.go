package setup

import (
	"context"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// ownTokenPeriod is how long Gatekeeper's own tokens live without a
// renewal. Gatekeeper renews them while it runs.
const ownTokenPeriod = 768 * time.Hour

// bootstrap returns the bootstrap token (vault-mfa strategy): the one a
// previous run made while it is still valid, otherwise a new orphan token
// with only the bootstrap policy.
func (r *run) bootstrap(ctx context.Context) (sensitive.String, error) {
	return r.ownToken(ctx, bootstrapPath, BootstrapPolicy, "gatekeeper-bootstrap")
}
