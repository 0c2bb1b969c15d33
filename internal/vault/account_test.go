package vault_test

import (
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// TestAccountFrom: an account reads back as setup wrote it, and one with a
// field missing or empty is not complete.
func TestAccountFrom(t *testing.T) {
	want := vault.Account{Mount: "gk-read", Username: "gatekeeper", Password: sensitive.New("pw-3f9a")}
	got, ok := vault.AccountFrom(want.Data())
	if !ok || got.Mount != want.Mount || got.Username != want.Username || !got.Password.Equal(want.Password) {
		t.Fatalf("AccountFrom(Data()) = %+v, %v", got, ok)
	}
	for _, field := range []string{"mount", "username", "password"} {
		for _, v := range []any{nil, "", 42} {
			data := want.Data()
			data[field] = v
			if _, ok := vault.AccountFrom(data); ok {
				t.Errorf("an account whose %s is %v counts as complete", field, v)
			}
		}
	}
}
