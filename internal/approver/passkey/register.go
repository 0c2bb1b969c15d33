package passkey

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/page"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// registration is one key being registered: begun with a valid enroll
// token, finished (or abandoned) within challengeTTL.
type registration struct {
	session webauthn.SessionData
	name    string
	expires time.Time
}

type registerPageData struct {
	Static string
	Open   bool   // an enroll token is configured
	Token  string // from ?token=, to pre-fill the field
}

// registerPage shows the enrollment form. The token may come in the link
// (?token=…) so the operator need not type it; the script then removes it
// from the address bar, and Referrer-Policy keeps it out of any Referer.
func (a *Approver) registerPage(w http.ResponseWriter, r *http.Request) {
	a.render(w, http.StatusOK, "register.html", registerPageData{
		Static: "static", Open: a.enroll != "", Token: r.URL.Query().Get("token"),
	})
}

type beginRegistration struct {
	Token sensitive.String `json:"token"`
	Name  string           `json:"name"`
}

// UnmarshalJSON lets the token arrive as a plain JSON string while keeping
// it a sensitive.String everywhere after.
func (b *beginRegistration) UnmarshalJSON(data []byte) error {
	var raw struct {
		Token string `json:"token"`
		Name  string `json:"name"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	b.Token, b.Name = sensitive.New(raw.Token), raw.Name
	return nil
}

type registrationOptions struct {
	Session string `json:"session"`
	*protocol.CredentialCreation
}

// registerBegin checks the enroll token and the key's name and returns the
// creation options.
func (a *Approver) registerBegin(r *http.Request, in beginRegistration) (any, error) {
	if a.enroll == "" {
		return nil, page.Refuse(http.StatusForbidden, "registration is closed: no enroll token is configured")
	}
	if !a.tokenMatches(in.Token) {
		a.log.Warn("passkey registration refused: wrong enroll token", "remote", r.RemoteAddr)
		return nil, page.Refuse(http.StatusForbidden, "wrong enroll token")
	}
	name, err := keyName(in.Name)
	if err != nil {
		return nil, err
	}
	creds, err := a.opts.Store.Credentials(r.Context())
	if err != nil {
		return nil, fmt.Errorf("reading the registered keys: %w", err)
	}
	if a.tokenSpent(creds) {
		return nil, page.Refuse(http.StatusForbidden, "this enroll token was already used; configure a new one to register another key")
	}
	user := operatorOf(creds)
	exclude := make([]protocol.CredentialDescriptor, len(user.creds))
	for i, c := range user.creds {
		exclude[i] = c.Descriptor()
	}
	creation, session, err := a.wa.BeginRegistration(user, webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, fmt.Errorf("starting a registration: %w", err)
	}

	id := make([]byte, 16)
	_, _ = rand.Read(id)
	sid := base64.RawURLEncoding.EncodeToString(id)
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, reg := range a.regs {
		if !now.Before(reg.expires) {
			delete(a.regs, k)
		}
	}
	if len(a.regs) >= maxRegistrations {
		return nil, page.Refuse(http.StatusTooManyRequests, "too many registrations in progress: try again in a few minutes")
	}
	a.regs[sid] = &registration{session: *session, name: name, expires: now.Add(challengeTTL)}
	return registrationOptions{Session: sid, CredentialCreation: creation}, nil
}

type finishRegistration struct {
	Session    string          `json:"session"`
	Credential json.RawMessage `json:"credential"`
}

type registerResult struct {
	State   string `json:"state"`
	Message string `json:"message"`
}

// registerFinish verifies the new credential (origin, RP ID, user
// verification) and stores it, spending the enroll token.
func (a *Approver) registerFinish(r *http.Request, in finishRegistration) (any, error) {
	a.mu.Lock()
	reg := a.regs[in.Session]
	delete(a.regs, in.Session)
	a.mu.Unlock()
	if reg == nil {
		return nil, page.Refuse(http.StatusForbidden, "unknown or used registration: start again")
	}
	if !a.now().Before(reg.expires) {
		return nil, page.Refuse(http.StatusForbidden, "the registration took too long: start again")
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(in.Credential)
	if err != nil {
		return nil, page.Refuse(http.StatusBadRequest, "the key's response could not be parsed")
	}

	a.credMu.Lock()
	defer a.credMu.Unlock()
	creds, err := a.opts.Store.Credentials(r.Context())
	if err != nil {
		return nil, fmt.Errorf("reading the registered keys: %w", err)
	}
	// Checked again: two registrations begun with the same token race here.
	if a.tokenSpent(creds) {
		return nil, page.Refuse(http.StatusForbidden, "this enroll token was already used; configure a new one to register another key")
	}
	cred, err := a.wa.CreateCredential(operatorOf(creds), reg.session, parsed)
	if err != nil {
		a.log.Warn("passkey registration refused", "err", describeErr(err))
		return nil, page.Refuse(http.StatusForbidden, "the key's response was refused: nothing was registered")
	}
	transports := make([]string, len(cred.Transport))
	for i, t := range cred.Transport {
		transports[i] = string(t)
	}
	err = a.opts.Store.Add(r.Context(), Credential{
		ID:                cred.ID,
		PublicKey:         cred.PublicKey,
		SignCount:         cred.Authenticator.SignCount,
		Name:              reg.name,
		Created:           a.now().UTC(),
		BackupEligible:    cred.Flags.BackupEligible,
		BackupState:       cred.Flags.BackupState,
		AAGUID:            cred.Authenticator.AAGUID,
		Transports:        transports,
		AttestationFormat: cred.AttestationFormat,
		EnrollToken:       a.enroll,
	})
	if err != nil {
		return nil, fmt.Errorf("storing the new key: %w", err)
	}
	a.log.Info("passkey registered", "name", reg.name, "credential", base64.RawURLEncoding.EncodeToString(cred.ID))
	return registerResult{
		State:   "registered",
		Message: fmt.Sprintf("Key %q is registered. The enroll token is now spent.", reg.name),
	}, nil
}

// tokenMatches compares hashes in constant time, which also hides the
// configured token's length.
func (a *Approver) tokenMatches(t sensitive.String) bool {
	return !t.IsZero() && subtle.ConstantTimeCompare([]byte(tokenHash(t)), []byte(a.enroll)) == 1
}

// tokenSpent reports whether the configured enroll token registered a key
// already.
func (a *Approver) tokenSpent(creds []Credential) bool {
	for _, c := range creds {
		if subtle.ConstantTimeCompare([]byte(c.EnrollToken), []byte(a.enroll)) == 1 {
			return true
		}
	}
	return false
}

// keyName is the operator's label for a key: what logs and the page say
// answered a request.
func keyName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || utf8.RuneCountInString(s) > 64 || !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", page.Refuse(http.StatusBadRequest, "name the key: 1 to 64 printable characters")
	}
	return s, nil
}
