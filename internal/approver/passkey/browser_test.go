package passkey

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
	"github.com/gatekeeper-mcp/gatekeeper/internal/browsertest"
)

const actionTimeout = 20 * time.Second // one step

// browser is one headless Chromium with one tab, WebAuthn on a virtual
// authenticator, pointed at a harness.
type browser struct {
	*harness
	ctx  context.Context
	auth webauthn.AuthenticatorID
}

func newBrowser(t *testing.T, h *harness) *browser {
	t.Helper()
	tab := browsertest.Tab(t, browsertest.Options{})
	if _, err := chromedp.Call(tab, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("enabling WebAuthn emulation: %v", err)
	}
	b := &browser{harness: h, ctx: tab}
	b.auth = b.addAuthenticator(t)
	return b
}

// addAuthenticator plugs in a platform authenticator (a passkey) whose
// user verification succeeds.
func (b *browser) addAuthenticator(t *testing.T) webauthn.AuthenticatorID {
	t.Helper()
	res, err := chromedp.Call(b.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                webauthn.Ctap2versionCtap21,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		t.Fatalf("adding a virtual authenticator: %v", err)
	}
	return res.AuthenticatorID
}

func (b *browser) removeAuthenticator(t *testing.T, id webauthn.AuthenticatorID) {
	t.Helper()
	if _, err := chromedp.Call(b.ctx, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: id}); err != nil {
		t.Fatalf("removing a virtual authenticator: %v", err)
	}
}

func (b *browser) credentials(t *testing.T, id webauthn.AuthenticatorID) []*webauthn.Credential {
	t.Helper()
	res, err := chromedp.Call(b.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		t.Fatalf("reading the authenticator's credentials: %v", err)
	}
	return res.Credentials
}

// addCredentialRaw is WebAuthn.addCredential with only the fields set
// here: cdproto's Credential always sends generateCmtgKeyOnNextOperation,
// which Chromium refuses for an authenticator without that extension.
var addCredentialRaw = cdp.Command[map[string]any, cdp.Empty]{Method: webauthn.CommandAddCredential}

func (b *browser) addCredential(t *testing.T, id webauthn.AuthenticatorID, c *webauthn.Credential) {
	t.Helper()
	params := map[string]any{
		"authenticatorId": id,
		"credential": map[string]any{
			"credentialId":         c.CredentialID,
			"isResidentCredential": c.IsResidentCredential,
			"rpId":                 c.RpID,
			"privateKey":           c.PrivateKey,
			"userHandle":           c.UserHandle,
			"signCount":            c.SignCount,
		},
	}
	if _, err := chromedp.Call(b.ctx, addCredentialRaw, params); err != nil {
		t.Fatalf("adding a credential to the authenticator: %v", err)
	}
}

// do runs steps with a bound of actionTimeout.
func (b *browser) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

