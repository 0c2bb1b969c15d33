package mcptools

import (
	"context"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
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
				msg := "waiting for the human to approve " + what
				for _, p := range t.opts.Access.Status(c.principal).Pending {
					msg += fmt.Sprintf("; %s request %s open for %ds more", p.Tier, p.ApprovalID, max(0, int(time.Until(p.Expires).Seconds())))
				}
				_ = c.req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
					ProgressToken: token,
					Progress:      float64(n),
					Message:       msg,
				})
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// offerLinks makes approvals started by this call offer their link (the
// passkey page) to the client as a URL elicitation, when the client says
// it supports those. The client opens the page; the answer comes from the
// page, not from the elicitation.
func offerLinks(ctx context.Context, c *call) context.Context {
	if c.req == nil || c.req.Session == nil {
		return ctx
	}
	params := c.req.Session.InitializeParams()
	if params == nil || params.Capabilities == nil || params.Capabilities.Elicitation == nil || params.Capabilities.Elicitation.URL == nil {
		return ctx
	}
	session := c.req.Session
	return approver.WithLinkHandler(ctx, func(ctx context.Context, link string, req access.Request) {
		go func() {
			ectx, cancel := context.WithDeadline(context.WithoutCancel(ctx), req.Expires)
			defer cancel()
			_, _ = session.Elicit(ectx, &mcp.ElicitParams{
				Mode:          "url",
				URL:           link,
				ElicitationID: req.ID,
				Message:       fmt.Sprintf("Gatekeeper: approve %s access for %s (%s)", req.Tier, req.Principal, req.Reason),
			})
		}()
	})
}
