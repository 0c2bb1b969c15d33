package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// fakeAdmin answers lookup-accessor with data, or err.
type fakeAdmin struct {
	data map[string]any
	err  error
}

func (f fakeAdmin) List(context.Context, sensitive.String, string) (*vault.Secret, error) {
	return nil, f.err
}

func (f fakeAdmin) Write(context.Context, sensitive.String, string, map[string]any) (*vault.Secret, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &vault.Secret{Data: f.data}, nil
}

func TestLookupToken(t *testing.T) {
	lookup := func(numUses int, expire string) map[string]any {
		return map[string]any{
			"num_uses": json.Number(itoa(numUses)), "expire_time": expire, "creation_time": json.Number("1796025600"),
			"policies": []any{"gatekeeper-a000-read"}, "meta": map[string]any{"approval_id": "apr_1"},
		}
	}
	now := at(0)
	tests := []struct {
		name      string
		admin     fakeAdmin
		alive     bool
		lingering bool
		err       bool
	}{
		{"ok/alive", fakeAdmin{data: lookup(0, at(30).Format("2006-01-02T15:04:05.999999999Z07:00"))}, true, false, false},
		{"ok/revocation-under-way", fakeAdmin{data: lookup(-1, at(30).Format("2006-01-02T15:04:05Z07:00"))}, false, true, false},
		{"ok/expired-not-yet-removed", fakeAdmin{data: lookup(0, at(-1).Format("2006-01-02T15:04:05Z07:00"))}, false, true, false},
		{"ok/unknown-accessor", fakeAdmin{err: &vault.Error{Kind: vault.ErrInvalidRequest, Op: "writing"}}, false, false, false},
		{"fail/vault-down", fakeAdmin{err: &vault.Error{Kind: vault.ErrUnreachable, Op: "writing"}}, false, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := lookupToken(t.Context(), tc.admin, sensitive.New("root"), "acc", func() time.Time { return now })
			if (err != nil) != tc.err || tok.Alive != tc.alive || tok.Lingering != tc.lingering {
				t.Fatalf("token %+v, err %v; want alive %v, lingering %v, error %v", tok, err, tc.alive, tc.lingering, tc.err)
			}
			if tc.alive && (tok.ApprovalID != "apr_1" || !tok.ForGrant() || tok.Created.IsZero()) {
				t.Errorf("token %+v", tok)
			}
		})
	}
}

func itoa(n int) string { return fmt.Sprint(n) }
