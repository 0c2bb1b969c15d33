// Package approver is what every human approval that Gatekeeper runs itself
// shares (Duo push, the passkey page, the dev prompt): the interface and
// what the human is shown. The approvers live in sub-packages; vaultmfa is
// different, in that Vault runs its approval.
package approver

import (
	"context"
	"strings"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
)

// Approver asks a human to decide one request.
//
// It returns nil only when the human approved this very request (bound to
// its Digest, so an answer cannot be replayed for another request);
// an error wrapping access.ErrDenied when they said no; one wrapping
// access.ErrApprovalTimeout when req.Expires or ctx ended first; any other
// error when the approval could not be run. Every error means no access.
type Approver interface {
	Approve(ctx context.Context, req access.Request) error
}

// Field is one labelled line of what the human is shown.
type Field struct {
	Label string
	Value string
}

// Describe is what every approver shows the human, in this order: who, what,
// where, why, for how long, what caused it and the digest to compare.
// Every value is access.Visible: a character that would make it look like
// something else (a bidi override, a zero-width space, a line separator)
// is written out as an escape, on every surface that shows a request.
func Describe(req access.Request) []Field {
	where := "all of " + req.Scope
	if len(req.Paths) > 0 {
		where = strings.Join(req.Paths, ", ") + " in " + req.Scope
	}
	fields := []Field{
		{"Agent", string(req.Principal)},
		{"Access", req.Tier.String()},
		{"Paths", where},
		{"Reason", req.Reason},
		{"For", req.TTL.String()},
		{"Asked by", req.Trigger},
		{"Request", req.ID},
		{"Digest", ShortDigest(req.Digest)},
		{"Answer before", req.Expires.UTC().Format(time.RFC3339)},
	}
	for i := range fields {
		fields[i].Value = access.Visible(fields[i].Value)
	}
	return fields
}

// ShortDigest is the first 16 hex digits of a digest in groups of four,
// enough for a human to compare with what the agent says it asked for.
func ShortDigest(d string) string {
	if len(d) > 16 {
		d = d[:16]
	}
	var groups []string
	for i := 0; i < len(d); i += 4 {
		groups = append(groups, d[i:min(i+4, len(d))])
	}
	return strings.Join(groups, " ")
}

// Link is an approval's page as the waiting caller is shown it.
type Link struct {
	URL string
	// Answer says the human answers on the page itself (a code, a
	// passkey), so the link must reach them; otherwise the answer comes
	// elsewhere (a push) and the page only shows the request and a Deny.
	Answer bool
}

type linkKey struct{}

// WithLinkHandler returns a context whose approvals show their page
// through show as well, e.g. as an MCP URL elicitation to the client whose
// call is waiting. show's ctx ends when the approval does.
func WithLinkHandler(ctx context.Context, show func(ctx context.Context, link Link, req access.Request)) context.Context {
	return context.WithValue(ctx, linkKey{}, show)
}

// ShowLink hands an approval's page to the handler in ctx, if there is one.
func ShowLink(ctx context.Context, link Link, req access.Request) {
	if show, ok := ctx.Value(linkKey{}).(func(context.Context, Link, access.Request)); ok {
		show(ctx, link, req)
	}
}
