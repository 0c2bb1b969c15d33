package mcptools

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
)

// waiting reports progress to a client that asked for it (a progress token
// in the call) while the call may be waiting for a human to approve tier,
// with the link of each pending approval's page. Fast calls send nothing.
// The returned function stops the reports.
func (t *tools) waiting(ctx context.Context, c *call, tier access.Tier) func() {
	if c.req == nil || c.req.Session == nil || c.req.Params == nil {
		return func() {}
	}
	token := c.req.Params.GetProgressToken()
	if token == nil {
		return func() {}
	}
	what := tier.String() + " access"
	if tier == access.Destroy {
		what = "a permanent deletion"
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
					if link, ok := t.opts.Links(c.principal, p.Tier); ok {
						msg += " at " + link
					}
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

// offerLinks makes the approval this call starts reach the human: its link
// (the approval page) goes to the client as a URL elicitation when the
// client supports those, and the call waits for the answer. When the
// human answers on the page itself (a code, a passkey) and the client
// cannot show it (no URL elicitation, or it declined or failed to), the
// link comes back instead: the call stops waiting and relayed returns the
// error that carries the link for the agent to pass on, while the approval
// goes on. A push (the answer comes on the human's phone) is not relayed:
// the call waits for it. Nor is a one-shot (destroy) approval: its token
// is for this call alone, so the call waits.
func offerLinks(ctx context.Context, c *call) (_ context.Context, relayed func() *approvalLink) {
	var session *mcp.ServerSession
	if c.req != nil {
		session = c.req.Session
	}
	ctx, stopWaiting := context.WithCancelCause(ctx)
	var (
		mu      sync.Mutex
		relayOf *approvalLink
	)
	relay := func(l *approvalLink) {
		mu.Lock()
		if relayOf == nil {
			relayOf = l
		}
		mu.Unlock()
		stopWaiting(l)
	}
	elicits := elicitsURLs(session)
	ctx = approver.WithLinkHandler(ctx, func(lctx context.Context, link approver.Link, req access.Request) {
		l := &approvalLink{url: link.URL, tier: req.Tier, expires: req.Expires}
		// Relayed only when the human must open the page to answer, and the
		// call's token is not for this call alone.
		mayRelay := link.Answer && req.Tier != access.Destroy
		if !elicits {
			if mayRelay {
				relay(l)
			}
			return
		}
		go func() {
			ectx, cancel := context.WithDeadline(context.WithoutCancel(lctx), req.Expires)
			defer cancel()
			res, err := session.Elicit(ectx, &mcp.ElicitParams{
				Mode:          "url",
				URL:           link.URL,
				ElicitationID: req.ID,
				Message: fmt.Sprintf("Gatekeeper: %s asks for %s access (%s). Open the page to see the request and answer it there.",
					access.Visible(string(req.Principal)), req.Tier, access.Visible(req.Reason)),
			})
			if err != nil || res == nil || res.Action != "accept" {
				if mayRelay {
					relay(l)
				}
				return
			}
			// The client opened the page; tell it when the request is over.
			select {
			case <-lctx.Done():
			case <-ectx.Done():
			}
			nctx, ncancel := context.WithTimeout(context.WithoutCancel(lctx), 5*time.Second)
			defer ncancel()
			_ = session.NotifyElicitationComplete(nctx, &mcp.ElicitationCompleteParams{ElicitationID: req.ID})
		}()
	})
	return ctx, func() *approvalLink {
		mu.Lock()
		defer mu.Unlock()
		stopWaiting(nil)
		return relayOf
	}
}

// elicitsURLs reports whether the client said it supports URL-mode
// elicitation.
func elicitsURLs(session *mcp.ServerSession) bool {
	if session == nil {
		return false
	}
	params := session.InitializeParams()
	return params != nil && params.Capabilities != nil && params.Capabilities.Elicitation != nil && params.Capabilities.Elicitation.URL != nil
}

// approvalLink is the result of a call whose approval the agent must
// relay: the human answers at url. Its Error never holds the link, which
// stays out of the debug log and the audit trail.
type approvalLink struct {
	url     string
	tier    access.Tier
	expires time.Time
}

func (l *approvalLink) Error() string { return l.tier.String() + " approval waits on its page" }
