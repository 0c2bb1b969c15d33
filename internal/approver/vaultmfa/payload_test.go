package vaultmfa

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// Push methods (Duo) cannot be reached from the tests' machine; what
// Gatekeeper sends Vault for them is checked here.
func TestPayloadFor(t *testing.T) {
	totp := vault.MFAMethod{ID: "totp-1", Type: "totp", UsesPasscode: true}
	duo := vault.MFAMethod{ID: "duo-1", Type: "duo"}
	tests := []struct {
		name     string
		cons     [][]vault.MFAMethod
		passcode string
		want     map[string][]string
		wantErr  error
	}{
		{"ok/totp", [][]vault.MFAMethod{{totp}}, "123456", map[string][]string{"totp-1": {"123456"}}, nil},
		{"ok/push-takes-empty-list", [][]vault.MFAMethod{{duo}}, "", map[string][]string{"duo-1": {}}, nil},
		{"ok/push-ignores-passcode", [][]vault.MFAMethod{{duo}}, "123456", map[string][]string{"duo-1": {}}, nil},
		{"ok/either-with-code", [][]vault.MFAMethod{{duo, totp}}, "654321", map[string][]string{"totp-1": {"654321"}}, nil},
		{"ok/either-without-code", [][]vault.MFAMethod{{totp, duo}}, "", map[string][]string{"duo-1": {}}, nil},
		{"ok/two-constraints", [][]vault.MFAMethod{{totp}, {duo}}, "111111", map[string][]string{"totp-1": {"111111"}, "duo-1": {}}, nil},
		{"fail/totp-without-code", [][]vault.MFAMethod{{totp}}, "", nil, access.ErrPasscodeRequired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := payloadFor(&vault.MFARequirement{RequestID: "r", Constraints: tc.cons}, sensitive.New(tc.passcode))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("payload (-want +got):\n%s", diff)
			}
		})
	}
}
