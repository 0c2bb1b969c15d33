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

// waiting runs while the call may wait for a human's approval of tier:
// it reports progress to a client that asked for it (a progress token in
// the call), and for a client that cannot be shown links it relays the
// page of an approval the call joined (one another call started), as
// offerLinks does for the approval the call starts. Fast calls send
// nothing. The returned function stops it.
func (t *tools) waiting(ctx context.Context, c *call, tier access.Tier) func() {
	var token any
	if c.req != nil && c.req.Session != nil && c.req.Params != nil {
		token = c.req.Params.GetProgressToken()
	}
	if token == nil && c.relay == nil {
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
		look := time.NewTicker(relayEvery)
		defer look.Stop()
		if c.relay == nil || tier == access.Destroy {
			look.Stop()
		}
		for n := 1; ; {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-look.C:
				if link, ok := t.opts.Links(c.principal, tier); ok {
					c.relay(&approvalLink{url: link, tier: tier, expires: pendingExpiry(t.opts.Access.Status(c.principal), tier)})
				}
			case <-tick.C:
				if token == nil {
					continue
				}
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
				n++
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// relayEvery is how often a waiting call looks for the page of an
// approval it joined.
const relayEvery = 100 * time.Millisecond

// pendingExpiry is when the pending approval of tier ends.
func pendingExpiry(s access.Status, tier access.Tier) time.Time {
	for _, p := range s.Pending {
		if p.Tier == tier {
			return p.Expires
		}
	}
	return time.Time{}
}

// offerLinks makes the approval this call starts reach the human: its link
// (the approval page) goes to the client as a URL elicitation when the
// client supports those, and the call waits for the answer given on the
// page. A client that cannot show it (no URL elicitation, or it declined
// or failed to) gets the link back instead: the call stops waiting and
// relayed returns the error that carries the link for the agent to pass
// on, while the approval goes on. A one-shot (destroy) approval is never
// relayed: its token is for this call alone, so the call waits.
func offerLinks(ctx context.Context, c *call) (_ context.Context, relayed func() *approvalLink) {
	var session *mcp.ServerSession
	if c.req != nil {
		session = c.req.Session
	}
	ctx, stopWaiting := context.WithCancelCause(ctx)
	var (
		mu   sync.Mutex
		link *approvalLink
	)
	relay := func(l *approvalLink) {
		if l.tier == access.Destroy {
			return
		}
		mu.Lock()
		if link == nil {
			link = l
		}
		mu.Unlock()
		stopWaiting(l)
	}
	elicits := elicitsURLs(session)
	if !elicits {
		c.relay = relay
	}
	ctx = approver.WithLinkHandler(ctx, func(lctx context.Context, url string, req access.Request) {
		l := &approvalLink{url: url, tier: req.Tier, expires: req.Expires}
		if !elicits {
			relay(l)
			return
		}
		go func() {
			ectx, cancel := context.WithDeadline(context.WithoutCancel(lctx), req.Expires)
			defer cancel()
			res, err := session.Elicit(ectx, &mcp.ElicitParams{
				Mode:          "url",
				URL:           url,
				ElicitationID: req.ID,
				Message: fmt.Sprintf("Gatekeeper: %s asks for %s access (%s). Open the page to see the request and answer it there.",
					req.Principal, req.Tier, req.Reason),
			})
			if err != nil || res == nil || res.Action != "accept" {
				relay(l)
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
		return link
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
