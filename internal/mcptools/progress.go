package mcptools

import (
	"context"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// waiting reports progress to a client that asked for it (a progress token
// in the call) while the call may be waiting for a human. Fast calls send
// nothing. The returned function stops the reports.
func (t *tools) waiting(ctx context.Context, c *call, what string) func() {
	if c.req == nil || c.req.Session == nil || c.req.Params == nil {
		return func() {}
	}
	token := c.req.Params.GetProgressToken()
	if token == nil {
		return func() {}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(t.opts.ProgressEvery)
		defer tick.Stop()
		for n := 1; ; n++ {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				_ = c.req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
					ProgressToken: token,
					Progress:      float64(n),
					Message:       "waiting for the human to approve " + what,
				})
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}
