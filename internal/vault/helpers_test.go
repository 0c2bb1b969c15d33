package vault_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// env is a real dev Vault with its root token.
type env struct {
	c    *vault.Client
	root sensitive.String
}

func start(t *testing.T) env {
	t.Helper()
	srv := vaulttest.Start(t)
	return env{c: vaulttest.Client(t, srv), root: vaulttest.Root(srv)}
}

// as writes an ACL policy named name and returns a token that has it and no
// other policy.
func (e env) as(t *testing.T, name, policy string) sensitive.String {
	t.Helper()
	if _, err := e.c.Write(t.Context(), e.root, "sys/policies/acl/"+name, map[string]any{"policy": policy}); err != nil {
		t.Fatalf("writing policy %s: %v", name, err)
	}
	s, err := e.c.Write(t.Context(), e.root, "auth/token/create", map[string]any{
		"policies": []string{name}, "no_default_policy": true, "ttl": "10m",
	})
	if err != nil {
		t.Fatalf("creating a token with policy %s: %v", name, err)
	}
	return sensitive.New(s.Auth.ClientToken)
}

// kinds are the sentinels a test tells apart.
var kinds = []error{
	vault.ErrNotFound, vault.ErrDeleted, vault.ErrDestroyed,
	vault.ErrInvalidRequest, vault.ErrCASRequired, vault.ErrCiphertextInvalid,
	vault.ErrCASMismatch, vault.ErrPermissionDenied, vault.ErrSealed,
}

// wantKind fails unless err is a *vault.Error of kind want: it matches want
// and want's class and no other sentinel. A nil want means no error.
func wantKind(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("got error %v, want none", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("got no error, want %v", want)
	}
	var ve *vault.Error
	if !errors.As(err, &ve) {
		t.Fatalf("got %T %v, want a *vault.Error", err, err)
	}
	for _, k := range kinds {
		if got, exp := errors.Is(err, k), errors.Is(want, k); got != exp {
			t.Errorf("errors.Is(%q, %q) = %v, want %v", err, k, got, exp)
		}
	}
}

// noValue fails if err's message carries any of values.
func noValue(t *testing.T, err error, values ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, v := range values {
		if strings.Contains(err.Error(), v) {
			t.Errorf("error %q carries the value %q", err, v)
		}
	}
}

func ptr[T any](v T) *T { return &v }
