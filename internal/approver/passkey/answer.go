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
// the assertion options for it.
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
	now := a.now()
	ch, raw := newChallenge(req.ID, req.Digest, d, minTime(now.Add(challengeTTL), req.Expires))
	assertion, session, err := a.wa.BeginLogin(operatorOf(creds),
		webauthn.WithChallenge(raw), webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, fmt.Errorf("starting an assertion: %w", err)
	}
	ch.session = *session

	a.mu.Lock()
	defer a.mu.Unlock()
	a.dropExpired(now)
	issued := a.challenges[req.ID]
	if issued == nil {
		issued = map[string]*challenge{}
		a.challenges[req.ID] = issued
	}
	if len(issued) >= maxChallenges {
		var oldest string
		for k, c := range issued {
			if oldest == "" || c.expires.Before(issued[oldest].expires) {
				oldest = k
			}
		}
		delete(issued, oldest)
	}
	issued[session.Challenge] = ch
	return assertion, nil
}

// dropExpired forgets challenges past their time (a request that ended
// while the page was open leaves some). a.mu must be held.
func (a *Approver) dropExpired(now time.Time) {
	for id, issued := range a.challenges {
		for k, c := range issued {
			if !now.Before(c.expires) {
				delete(issued, k)
			}
		}
		if len(issued) == 0 {
			delete(a.challenges, id)
		}
	}
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
	signed := parsed.Response.CollectedClientData.Challenge
	signedRaw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(signed, "="))
	if err != nil {
		return "", page.Refuse(http.StatusBadRequest, "the key's answer carries a malformed challenge")
	}

	ch := a.takeChallenge(req.ID, signed)
	if ch == nil {
		a.log.Warn("passkey answer refused: challenge not issued for this request or already used", "request", req.ID)
		return "", page.Refuse(http.StatusForbidden, "this answer was not asked for this request, or was already used: nothing was changed")
	}
	if !a.now().Before(ch.expires) {
		a.log.Warn("passkey answer refused: challenge expired", "request", req.ID)
		return "", page.Refuse(http.StatusForbidden, "this answer came too late: press the button again")
	}
	if !ch.binds(signedRaw, req.ID, req.Digest, d) {
		a.log.Warn("passkey answer refused: challenge bound to another request or decision", "request", req.ID, "decision", d)
		return "", page.Refuse(http.StatusForbidden, "this answer was signed for another request or decision: nothing was changed")
	}
	return a.verifyAssertion(r, ch.session, parsed)
}

// takeChallenge removes and returns the challenge signed for request id,
// nil if it was never issued for this request or was used already.
func (a *Approver) takeChallenge(id, signed string) *challenge {
	a.mu.Lock()
	defer a.mu.Unlock()
	issued := a.challenges[id]
	ch := issued[signed]
	delete(issued, signed)
	return ch
}

// verifyAssertion checks the signed answer with the library (registered
// credential, signature, origin, RP ID, user presence and verification,
// backup flags, sign counter) and records the new sign counter. It returns
// the key's name.
func (a *Approver) verifyAssertion(r *http.Request, session webauthn.SessionData, parsed *protocol.ParsedCredentialAssertionData) (string, error) {
	a.credMu.Lock()
	defer a.credMu.Unlock()
	creds, err := a.opts.Store.Credentials(r.Context())
	if err != nil {
		return "", fmt.Errorf("reading the registered keys: %w", err)
	}
	cred, err := a.wa.ValidateLogin(operatorOf(creds), session, parsed)
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
