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

	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
)

type approvePageData struct {
	Static  string
	Fields  []approver.Field
	Pending bool
	State   string // for the script and the tests: "", approved, denied, expired, withdrawn
	Message string
}

// approvePage shows everything Describe gives and, while the request is
// pending, the two buttons.
func (a *Approver) approvePage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	req, pending, ans, found := a.lookup(id)
	if !found {
		a.render(w, http.StatusNotFound, "message.html", messageData{
			Static: "../static", Title: "Unknown approval request",
			Message: "There is no approval request with this id. Nothing was changed.",
		})
		return
	}
	data := approvePageData{Static: "../static", Fields: approver.Describe(req), Pending: pending}
	status := http.StatusOK
	if !pending {
		data.State = ans.outcome.String()
		data.Message = endedMessage(ans)
		if ans.outcome == expired {
			status = http.StatusGone
		}
	}
	a.render(w, status, "approve.html", data)
}

func endedMessage(ans answer) string {
	at := ans.at.UTC().Format(time.RFC3339)
	switch ans.outcome {
	case approved:
		return fmt.Sprintf("This request was already answered: approved with key %q at %s.", ans.key, at)
	case denied:
		return fmt.Sprintf("This request was already answered: denied with key %q at %s.", ans.key, at)
	case withdrawn:
		return "This request was withdrawn: the agent stopped waiting. Nothing was granted."
	}
	return "This request has expired: it was not answered in time. Nothing was granted."
}

// refuseEnded is the error for a request that is not pending (any more).
func refuseEnded(found bool, ans answer) error {
	switch {
	case !found:
		return refuse(http.StatusNotFound, "there is no approval request with this id")
	case ans.outcome == expired:
		return refuse(http.StatusGone, endedMessage(ans))
	}
	return refuse(http.StatusConflict, endedMessage(ans))
}

type beginAnswer struct {
	Decision string `json:"decision"`
}

// answerBegin issues a challenge bound to this request and this decision,
// and the assertion options for it.
func (a *Approver) answerBegin(r *http.Request, in beginAnswer) (any, error) {
	id := r.PathValue("id")
	d, ok := parseDecision(in.Decision)
	if !ok {
		return nil, refuse(http.StatusBadRequest, `decision must be "approve" or "deny"`)
	}
	req, pending, ans, found := a.lookup(id)
	if !pending {
		return nil, refuseEnded(found, ans)
	}
	creds, err := a.opts.Store.Credentials(r.Context())
	if err != nil {
		return nil, fmt.Errorf("reading the registered keys: %w", err)
	}
	if len(creds) == 0 {
		return nil, refuse(http.StatusConflict, "no key is registered yet: an operator registers one at /register first")
	}
	ch, raw := newChallenge(id, req.Digest, d, minTime(a.now().Add(challengeTTL), req.Expires))
	assertion, session, err := a.wa.BeginLogin(operatorOf(creds),
		webauthn.WithChallenge(raw), webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, fmt.Errorf("starting an assertion: %w", err)
	}
	ch.session = *session

	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.pending[id]
	if p == nil {
		ans, found := a.answered[id]
		return nil, refuseEnded(found, ans)
	}
	if len(p.challenges) >= maxChallenges {
		var oldest string
		for k, c := range p.challenges {
			if oldest == "" || c.expires.Before(p.challenges[oldest].expires) {
				oldest = k
			}
		}
		delete(p.challenges, oldest)
	}
	p.challenges[session.Challenge] = ch
	return assertion, nil
}

type finishAnswer struct {
	Decision   string          `json:"decision"`
	Credential json.RawMessage `json:"credential"`
}

type answerResult struct {
	State   string `json:"state"`
	Message string `json:"message"`
}

// answerFinish verifies a signed answer and, if it holds, ends the request
// with it. Whatever the outcome, the challenge it names is spent.
func (a *Approver) answerFinish(r *http.Request, in finishAnswer) (any, error) {
	id := r.PathValue("id")
	d, ok := parseDecision(in.Decision)
	if !ok {
		return nil, refuse(http.StatusBadRequest, `decision must be "approve" or "deny"`)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(in.Credential)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "the key's answer could not be parsed")
	}
	signed := parsed.Response.CollectedClientData.Challenge
	signedRaw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(signed, "="))
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "the key's answer carries a malformed challenge")
	}

	ch, digest, err := a.takeChallenge(id, signed)
	if err != nil {
		return nil, err
	}
	if ch == nil {
		a.log.Warn("passkey answer refused: challenge not issued for this request or already used", "request", id)
		return nil, refuse(http.StatusForbidden, "this answer was not asked for this request, or was already used: nothing was changed")
	}
	if !a.now().Before(ch.expires) {
		a.log.Warn("passkey answer refused: challenge expired", "request", id)
		return nil, refuse(http.StatusForbidden, "this answer came too late: press the button again")
	}
	if !ch.binds(signedRaw, id, digest, d) {
		a.log.Warn("passkey answer refused: challenge bound to another request or decision", "request", id, "decision", d)
		return nil, refuse(http.StatusForbidden, "this answer was signed for another request or decision: nothing was changed")
	}

	key, err := a.verifyAssertion(r, ch.session, parsed)
	if err != nil {
		return nil, err
	}
	o, applied := a.finish(id, outcomeOf(d), key)
	if !applied {
		_, _, ans, found := a.lookup(id)
		return nil, refuseEnded(found, ans)
	}
	return answerResult{State: o.String(), Message: fmt.Sprintf("Request %s: %s with key %q.", id, o, key)}, nil
}

func outcomeOf(d decision) outcome {
	if d == approve {
		return approved
	}
	return denied
}

// takeChallenge removes and returns the challenge signed for request id
// (nil if it was never issued for this request or was used already) and
// the request's digest.
func (a *Approver) takeChallenge(id, signed string) (*challenge, string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.pending[id]
	if p != nil && !a.now().Before(p.req.Expires) {
		a.endLocked(p, expired, "")
		p = nil
	}
	if p == nil {
		ans, found := a.answered[id]
		return nil, "", refuseEnded(found, ans)
	}
	ch := p.challenges[signed]
	delete(p.challenges, signed)
	return ch, p.req.Digest, nil
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
		return "", refuse(http.StatusForbidden, "your key's answer was refused (is this key registered?): nothing was changed")
	}
	if cred.Authenticator.CloneWarning {
		a.log.Warn("passkey answer refused: sign counter did not increase, the key may be cloned", "credential", base64.RawURLEncoding.EncodeToString(cred.ID))
		return "", refuse(http.StatusForbidden, "your key's signature counter went backwards; it may have been cloned: nothing was changed")
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
