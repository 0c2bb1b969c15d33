package secretuse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

const tokenValue = "ghp-resolver-canary-1b2c3d"

// countingKV counts the reads that reach Vault.
type countingKV struct {
	KV
	mu    sync.Mutex
	reads []string
}

func (c *countingKV) KVReadVersion(ctx context.Context, tok sensitive.String, mount, path string, version int64) (*vault.KVSecret, error) {
	c.mu.Lock()
	c.reads = append(c.reads, fmt.Sprintf("%s/%s@%d", mount, path, version))
	c.mu.Unlock()
	return c.KV.KVReadVersion(ctx, tok, mount, path, version)
}

// TestResolve reads through a real Vault with a token whose policy allows
// reading only the agent's folder, as a read grant's token does.
func TestResolve(t *testing.T) {
	srv := vaulttest.Start(t)
	vc, root := vaulttest.Client(t, srv), vaulttest.Root(srv)
	ctx := t.Context()
	for p, data := range map[string]map[string]any{
		"agent/p/api/github": {"token": tokenValue, "org": "acme-org"},
		"agent/p/db":         {"password": "  pw-with-spaces\n", "port": 5432, "short": "abc", "padded-short": " ab \n"},
		"agent/p/private":    {"password": "other-agents-pw"},
	} {
		if _, err := vc.KVWrite(ctx, root, "secret", p, data); err != nil {
			t.Fatal(err)
		}
	}
	// The version read is the current one.
	if _, err := vc.KVWrite(ctx, root, "secret", "agent/p/api/github", map[string]any{"token": tokenValue, "org": "acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := vc.Write(ctx, root, "sys/policies/acl/agent-p-read", map[string]any{
		"policy": `path "secret/data/agent/p/api/*" { capabilities = ["read"] }
path "secret/data/agent/p/db" { capabilities = ["read"] }
path "secret/data/agent/p/nothing/*" { capabilities = ["read"] }`,
	}); err != nil {
		t.Fatal(err)
	}
	s, err := vc.Write(ctx, root, "auth/token/create", map[string]any{"policies": []string{"agent-p-read"}, "no_default_policy": true, "ttl": "10m"})
	if err != nil {
		t.Fatal(err)
	}
	tok := sensitive.New(s.Auth.ClientToken)

	gh := func(f string) Ref { return Ref{Kind: KindSecret, Path: "api/github", Field: f} }
	db := func(f string) Ref { return Ref{Kind: KindSecret, Path: "db", Field: f} }
	tests := []struct {
		name    string
		refs    []Ref
		want    map[string]string
		reads   int
		wantErr error
		errText string
	}{
		{name: "ok/one", refs: []Ref{gh("token")}, want: map[string]string{"api/github#token": tokenValue}, reads: 1},
		{name: "ok/one-path-read-once", refs: []Ref{gh("token"), gh("org"), gh("token")}, want: map[string]string{"api/github#token": tokenValue, "api/github#org": "acme"}, reads: 1},
		{name: "ok/two-paths", refs: []Ref{gh("token"), db("password")}, want: map[string]string{"api/github#token": tokenValue, "db#password": "  pw-with-spaces\n"}, reads: 2},
		{name: "ok/none", refs: nil, want: map[string]string{}, reads: 0},
		{name: "fail/missing-secret", refs: []Ref{{KindSecret, "nothing/here", "x"}}, wantErr: vault.ErrNotFound, errText: "reading nothing/here"},
		{name: "fail/missing-field", refs: []Ref{gh("nope")}, wantErr: ErrNoField, errText: "the secret api/github has no text field nope"},
		{name: "fail/number-field", refs: []Ref{db("port")}, wantErr: ErrNoField, errText: "no text field port"},
		{name: "fail/too-short", refs: []Ref{db("short")}, wantErr: ErrTooShort, errText: "db#short is shorter than 4 bytes"},
		{name: "fail/too-short-after-trim", refs: []Ref{db("padded-short")}, wantErr: ErrTooShort},
		{name: "fail/not-in-the-grants-policy", refs: []Ref{{KindSecret, "private", "password"}}, wantErr: vault.ErrPermissionDenied, errText: "reading private"},
		{name: "fail/too-many", refs: manyRefs(MaxRefs + 1), wantErr: ErrTooMany},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kv := &countingKV{KV: vc}
			r := NewResolver(ResolverOptions{Vault: kv, Mount: "secret"})
			vals, err := r.Resolve(ctx, Source{Token: tok, Folder: "agent/p"}, tc.refs)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("Resolve() = %v; want %v containing %q", err, tc.wantErr, tc.errText)
				}
				for _, v := range []string{tokenValue, "pw-with-spaces", "abc", "5432", "other-agents-pw"} {
					if strings.Contains(err.Error(), v) {
						t.Errorf("error %q holds a value", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, s := range vals.Secrets() {
				got[s.Name] = s.Value.Reveal()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("values mismatch (-want +got):\n%s", diff)
			}
			if len(kv.reads) != tc.reads {
				t.Errorf("Vault reads = %v, want %d", kv.reads, tc.reads)
			}
			for _, rd := range kv.reads {
				if !strings.HasPrefix(rd, "secret/agent/p/") || !strings.HasSuffix(rd, "@0") {
					t.Errorf("read %s: want the current version inside the agent's folder", rd)
				}
			}
		})
	}
}

func manyRefs(n int) []Ref {
	var out []Ref
	for i := range n {
		out = append(out, Ref{KindSecret, "db", fmt.Sprintf("f%d", i)})
	}
	return out
}

// The values never show in a log, however they are logged.
func TestValuesNeverPrint(t *testing.T) {
	v := &Values{m: map[Ref]sensitive.String{{KindSecret, "a", "b"}: sensitive.New(tokenValue)}, order: []Ref{{KindSecret, "a", "b"}}}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "values", v, "secrets", v.Secrets(), "secret", v.Secrets()[0])
	text := buf.String() + fmt.Sprintf("%v %+v %#v %s %v", v, v, v, v, v.Secrets())
	if strings.Contains(text, tokenValue) {
		t.Errorf("a value was printed: %s", text)
	}
	if !strings.Contains(text, "a#b") {
		t.Errorf("the name is missing: %s", text)
	}
}
