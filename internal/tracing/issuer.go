package tracing

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// Issuer traces an access.Issuer: each approval is a span (under the tool
// call that started it) from the request to the human's answer and the
// token, with the Vault requests it made beneath it.
func (t *Tracing) Issuer(next access.Issuer) access.Issuer {
	if !t.Enabled() {
		return next
	}
	return &issuer{next: next, tracer: t.Tracer()}
}

type issuer struct {
	next   access.Issuer
	tracer trace.Tracer
}

func (i *issuer) Issue(ctx context.Context, req access.Request, held sensitive.String) (access.Issued, error) {
	ctx, span := i.tracer.Start(ctx, "approval "+req.Tier.String(), trace.WithAttributes(
		attribute.String("gatekeeper.principal", string(req.Principal)),
		attribute.String("gatekeeper.tier", req.Tier.String()),
		attribute.String("gatekeeper.approval_id", req.ID)))
	issued, err := i.next.Issue(ctx, req, held)
	End(span, approvalOutcome(err), err != nil)
	return issued, err
}

func (i *issuer) Revoke(ctx context.Context, tok sensitive.String) error {
	ctx, span := i.tracer.Start(ctx, "revoke")
	err := i.next.Revoke(ctx, tok)
	End(span, approvalOutcome(err), err != nil)
	return err
}

func (i *issuer) Check(ctx context.Context, tok sensitive.String) error {
	return i.next.Check(ctx, tok)
}

func approvalOutcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, access.ErrDenied):
		return "denied"
	case errors.Is(err, access.ErrApprovalTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timed_out"
	}
	return "failed"
}
