package clientauth

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAPIKeys(t *testing.T) {
	aliceKey, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	oldKey, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := NewAPIKeys([]APIKey{
		{ID: "alice-laptop", Agent: "alice", SHA256: HashKey(aliceKey), Scopes: []string{"read", "list"}},
		{ID: "alice-old", Agent: "alice", SHA256: strings.ToUpper(HashKey(oldKey)), Revoked: true},
		{ID: "bob-ci", Agent: "bob", SHA256: HashKey("bob's hand-made key"), Scopes: []string{"write"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	alice := &Identity{Agent: "alice", Method: "api_key", Subject: "alice-laptop", Scopes: []string{"read", "list"}}
	jwtToken := signWith(t, "HS256", goodClaims())
	tests := []struct {
		name   string
		header http.Header
		want   *Identity
		err    string
	}{
		{"ok/x-api-key", http.Header{"X-Api-Key": {aliceKey}}, alice, ""},
		{"ok/bearer", http.Header{"Authorization": {"Bearer " + aliceKey}}, alice, ""},
		{"ok/other-agent", http.Header{"X-Api-Key": {"bob's hand-made key"}},
			&Identity{Agent: "bob", Method: "api_key", Subject: "bob-ci", Scopes: []string{"write"}}, ""},
		{"ok/jwt-bearer-next-to-key", http.Header{"Authorization": {"Bearer " + jwtToken}, "X-Api-Key": {aliceKey}}, alice, ""},
		{"fail/wrong-key", http.Header{"X-Api-Key": {aliceKey + "x"}}, nil, "invalid credential: api_key: unknown key"},
		{"fail/wrong-key-bearer", http.Header{"Authorization": {"Bearer gk_guess"}}, nil, "invalid credential: api_key: unknown key"},
		{"fail/hash-as-key", http.Header{"X-Api-Key": {HashKey(aliceKey)}}, nil, "invalid credential: api_key: unknown key"},
		{"fail/revoked", http.Header{"X-Api-Key": {oldKey}}, nil, "invalid credential: api_key: revoked"},
		{"fail/empty", http.Header{"X-Api-Key": {""}}, nil, "invalid credential: api_key: empty key"},
		{"fail/too-long", http.Header{"X-Api-Key": {strings.Repeat("k", maxKeyLen+1)}}, nil, "invalid credential: api_key: key too long"},
		{"fail/two-x-api-keys", http.Header{"X-Api-Key": {aliceKey, aliceKey}}, nil, "invalid credential: api_key: several keys presented"},
		{"fail/both-headers", http.Header{"X-Api-Key": {aliceKey}, "Authorization": {"Bearer " + aliceKey}}, nil, "invalid credential: api_key: several keys presented"},
		{"fail/empty-bearer", http.Header{"Authorization": {"Bearer "}}, nil, "invalid credential: api_key: empty bearer token"},
		{"none/no-header", http.Header{}, nil, "no credential"},
		{"none/jwt-bearer", http.Header{"Authorization": {"Bearer " + jwtToken}}, nil, "no credential"},
		{"none/unsigned-jwt-bearer", http.Header{"Authorization": {"Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."}}, nil, "no credential"},
		{"none/basic", http.Header{"Authorization": {"Basic YWxpY2U6cHc="}}, nil, "no credential"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
			r.Header = tc.header
			id, err := keys.Authenticate(r)
			if got := errText(t, err); got != tc.err {
				t.Fatalf("error = %q, want %q", got, tc.err)
			}
			if diff := cmp.Diff(tc.want, id); diff != "" {
				t.Errorf("identity mismatch (-want +got):\n%s", diff)
			}
			if err != nil && strings.Contains(err.Error(), aliceKey) {
				t.Error("the error holds the key")
			}
		})
	}

	// The identity's scopes are a copy: a caller editing them changes
	// nothing for the next request.
	r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	r.Header.Set("X-API-Key", aliceKey)
	id, err := keys.Authenticate(r)
	if err != nil {
		t.Fatal(err)
	}
	id.Scopes[0] = "write"
	if id, _ := keys.Authenticate(r); id.Scopes[0] != "read" {
		t.Errorf("scopes after an edit by a caller = %v", id.Scopes)
	}
}

func TestNewAPIKeys(t *testing.T) {
	h := HashKey("k1")
	tests := []struct {
		name string
		keys []APIKey
		want []string // parts of the error; nil for ok
	}{
		{"ok", []APIKey{{ID: "k1", Agent: "alice", SHA256: h}}, nil},
		{"fail/none", nil, []string{"none configured"}},
		{"fail/no-id", []APIKey{{Agent: "alice", SHA256: h}}, []string{"id must be"}},
		{"fail/id-with-space", []APIKey{{ID: "my key", Agent: "alice", SHA256: h}}, []string{"id must be"}},
		{"fail/duplicate-id", []APIKey{{ID: "k", Agent: "alice", SHA256: h}, {ID: "k", Agent: "bob", SHA256: HashKey("k2")}}, []string{"id used twice"}},
		{"fail/bad-agent", []APIKey{{ID: "k1", Agent: "Alice", SHA256: h}}, []string{`agent "Alice" is not a valid agent name`}},
		{"fail/hash-not-hex", []APIKey{{ID: "k1", Agent: "alice", SHA256: strings.Repeat("z", 64)}}, []string{"64 hex digits"}},
		{"fail/hash-short", []APIKey{{ID: "k1", Agent: "alice", SHA256: h[:62]}}, []string{"64 hex digits"}},
		{"fail/the-key-itself", []APIKey{{ID: "k1", Agent: "alice", SHA256: "gk_" + strings.Repeat("A", 43)}}, []string{"64 hex digits"}},
		{"fail/duplicate-hash", []APIKey{{ID: "k1", Agent: "alice", SHA256: h}, {ID: "k2", Agent: "bob", SHA256: strings.ToUpper(h), Revoked: true}}, []string{`same hash as api key "k1"`}},
		{"fail/bad-scope", []APIKey{{ID: "k1", Agent: "alice", SHA256: h, Scopes: []string{"read write"}}}, []string{"holds a space"}},
		{"fail/every-problem-at-once", []APIKey{{ID: "", Agent: "", SHA256: ""}}, []string{"id must be", "not a valid agent name", "64 hex digits"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewAPIKeys(tc.keys)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("NewAPIKeys: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("NewAPIKeys accepted the keys")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestNewKeyHashKey(t *testing.T) {
	if got, want := HashKey("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Errorf("HashKey(abc) = %s, want %s", got, want)
	}
	seen := map[string]bool{}
	for range 20 {
		k, err := NewKey()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(k, keyPrefix))
		if !strings.HasPrefix(k, keyPrefix) || err != nil || len(raw) != 32 {
			t.Fatalf("NewKey() = %q, want gk_ and 32 bytes in base64url", k)
		}
		if jwtShaped(k) || seen[k] {
			t.Fatalf("NewKey() = %q: JWT-shaped or repeated", k)
		}
		seen[k] = true
		keys, err := NewAPIKeys([]APIKey{{ID: "k", Agent: "alice", SHA256: HashKey(k)}})
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
		r.Header.Set("Authorization", "Bearer "+k)
		if id, err := keys.Authenticate(r); err != nil || id.Subject != "k" {
			t.Fatalf("a new key with its hash configured: %v, %+v", err, id)
		}
	}
}
