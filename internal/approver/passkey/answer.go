package passkey

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/page"
)

var _ page.Ceremony = (*Approver)(nil)

// Begin issues a challenge bound to this request and this decision, and
// the assertion options for it. It keeps nothing: however many challenges
// anyone asks for, none displaces another (see doc.go).
func (a *Approver) Begin(r *http.Request, req access.Request, decision string) (any, error) {
	d, ok := parseDecision(decision)
	if !ok {
		return nil, page.Refuse(http.StatusBadRequest, `decision must be "approve" or "deny"`)
	}
	creds, err := a.opts.Store.Credentials(r.Context())
	if err != nil {
		return nil, fmt.Errorf("reading the registered keys: %w", err)
	}
	if len(creds) == 0 {
		return nil, page.Refuse(http.StatusConflict, "no key is registered yet: an operator registers one at /register first")
	}
	raw := issueChallenge(a.key, req.ID, req.Digest, d, minTime(a.now().Add(challengeTTL), req.Expires))
	assertion, _, err := a.assertion(creds, raw)
	if err != nil {
		return nil, err
	}
	return assertion, nil
}

// assertion returns the assertion options and the session the library
// checks an answer against, for the challenge raw: the same for Begin and
// Finish, so that Finish needs nothing Begin kept.
func (a *Approver) assertion(creds []Credential, raw []byte) (*protocol.CredentialAssertion, *webauthn.SessionData, error) {
	assertion, session, err := a.wa.BeginLogin(operatorOf(creds),
		webauthn.WithChallenge(raw), webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, nil, fmt.Errorf("starting an assertion: %w", err)
	}
	return assertion, session, nil
}

// Finish verifies a signed answer to req and returns the key's name.
// Whatever the outcome, the challenge it names is spent.
func (a *Approver) Finish(r *http.Request, req access.Request, decision string, credential json.RawMessage) (string, error) {
	d, ok := parseDecision(decision)
	if !ok {
		return "", page.Refuse(http.StatusBadRequest, `decision must be "approve" or "deny"`)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
	if err != nil {
		return "", page.Refuse(http.StatusBadRequest, "the key's answer could not be parsed")
	}
	signed, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parsed.Response.CollectedClientData.Challenge, "="))
	if err != nil {
		return "", page.Refuse(http.StatusBadRequest, "the key's answer carries a malformed challenge")
	}

	ch, ok := openChallenge(a.key, signed, req.ID, req.Digest)
	if !ok {
		a.log.Warn("passkey answer refused: challenge not issued for this request", "request", req.ID)
		return "", page.Refuse(http.StatusForbidden, "this answer was not asked for this request: nothing was changed")
	}
	now := a.now()
	if !now.Before(ch.expires) {
		a.log.Warn("passkey answer refused: challenge expired", "request", req.ID)
		return "", page.Refuse(http.StatusForbidden, "this answer came too late: press the button again")
	}
	if !a.spend(req.ID, ch, now) {
		a.log.Warn("passkey answer refused: challenge already used", "request", req.ID)
		return "", page.Refuse(http.StatusForbidden, "this answer was already used: nothing was changed")
	}
	if ch.decision != d {
		a.log.Warn("passkey answer refused: challenge bound to another decision", "request", req.ID, "decision", d)
		return "", page.Refuse(http.StatusForbidden, "this answer was signed for another decision: nothing was changed")
	}
	return a.verifyAssertion(r, signed, parsed)
}

// spend records ch as used for request id; false if it was already. Spent
// challenges are remembered until they expire (an expired one is refused
// anyway) or their request ends.
func (a *Approver) spend(id string, ch challenge, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	// Also drops what an answer racing its request's end left behind.
	for rid, spent := range a.spent {
		for n, exp := range spent {
			if !now.Before(exp) {
				delete(spent, n)
			}
		}
		if len(spent) == 0 {
			delete(a.spent, rid)
		}
	}
	spent := a.spent[id]
	if spent == nil {
		spent = map[string]time.Time{}
		a.spent[id] = spent
	}
	if _, used := spent[ch.nonce]; used {
		return false
	}
	spent[ch.nonce] = ch.expires
	return true
}

// verifyAssertion checks the signed answer to challenge with the library
// (registered credential, signature, origin, RP ID, user presence and
// verification, backup flags, sign counter) and records the new sign
// counter. It returns the key's name.
func (a *Approver) verifyAssertion(r *http.Request, challenge []byte, parsed *protocol.ParsedCredentialAssertionData) (string, error) {
	a.credMu.Lock()
	defer a.credMu.Unlock()
	creds, err := a.opts.Store.Credentials(r.Context())
	if err != nil {
		return "", fmt.Errorf("reading the registered keys: %w", err)
	}
	_, session, err := a.assertion(creds, challenge)
	if err != nil {
		return "", err
	}
	cred, err := a.wa.ValidateLogin(operatorOf(creds), *session, parsed)
	if err != nil {
		a.log.Warn("passkey answer refused", "err", describeErr(err))
		return "", page.Refuse(http.StatusForbidden, "your key's answer was refused (is this key registered?): nothing was changed")
	}
	if cred.Authenticator.CloneWarning {
		a.log.Warn("passkey answer refused: sign counter did not increase, the key may be cloned", "credential", base64.RawURLEncoding.EncodeToString(cred.ID))
		return "", page.Refuse(http.StatusForbidden, "your key's signature counter went backwards; it may have been cloned: nothing was changed")
	}
	if err := a.opts.Store.SetSignCount(r.Context(), cred.ID, cred.Authenticator.SignCount); err != nil {
		// Without a recorded counter a cloned key could answer again unseen:
		// fail closed.
		return "", fmt.Errorf("recording the sign counter: %w", err)
	}
	for _, c := range creds {
		if bytes.Equal(c.ID, cred.ID) {
			return c.Name, nil
		}
	}
	return "", errors.New("verified credential missing from the store")
}

// describeErr includes the library's details, which name the failed check
// (never a secret), for the debug log.
func describeErr(err error) string {
	if pe, ok := errors.AsType[*protocol.Error](err); ok {
		return strings.TrimSpace(pe.Details + " " + pe.DevInfo)
	}
	return err.Error()
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
