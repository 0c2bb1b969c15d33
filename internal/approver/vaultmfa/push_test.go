package vaultmfa

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/page"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/page/pagetest"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
)

// pushVault is Vault with a Duo login MFA method: Vault's Duo cannot be
// reached from the tests' machine, so sys/mfa/validate is stood in for:
// it waits for the push's answer (answer) or for the caller to give up.
type pushVault struct {
	Vault
	answer    chan error
	validated chan map[string][]string
	revoked   chan string
}

func (v *pushVault) KVRead(context.Context, sensitive.String, string, string) (*vault.KVSecret, error) {
	return &vault.KVSecret{Data: map[string]any{"mount": "gatekeeper-read", "username": "u", "password": "pw"}}, nil
}

func (v *pushVault) UserpassLogin(context.Context, string, string, sensitive.String) (*vault.Login, error) {
	return &vault.Login{MFA: &vault.MFARequirement{RequestID: "mfa-1", Constraints: [][]vault.MFAMethod{{{ID: "duo-1", Type: "duo"}}}}}, nil
}

func (v *pushVault) ValidateMFA(ctx context.Context, _ string, payload map[string][]string) (*vault.Auth, error) {
	v.validated <- payload
	select {
	case err := <-v.answer:
		if err != nil {
			return nil, err
		}
		return &vault.Auth{Token: sensitive.New("tok-pushed"), Accessor: "acc-pushed", TTL: time.Hour}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (v *pushVault) RevokeSelf(_ context.Context, tok sensitive.String) error {
	v.revoked <- tok.Reveal()
	return nil
}

// TestVaultPush: with Vault's own Duo, the page says a push is on its way
// and shows the outcome; a Deny on the page ends the wait for the push as
// a denial, and nothing is issued.
func TestVaultPush(t *testing.T) {
	for _, tc := range []struct {
		name  string
		human func(t *testing.T, link string, v *pushVault)
		want  error
	}{
		{"ok/push-approved", func(_ *testing.T, _ string, v *pushVault) { v.answer <- nil }, nil},
		{"fail/push-denied", func(_ *testing.T, _ string, v *pushVault) {
			v.answer <- &vault.Error{Kind: vault.ErrPermissionDenied, Op: "validating MFA"}
		}, access.ErrDenied},
		{"fail/denied-on-the-page", func(t *testing.T, link string, _ *pushVault) { pagetest.Human{}.Deny(t, link) }, access.ErrDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &pushVault{answer: make(chan error, 1), validated: make(chan map[string][]string, 1), revoked: make(chan string, 1)}
			links := make(chan string, 1)
			web := httptest.NewUnstartedServer(nil)
			pages, err := page.New(page.Options{BaseURL: "http://" + web.Listener.Addr().String(), Announce: func(link string, _ access.Request) { links <- link }})
			if err != nil {
				t.Fatal(err)
			}
			web.Config.Handler = pages.Handler()
			web.Start()
			defer web.Close()
			a, err := New(Options{Vault: v, Bootstrap: func() sensitive.String { return sensitive.New("bootstrap") }, Pages: pages, KVMount: "secret", Account: func(access.Principal, access.Tier) string { return "gatekeeper/read" }})
			if err != nil {
				t.Fatal(err)
			}
			req := access.Request{ID: "apr_push", Principal: "p", Tier: access.Read, TTL: time.Hour, Expires: time.Now().Add(time.Minute), Digest: strings.Repeat("d", 64)}
			done := make(chan error, 1)
			var got access.Issued
			go func() {
				var err error
				got, err = a.Issue(t.Context(), req, sensitive.String{})
				done <- err
			}()
			link := <-links
			if payload := <-v.validated; len(payload["duo-1"]) != 0 || len(payload) != 1 {
				t.Errorf("Vault was asked %v, want the push method with no passcode", payload)
			}
			state, body := pagetest.Human{}.Page(t, link)
			if state != "pending" || !strings.Contains(body, "push to your phone") || strings.Contains(body, `name="code"`) {
				t.Errorf("the page while the push waits: %s\n%s", state, body)
			}
			tc.human(t, link, v)
			err = <-done
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Issue = %v, want %v", err, tc.want)
			}
			if tc.want == nil && got.Token.Reveal() != "tok-pushed" {
				t.Errorf("issued %+v", got)
			}
			if tc.want != nil && !got.Token.IsZero() {
				t.Error("a denied push issued a token")
			}
			want := map[bool]string{true: "approved", false: "denied"}[tc.want == nil]
			if state, _ := (pagetest.Human{}).Page(t, link); state != want {
				t.Errorf("the page after the push: %s, want %s", state, want)
			}
		})
	}
}
