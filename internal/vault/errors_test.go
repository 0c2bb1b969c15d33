package vault

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"
)

// The answers here are the ones a Vault 1.19 dev server gave; the
// integration tests provoke each of them for real.
func TestClassify(t *testing.T) {
	deletedAt := "2026-11-24T03:50:13.144206516Z"
	tests := []struct {
		name   string
		status int
		errs   []string
		body   *Secret
		want   error
		detail string
	}{
		{name: "fail/missing", status: 404, errs: []string{}, want: ErrNotFound},
		{name: "fail/deleted", status: 404, body: kvBody(map[string]any{"version": json.Number("2"), "deletion_time": deletedAt, "destroyed": false}), want: ErrDeleted, detail: "version 2 deleted at 2026-11-24T03:50:13Z"},
		{name: "fail/destroyed", status: 404, body: kvBody(map[string]any{"version": json.Number("1"), "deletion_time": "", "destroyed": true}), want: ErrDestroyed, detail: "version 1 destroyed"},
		{name: "fail/destroyed-after-delete", status: 404, body: kvBody(map[string]any{"version": json.Number("1"), "deletion_time": deletedAt, "destroyed": true}), want: ErrDestroyed},
		{name: "fail/patch-of-deleted", status: 404, body: &Secret{Data: map[string]any{"version": json.Number("3"), "deletion_time": deletedAt, "destroyed": false}}, want: ErrDeleted, detail: "version 3 deleted"},
		{name: "fail/unrelated-404-body", status: 404, body: &Secret{Data: map[string]any{"keys": []any{"a"}}}, want: ErrNotFound},
		{name: "fail/metadata-without-deletion", status: 404, body: kvBody(map[string]any{"version": json.Number("1"), "deletion_time": "", "destroyed": false}), want: ErrNotFound},
		{name: "fail/denied", status: 403, errs: []string{"1 error occurred:\n\t* permission denied\n\n"}, want: ErrPermissionDenied},
		{name: "fail/sealed", status: 503, errs: []string{"Vault is sealed"}, want: ErrSealed},
		{name: "fail/cas-mismatch", status: 400, errs: []string{"check-and-set parameter did not match the current version"}, want: ErrCASMismatch},
		{name: "fail/cas-required", status: 400, errs: []string{"check-and-set parameter required for this call"}, want: ErrCASRequired},
		{name: "fail/no-versions", status: 400, errs: []string{"No version number provided"}, want: ErrInvalidRequest},
		{name: "fail/transit-no-key", status: 400, errs: []string{"encryption key not found"}, want: ErrNotFound},
		{name: "fail/transit-no-signing-key", status: 400, errs: []string{"signing key not found"}, want: ErrNotFound},
		{name: "fail/transit-no-verify-key", status: 400, errs: []string{"signature verification key not found"}, want: ErrNotFound},
		{name: "fail/transit-other-key", status: 400, errs: []string{"cipher: message authentication failed"}, want: ErrCiphertextInvalid},
		{name: "fail/transit-no-prefix", status: 400, errs: []string{"invalid ciphertext: no prefix"}, want: ErrCiphertextInvalid},
		{name: "fail/transit-bad-base64", status: 400, errs: []string{"invalid ciphertext: could not decode base64"}, want: ErrCiphertextInvalid},
		{name: "fail/transit-too-new", status: 400, errs: []string{"invalid ciphertext: version is too new"}, want: ErrCiphertextInvalid},
		{name: "fail/transit-too-old", status: 400, errs: []string{"ciphertext or signature version is disallowed by policy (too old)"}, want: ErrCiphertextInvalid},
		{name: "fail/transit-bad-signature", status: 400, errs: []string{"invalid signature: no prefix"}, want: ErrCiphertextInvalid},
		{name: "fail/transit-undecodable-ecdsa-signature", status: 400, errs: []string{"supplied signature is invalid"}, want: ErrCiphertextInvalid},
		{name: "fail/transit-wrong-key-type", status: 400, errs: []string{"key type aes256-gcm96 does not support signing"}, want: ErrInvalidRequest},
	}
	specific := []error{ErrDeleted, ErrDestroyed, ErrCASMismatch, ErrCASRequired, ErrCiphertextInvalid}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			re := &api.ResponseError{HTTPMethod: http.MethodGet, URL: "http://vault/v1/p", StatusCode: tt.status, Errors: tt.errs}
			err := classify("reading", "secret/data/p", re, tt.body)
			var e *Error
			if !errors.As(err, &e) || e.Kind != tt.want { //nolint:errorlint // two sentinels compared, the kind itself
				t.Fatalf("classify = %v, want kind %v", err, tt.want)
			}
			for _, s := range specific {
				if s != tt.want && errors.Is(err, s) { //nolint:errorlint // two sentinels compared
					t.Errorf("%v also matches %v", err, s)
				}
			}
			if tt.detail != "" && !strings.Contains(e.Detail, tt.detail) {
				t.Errorf("Detail = %q, want it to contain %q", e.Detail, tt.detail)
			}
		})
	}
}

func TestRefinedKeepsItsClass(t *testing.T) {
	tests := []struct {
		kind, class error
	}{
		{ErrDeleted, ErrNotFound},
		{ErrDestroyed, ErrNotFound},
		{ErrCASRequired, ErrInvalidRequest},
		{ErrCiphertextInvalid, ErrInvalidRequest},
	}
	for _, tt := range tests {
		err := &Error{Kind: tt.kind, Op: "reading", Path: "p"}
		if !errors.Is(err, tt.kind) || !errors.Is(err, tt.class) {
			t.Errorf("%v: errors.Is kind %v, class %v", err, errors.Is(err, tt.kind), errors.Is(err, tt.class))
		}
	}
	// A cas mismatch is a conflict: retrying after a fresh read succeeds, so
	// it must not look like a malformed request.
	if errors.Is(&Error{Kind: ErrCASMismatch}, ErrInvalidRequest) {
		t.Error("ErrCASMismatch is ErrInvalidRequest")
	}
}

func TestDeletedDetail(t *testing.T) {
	body := kvBody(map[string]any{"version": json.Number("7"), "deletion_time": "2026-01-02T03:04:05Z", "destroyed": false})
	err := classify("reading", "secret/data/p", &api.ResponseError{StatusCode: 404}, body)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("classify = %T", err)
	}
	if e.Version != 7 || !e.DeletedAt.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("Version, DeletedAt = %d, %v; want 7, 2026-01-02T03:04:05Z", e.Version, e.DeletedAt)
	}
}

func TestCheckPath(t *testing.T) {
	tests := []struct {
		name, path string
		ok         bool
	}{
		{"ok", "secret/data/a/b", true},
		{"ok/dots-inside-a-name", "secret/data/a..b", true},
		{"fail/dotdot", "secret/data/../../sys/policies/acl/x", false},
		{"fail/dot", "secret/data/./a", false},
		{"fail/dotdot-key", "transit/encrypt/..", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkPath(tt.path); (err == nil) != tt.ok {
				t.Errorf("checkPath(%q) = %v, want ok %v", tt.path, err, tt.ok)
			}
		})
	}
}

func kvBody(meta map[string]any) *Secret {
	return &Secret{Data: map[string]any{"data": nil, "metadata": meta}}
}