func run[T any](t *testing.T, b *browser, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

// outcome waits for the page's status to settle after a click, and
// returns its state and text.
func (b *browser) outcome(t *testing.T) (state, text string) {
	t.Helper()
	state = run(t, b, chromedp.Poll[string](
		`(() => { const s = document.getElementById('status').dataset.state; return s && s !== 'working' ? s : null; })()`,
		chromedp.WithPollingTimeout(actionTimeout), chromedp.WithPollingInterval(20*time.Millisecond)))
	return state, run(t, b, chromedp.Text(chromedp.ID("status")))
}

func (b *browser) register(t *testing.T, token, name string) (state, text string) {
	t.Helper()
	b.do(t,
		chromedp.Navigate(b.origin+"/register?token="+url.QueryEscape(token)),
		chromedp.SetValue(chromedp.ID("name"), name),
		chromedp.Click(chromedp.CSS("#register button")),
	)
	return b.outcome(t)
}

// answer opens a request's page and presses one of its buttons.
func (b *browser) answer(t *testing.T, p *pendingApproval, d decision) (state, text string) {
	t.Helper()
	b.do(t,
		chromedp.Navigate(p.link),
		chromedp.Click(chromedp.CSS(`button[data-decision="`+string(d)+`"]`)),
	)
	return b.outcome(t)
}

// capture gets a signed answer to request id from the authenticator,
// without submitting it (testdata/capture.js).
func (b *browser) capture(t *testing.T, id string, d decision, allow []string) json.RawMessage {
	t.Helper()
	js, err := os.ReadFile("testdata/capture.js")
	if err != nil {
		t.Fatal(err)
	}
	allowJS := "null"
	if allow != nil {
		allowJS = mustJSON(t, allow)
	}
	expr := fmt.Sprintf("(%s)(%q, %q, %s)", js, b.path(id)+"/begin", d, allowJS)
	return json.RawMessage(run(t, b, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise)))
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// newBrowserWithKey is a browser whose authenticator holds a registered
// key.
func newBrowserWithKey(t *testing.T) *browser {
	t.Helper()
	b := newBrowser(t, newHarness(t, nil))
	if state, text := b.register(t, testToken, "test passkey"); state != "registered" {
		t.Fatalf("registering a key: %s: %s", state, text)
	}
	return b
}

func TestBrowserApprove(t *testing.T) {
	t.Parallel()
	b := newBrowserWithKey(t)
	req := testRequest("apr_approve", b.clock.Now())
	req.Reason = `deploy <script>alert("x")</script> & "quote"`
	p := b.start(t, req)

	// The page shows every line of Describe, as text.
	b.do(t, chromedp.Navigate(p.link))
	shown := run(t, b, chromedp.Text(chromedp.CSS("dl.fields")))
	for _, f := range approver.Describe(req) {
		if !strings.Contains(shown, f.Label) || !strings.Contains(shown, f.Value) {
			t.Errorf("page lacks %s: %q\n%s", f.Label, f.Value, shown)
		}
	}
	if n := run(t, b, chromedp.Evaluate[int](`document.scripts.length`)); n != 1 {
		t.Errorf("page runs %d scripts, want 1 (the reason must stay text)", n)
	}

	state, text := b.answer(t, p, approve)
	if state != "approved" {
		t.Fatalf("page after Approve: %s: %s", state, text)
	}
	if err := p.result(t); err != nil {
		t.Fatalf("Approve = %v, want nil", err)
	}
	creds, _ := b.store.Credentials(context.Background())
	if len(creds) != 1 || creds[0].SignCount == 0 {
		t.Errorf("stored credential after an answer: %+v, want its sign count recorded", creds)
	}
	// Reloading shows the answer, without buttons.
	b.do(t, chromedp.Navigate(p.link))
	if text := run(t, b, chromedp.Text(chromedp.CSS("main"))); !strings.Contains(text, "already answered: approved") || strings.Contains(text, "Deny") {
		t.Errorf("page after the answer:\n%s", text)
	}
}

func TestBrowserDeny(t *testing.T) {
	t.Parallel()
	b := newBrowserWithKey(t)
	p := b.start(t, testRequest("apr_deny", b.clock.Now()))
	state, text := b.answer(t, p, deny)
	if state != "denied" {
		t.Fatalf("page after Deny: %s: %s", state, text)
	}
	if err := p.result(t); !errors.Is(err, access.ErrDenied) {
		t.Fatalf("Approve = %v, want ErrDenied", err)
	}
}

// TestBrowserWrongKey: keys that were never registered are refused, and the
// request waits on for the right one.
func TestBrowserWrongKey(t *testing.T) {
	t.Parallel()
	b := newBrowserWithKey(t)
	registered := b.credentials(t, b.auth)
	if len(registered) != 1 {
		t.Fatalf("the authenticator holds %d credentials, want 1", len(registered))
	}
	genuine := registered[0]
	p := b.start(t, testRequest("apr_wrong", b.clock.Now()))

	// Swap the registered passkey for another device whose key was never
	// registered.
	b.removeAuthenticator(t, b.auth)
	other := b.addAuthenticator(t)
	stranger := randomID(t)
	b.addCredential(t, other, residentCredential(t, stranger, 0))

	// The page asks for the registered key only: the browser finds none.
	if state, text := b.answer(t, p, approve); state != "error" || !strings.Contains(text, "did not answer") {
		t.Errorf("page with an unregistered key: %s: %s", state, text)
	}
	b.assertPending(t, p)

	// Made to answer anyway (any discoverable credential may answer), the
	// stranger's signed answer is refused by the server.
	answer := b.capture(t, p.req.ID, approve, []string{})
	var sent struct{ ID string }
	_ = json.Unmarshal(answer, &sent)
	if sent.ID != base64.RawURLEncoding.EncodeToString(stranger) {
		t.Fatalf("the captured answer is from %s, want the unregistered key", sent.ID)
	}
	if status, out := b.finish(t, p.req.ID, approve, answer); status != http.StatusForbidden {
		t.Errorf("unregistered key's answer: %d %v, want 403", status, out)
	}
	b.assertPending(t, p)

	// An impostor that claims the registered credential id, with another
	// private key: the browser uses it, the signature does not verify.
	if _, err := chromedp.Call(b.ctx, webauthn.ClearCredentials, webauthn.ClearCredentialsParams{AuthenticatorID: other}); err != nil {
		t.Fatal(err)
	}
	b.addCredential(t, other, residentCredential(t, genuine.CredentialID, 1000))
	if state, text := b.answer(t, p, approve); state != "error" || !strings.Contains(text, "refused") {
		t.Errorf("page with an impostor key: %s: %s", state, text)
	}
	b.assertPending(t, p)

	// The real key, plugged back in, still approves.
	b.removeAuthenticator(t, other)
	back := b.addAuthenticator(t)
	b.addCredential(t, back, genuine)
	if state, text := b.answer(t, p, approve); state != "approved" {
		t.Fatalf("page with the registered key: %s: %s", state, text)
	}
	if err := p.result(t); err != nil {
		t.Fatalf("Approve = %v, want nil", err)
	}
}

func TestBrowserExpired(t *testing.T) {
	t.Parallel()
	b := newBrowserWithKey(t)
	p := b.start(t, testRequest("apr_expired", b.clock.Now()))
	b.do(t, chromedp.Navigate(p.link))
	b.clock.Advance(11 * time.Minute) // past Expires while the page is open
	b.do(t, chromedp.Click(chromedp.CSS(`button[data-decision="approve"]`)))
	if state, text := b.outcome(t); state != "expired" || !strings.Contains(text, "expired") {
		t.Errorf("page after a late click: %s: %s", state, text)
	}
	if err := p.result(t); !errors.Is(err, access.ErrApprovalTimeout) {
		t.Fatalf("Approve = %v, want ErrApprovalTimeout", err)
	}
	b.do(t, chromedp.Navigate(p.link))
	if text := run(t, b, chromedp.Text(chromedp.CSS("main"))); !strings.Contains(text, "has expired") || strings.Contains(text, "Approve") {
		t.Errorf("page of the expired request:\n%s", text)
	}
}

// TestBrowserReplay: a real signed answer, captured, is good for its own
// request and decision, once.
func TestBrowserReplay(t *testing.T) {
	t.Parallel()
	b := newBrowserWithKey(t)
	pa := b.start(t, testRequest("apr_a", b.clock.Now()))
	pb := b.start(t, testRequest("apr_b", b.clock.Now()))
	b.do(t, chromedp.Navigate(pa.link))

	first := b.capture(t, "apr_a", approve, nil)
	for _, tc := range []struct {
		name, id string
		d        decision
	}{
		{"fail/other-request", "apr_b", approve},
		{"fail/other-decision", "apr_a", deny}, // spends it
		{"fail/again", "apr_a", approve},
	} {
		if status, out := b.finish(t, tc.id, tc.d, first); status != http.StatusForbidden {
			t.Errorf("%s: %d %v, want 403", tc.name, status, out)
		}
	}
	b.assertPending(t, pa)
	b.assertPending(t, pb)

	second := b.capture(t, "apr_a", approve, nil)
	if status, out := b.finish(t, "apr_a", approve, second); status != http.StatusOK {
		t.Fatalf("a fresh answer: %d %v", status, out)
	}
	if err := pa.result(t); err != nil {
		t.Fatalf("Approve(apr_a) = %v", err)
	}
	if status, _ := b.finish(t, "apr_a", approve, second); status != http.StatusConflict {
		t.Errorf("the same answer again: %d, want 409", status)
	}
	if status, _ := b.finish(t, "apr_b", approve, second); status != http.StatusForbidden {
		t.Errorf("the same answer for apr_b: %d, want 403", status)
	}
	b.assertPending(t, pb)
}

func TestBrowserRegistration(t *testing.T) {
	t.Parallel()
	b := newBrowser(t, newHarness(t, nil))
	ctx := context.Background()

	if state, text := b.register(t, "wrong-token-0123456789", "intruder"); state != "error" || !strings.Contains(text, "wrong enroll token") {
		t.Errorf("wrong token: %s: %s", state, text)
	}
	if status, out := b.post(t, "/register/begin", b.origin, map[string]string{"name": "intruder"}); status != http.StatusForbidden {
		t.Errorf("no token: %d %v", status, out)
	}
	if creds, _ := b.store.Credentials(ctx); len(creds) != 0 {
		t.Fatalf("stored %d credentials without the token", len(creds))
	}

	if state, text := b.register(t, testToken, "laptop"); state != "registered" {
		t.Fatalf("right token: %s: %s", state, text)
	}
	if search := run(t, b, chromedp.Evaluate[string](`location.search`)); search != "" {
		t.Errorf("the token stays in the address bar: %q", search)
	}
	creds, _ := b.store.Credentials(ctx)
	if len(creds) != 1 || creds[0].Name != "laptop" {
		t.Fatalf("stored: %+v", creds)
	}

	// The token is spent: a second device cannot use it.
	b.removeAuthenticator(t, b.auth)
	b.addAuthenticator(t)
	if state, text := b.register(t, testToken, "second"); state != "error" || !strings.Contains(text, "already used") {
		t.Errorf("spent token: %s: %s", state, text)
	}
	if creds, _ := b.store.Credentials(ctx); len(creds) != 1 {
		t.Errorf("stored %d credentials, want 1", len(creds))
	}
}

func randomID(t *testing.T) []byte {
	t.Helper()
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	return id
}

// residentCredential is a passkey for localhost with a fresh private key.
func residentCredential(t *testing.T, id []byte, signCount float64) *webauthn.Credential {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return &webauthn.Credential{
		CredentialID: id, IsResidentCredential: true, RpID: "localhost",
		PrivateKey: pkcs8, UserHandle: operatorHandle, SignCount: signCount,
	}
}
