package mcptools

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/paths"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

var (
	authenticateTool = &mcp.Tool{
		Name:  "authenticate",
		Title: "Get read access",
		Description: "Ask the human for read access to secrets. You start with no access; this sends an approval " +
			"request that the human answers out of band, on Gatekeeper's approval page or their phone, never in " +
			"this chat: do not ask them for a code. Your client may open the page for them; otherwise the result " +
			"gives you a link to pass on, and calling authenticate again waits for their answer. On approval you " +
			"can read and list secrets for a few hours. Calling it while read access is live asks nobody and " +
			"just reports your access.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: false, DestructiveHint: ptr(false), IdempotentHint: true, OpenWorldHint: ptr(false)},
	}
	escalateTool = &mcp.Tool{
		Name:  "escalate",
		Title: "Get write access for a task",
		Description: "Ask the human for write access, needed before write_secret. Requires live read access " +
			"(call authenticate first) and a reason: say exactly what you will write and why; the human sees it " +
			"and answers on Gatekeeper's approval page, not in this chat. Write access lasts a few minutes, is " +
			"never renewed, and drops back to read when it ends. Ask for it only when you are about to write.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: false, DestructiveHint: ptr(false), IdempotentHint: true, OpenWorldHint: ptr(false)},
	}
	statusTool = &mcp.Tool{
		Name:  "token_status",
		Title: "Show current access",
		Description: "Show your current access tier (none, read or write), the seconds left on each grant and any " +
			"approval still waiting for the human. Asks nobody and changes nothing.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, DestructiveHint: ptr(false), IdempotentHint: true, OpenWorldHint: ptr(false)},
	}
	releaseTool = &mcp.Tool{
		Name:  "release",
		Title: "Give up write access",
		Description: "Give up write access now, as soon as the writes for your task are done. The write token " +
			"is revoked in Vault; read access stays.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: false, DestructiveHint: ptr(false), IdempotentHint: true, OpenWorldHint: ptr(false)},
	}
	logoutTool = &mcp.Tool{
		Name:  "logout",
		Title: "Give up all access",
		Description: "Give up all access now: every token is revoked in Vault and every approval still waiting for the " +
			"human is cancelled. Reading again will need a new approval. Use it when you no longer need secrets.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: false, DestructiveHint: ptr(false), IdempotentHint: true, OpenWorldHint: ptr(false)},
	}
)

// AuthenticateIn is authenticate's input.
type AuthenticateIn struct {
	Passcode string `json:"passcode,omitempty" jsonschema:"leave this out: the human answers on Gatekeeper's approval page. Only a deployment that allows codes in chat takes one here, and only a code the human chose to give you"`
}

// EscalateIn is escalate's input.
type EscalateIn struct {
	Reason string `json:"reason" jsonschema:"what you will write and why; shown to the human who approves"`
	// Paths narrow the grant; the human sees them.
	Paths    []string `json:"paths,omitempty" jsonschema:"optional: only these secrets (or folders ending in /) will be writable; the human sees them. Omit for your whole folder."`
	Passcode string   `json:"passcode,omitempty" jsonschema:"leave this out: the human answers on Gatekeeper's approval page. Only a deployment that allows codes in chat takes one here, and only a code the human chose to give you"`
}

// GrantOut is one live grant.
type GrantOut struct {
	Tier        string    `json:"tier"`
	Paths       []string  `json:"paths,omitempty" jsonschema:"a write grant narrowed to these paths"`
	ExpiresAt   time.Time `json:"expires_at"`
	SecondsLeft int64     `json:"seconds_left"`
	ApprovalID  string    `json:"approval_id"`
}

// StatusOut is the access a principal holds.
type StatusOut struct {
	Tier    string     `json:"tier" jsonschema:"none, read or write"`
	Grants  []GrantOut `json:"grants"`
	Pending []string   `json:"pending_approvals"`
	Next    string     `json:"next" jsonschema:"what you can do next"`
}

func statusOut(s access.Status) StatusOut {
	out := StatusOut{Tier: s.Tier.String(), Grants: []GrantOut{}, Pending: []string{}}
	for _, g := range s.Grants {
		out.Grants = append(out.Grants, GrantOut{Tier: g.Tier.String(), Paths: g.Paths, ExpiresAt: g.ExpiresAt.UTC(), SecondsLeft: g.SecondsLeft, ApprovalID: g.ApprovalID})
	}
	for _, p := range s.Pending {
		out.Pending = append(out.Pending, p.Tier.String())
	}
	switch s.Tier {
	case access.None:
		out.Next = "Call authenticate to ask the human for read access."
	case access.Read:
		out.Next = "You can read_secret and list_secrets. To write, call escalate with a reason."
	case access.Write:
		out.Next = "You can read, list and write. Call release when your writes are done."
	}
	return out
}

