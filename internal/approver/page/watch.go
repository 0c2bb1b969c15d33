package page

import (
	"context"
	"errors"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
)

// Elsewhere runs an approval that the human answers somewhere else (a Duo
// push, the dev prompt) while its page shows the request, says where to
// answer, offers Deny and then shows the outcome. A Deny on the page ends
// the approval as a denial, whatever run is doing.
func (s *Server) Elsewhere(ctx context.Context, req access.Request, where string, run func(ctx context.Context) error) error {
	p, err := s.Open(ctx, req, Ask{Kind: Elsewhere, Where: where})
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-p.Decided():
			cancel(errDeniedOnPage)
		case <-rctx.Done():
		}
	}()
	err = run(rctx)
	if errors.Is(context.Cause(rctx), errDeniedOnPage) {
		err = p.deniedErr()
	}
	return p.Finish(err)
}

// errDeniedOnPage is the cause that stops an approval denied on its page.
var errDeniedOnPage = errors.New("denied on the approval page")

// Watched is an approver.Approver whose requests get a page: the human
// answers through Approver (a Duo push, the dev prompt) as before, and may
// Deny on the page.
type Watched struct {
	Pages    *Server
	Approver approver.Approver
	// Where tells the human where to answer.
	Where string
}

// Approve runs w.Approver under a page.
func (w Watched) Approve(ctx context.Context, req access.Request) error {
	return w.Pages.Elsewhere(ctx, req, w.Where, func(ctx context.Context) error {
		return w.Approver.Approve(ctx, req)
	})
}
