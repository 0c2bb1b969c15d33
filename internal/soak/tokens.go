package soak

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// Token is what Vault says about one token, found by its accessor.
type Token struct {
	Accessor string
	// Alive says Vault would honour the token: it knows it, its revocation
	// is not under way and it has not expired. lookup-accessor also
	// answers for tokens whose revocation Vault has started but not
	// finished (num_uses -1) and for expired ones its expiration manager
	// has not reached yet; Vault refuses both for any request, so they
	// count as dead here, and Lingering says one was seen.
	Alive      bool
	Lingering  bool
	Policies   []string
	ApprovalID string // meta.approval_id: set on every token minted for a grant
	Created    time.Time
	ExpireTime time.Time // zero: never expires
}

// ForGrant says the token was minted for an agent's grant, as opposed to
// the root token or Gatekeeper's own.
func (t Token) ForGrant() bool {
	if t.ApprovalID != "" {
		return true
	}
	for _, p := range t.Policies {
		if strings.HasPrefix(p, "gatekeeper-") && (strings.HasSuffix(p, "-read") || strings.HasSuffix(p, "-write")) {
			return true
		}
	}
	return false
}

// admin is the part of the Vault client the token checks use.
type admin interface {
	List(ctx context.Context, tok sensitive.String, path string) (*vault.Secret, error)
	Write(ctx context.Context, tok sensitive.String, path string, data map[string]any) (*vault.Secret, error)
}

// LookupToken asks Vault, as root, about the token behind accessor. A
// token Vault does not know (revoked, expired) is not alive; any other
// failure is an error, never "dead".
func LookupToken(ctx context.Context, v admin, root sensitive.String, accessor string) (Token, error) {
	return lookupToken(ctx, v, root, accessor, time.Now)
}

func lookupToken(ctx context.Context, v admin, root sensitive.String, accessor string, now func() time.Time) (Token, error) {
	t := Token{Accessor: accessor}
	s, err := v.Write(ctx, root, "auth/token/lookup-accessor", map[string]any{"accessor": accessor})
	switch {
	case errors.Is(err, vault.ErrInvalidRequest), errors.Is(err, vault.ErrNotFound):
		return t, nil
	case err != nil:
		return t, fmt.Errorf("looking up a token accessor: %w", err)
	case s == nil:
		return t, errors.New("looking up a token accessor: empty answer")
	}
	t.Alive = true
	if ps, ok := s.Data["policies"].([]any); ok {
		for _, p := range ps {
			if p, ok := p.(string); ok {
				t.Policies = append(t.Policies, p)
			}
		}
	}
	if meta, ok := s.Data["meta"].(map[string]any); ok {
		t.ApprovalID, _ = meta["approval_id"].(string)
	}
	if secs := vault.Int64(s.Data["creation_time"]); secs > 0 {
		t.Created = time.Unix(secs, 0)
	}
	if e, ok := s.Data["expire_time"].(string); ok && e != "" {
		if ts, err := time.Parse(time.RFC3339Nano, e); err == nil {
			t.ExpireTime = ts
		}
	}
	pending := vault.Int64(s.Data["num_uses"]) < 0
	expired := !t.ExpireTime.IsZero() && !t.ExpireTime.After(now())
	if pending || expired {
		t.Alive, t.Lingering = false, true
	}
	return t, nil
}

// Tokens lists every token Vault holds, with what it says about each,
// lingering ones included (see Token.Alive).
func Tokens(ctx context.Context, v admin, root sensitive.String) ([]Token, error) {
	s, err := v.List(ctx, root, "auth/token/accessors")
	if err != nil {
		return nil, fmt.Errorf("listing token accessors: %w", err)
	}
	keys, _ := s.Data["keys"].([]any)
	var out []Token
	for _, k := range keys {
		acc, _ := k.(string)
		t, err := LookupToken(ctx, v, root, acc)
		if err != nil {
			return nil, err
		}
		if t.Alive || t.Lingering { // it may have ended between the list and the lookup
			out = append(out, t)
		}
	}
	return out, nil
}