func (t *tools) authenticate(ctx context.Context, c *call, in AuthenticateIn) (StatusOut, error) {
	code, err := passcode(in.Passcode)
	if err != nil {
		return StatusOut{}, err
	}
	defer t.waiting(ctx, c, access.Read)()
	s, err := t.opts.Access.Authenticate(ctx, c.principal, code)
	return statusOut(s), err
}

func (t *tools) escalate(ctx context.Context, c *call, in EscalateIn) (StatusOut, error) {
	reason, err := checkReason(in.Reason)
	if err != nil {
		return StatusOut{}, err
	}
	code, err := passcode(in.Passcode)
	if err != nil {
		return StatusOut{}, err
	}
	narrowed, err := writePaths(in.Paths)
	if err != nil {
		return StatusOut{}, err
	}
	defer t.waiting(ctx, c, access.Write)()
	s, err := t.opts.Access.Escalate(ctx, c.principal, reason, narrowed, code)
	return statusOut(s), err
}

func (t *tools) status(_ context.Context, c *call, _ struct{}) (StatusOut, error) {
	return statusOut(t.opts.Access.Status(c.principal)), nil
}

func (t *tools) release(ctx context.Context, c *call, _ struct{}) (StatusOut, error) {
	s, err := t.opts.Access.Release(ctx, c.principal)
	return statusOut(s), err
}

func (t *tools) logout(ctx context.Context, c *call, _ struct{}) (StatusOut, error) {
	s, err := t.opts.Access.Logout(ctx, c.principal)
	return statusOut(s), err
}

// errBadInput marks input refused before anything was attempted.
var errBadInput = errors.New("invalid input")

const maxReason = 500

func checkReason(r string) (string, error) {
	r = strings.TrimSpace(r)
	switch {
	case r == "":
		return "", access.ErrReasonRequired
	case len(r) > maxReason:
		return "", inputError("reason is longer than 500 characters")
	}
	return r, nil
}

const maxPaths = 20

// writePaths validates the paths a write grant is narrowed to: secrets, or
// folders ending in "/".
func writePaths(in []string) ([]string, error) {
	if len(in) > maxPaths {
		return nil, inputError(fmt.Sprintf("at most %d paths", maxPaths))
	}
	var out []string
	for _, p := range in {
		folder := strings.HasSuffix(p, "/")
		clean, err := paths.Parse(p, folder)
		if err != nil {
			return nil, err
		}
		if folder {
			if clean == "" {
				return nil, inputError("paths: use no paths, not \"/\", for your whole folder")
			}
			clean += "/"
		}
		if !slices.Contains(out, clean) {
			out = append(out, clean)
		}
	}
	return out, nil
}

func passcode(s string) (sensitive.String, error) {
	s = strings.TrimSpace(s)
	if len(s) > 64 || strings.IndexFunc(s, func(r rune) bool { return r < '!' || r > '~' }) >= 0 {
		return sensitive.String{}, inputError("passcode must be the code as shown, without spaces")
	}
	return sensitive.New(s), nil
}

func inputError(msg string) error { return &badInput{msg: msg} }

type badInput struct{ msg string }

func (e *badInput) Error() string { return e.msg }
func (e *badInput) Unwrap() error { return errBadInput }

var whoamiTool = &mcp.Tool{
	Name:  "whoami",
	Title: "Show who you are",
	Description: "Show who Gatekeeper knows you as: your principal, your current access tier, the scopes your " +
		"credential carries and the folder your paths are relative to. Never shows a token. Asks nobody and " +
		"changes nothing.",
	Annotations: readOnly(),
}

// WhoamiOut is who a caller is, never a credential or token.
type WhoamiOut struct {
	Principal string   `json:"principal"`
	Tier      string   `json:"tier" jsonschema:"none, read or write"`
	Scopes    []string `json:"scopes" jsonschema:"what the credential allows: read, list, write, delete, transit"`
	Folder    string   `json:"folder" jsonschema:"the KV mount and folder your paths are relative to"`
}

func (t *tools) whoami(_ context.Context, c *call, _ struct{}) (WhoamiOut, error) {
	return WhoamiOut{
		Principal: string(c.principal),
		Tier:      t.opts.Access.Status(c.principal).Tier.String(),
		Scopes:    append([]string{}, c.scopes...),
		Folder:    joinPath(t.opts.KVMount, t.opts.Folder(c.principal)),
	}, nil
}
