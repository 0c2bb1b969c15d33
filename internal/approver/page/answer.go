package page

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/approver"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// Ceremony verifies passkey answers (package passkey).
type Ceremony interface {
	// Begin returns the WebAuthn assertion options for answering decision
	// ("approve" or "deny") to req.
	Begin(r *http.Request, req access.Request, decision string) (any, error)
	// Finish verifies a signed answer to req and returns the name of the
	// key that signed it.
	Finish(r *http.Request, req access.Request, decision string, credential json.RawMessage) (key string, err error)
}

// UsePasskey lets passkey pages take answers verified by c, and serves
// every other path (registration) with extra. Call it before serving.
func (s *Server) UsePasskey(c Ceremony, extra http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.Passkey, s.opts.Extra = c, extra
}

func (s *Server) ceremony() Ceremony {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts.Passkey
}

func (s *Server) extra() http.Handler {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts.Extra
}

type pageData struct {
	Static  string
	Fields  []approver.Field
	Token   string
	Digest  string
	Kind    string // code, elsewhere, passkey
	Where   string
	State   string // pending, checking, approved, denied, expired, withdrawn, failed
	Message string
	Notice  string
	Refresh int // seconds; 0: none
	Open    bool
}

// lookup returns the page of token and its state as the page shows it:
// a page whose request expired counts as expired even before its
// approver finishes it.
func (s *Server) lookup(token string) (*Pending, pageData, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byToken[token]
	if p == nil {
		return nil, pageData{}, false
	}
	d := pageData{
		Static: "../static", Fields: approver.Describe(p.req), Token: p.token, Digest: p.req.Digest,
		Kind:  [...]string{Code: "code", Elsewhere: "elsewhere", Passkey: "passkey"}[p.ask.Kind],
		Where: p.ask.Where,
	}
	switch {
	case p.ended():
		d.State, d.Message = p.outcome.String(), endedMessage(p)
	case !s.now().Before(p.req.Expires):
		// Its approver may still wait on a timer: end the wait now.
		p.expireLocked()
		d.State, d.Message = Expired.String(), "This request has expired: it was not answered in time. Nothing was granted."
	case p.decision == deny:
		d.State, d.Message, d.Refresh = "denied", "You denied this request. Nothing will be granted.", 2
	case p.checking:
		d.State, d.Message, d.Refresh = "checking", "Checking your code with Vault…", 1
	default:
		d.State, d.Open, d.Notice = "pending", true, p.notice
		if p.ask.Kind == Elsewhere {
			d.Refresh = 3
		}
	}
	return p, d, true
}

func endedMessage(p *Pending) string {
	at := p.endedAt.UTC().Format(time.RFC3339)
	by := ""
	if p.by != "" {
		by = fmt.Sprintf(" with key %q", p.by)
	}
	switch p.outcome {
	case Approved:
		return fmt.Sprintf("This request was already answered: approved%s at %s.", by, at)
	case Denied:
		return fmt.Sprintf("This request was already answered: denied%s at %s. Nothing was granted.", by, at)
	case Withdrawn:
		return "This request was withdrawn: the agent stopped waiting. Nothing was granted."
	case Expired:
		return "This request has expired: it was not answered in time. Nothing was granted."
	}
	return "This request could not be completed (see Gatekeeper's log). Nothing was granted."
}

// show is the page itself.
func (s *Server) show(w http.ResponseWriter, r *http.Request) {
	_, d, ok := s.lookup(r.PathValue("token"))
	if !ok {
		s.renderMessage(w, http.StatusNotFound, message{
			Static: "../static", Title: "Unknown approval request", State: "unknown",
			Message: "This link leads to no approval request (it may be from before Gatekeeper restarted). Nothing was changed.",
		})
		return
	}
	status := http.StatusOK
	if d.State == Expired.String() {
		status = http.StatusGone
	}
	s.render(w, status, "approve.html", d)
}

// postCode hands the code to the approver waiting in Code and waits, a
// bounded while, for its verdict; the page then shows it.
func (s *Server) postCode(w http.ResponseWriter, r *http.Request) {
	p, form, ok := s.form(w, r)
	if !ok {
		return
	}
	// A code as people type it: digits, maybe grouped by a space.
	code := strings.Join(strings.Fields(form.Get("code")), "")
	s.mu.Lock()
	var wait chan struct{}
	switch {
	case p.ask.Kind != Code:
		s.mu.Unlock()
		s.refuse(w, http.StatusBadRequest, "This request does not take a code.")
		return
	case p.ended() || p.decision != undecided || p.checking || !s.now().Before(p.req.Expires):
		// The page says why when it is shown again.
	case !access.WellFormedPasscode(code):
		p.notice = "A code is 6 to 10 digits, as your authenticator app shows it."
	case p.attempts >= s.opts.MaxCodeAttempts:
		p.notice = "No tries are left for this request."
	default:
		p.attempts++
		p.checking, p.notice = true, ""
		p.codes <- sensitive.New(code) // room: one code at a time (checking)
		p.bump()
		wait = p.changed
	}
	s.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-time.After(s.codeWait):
		case <-r.Context().Done():
		}
	}
	seeOther(w, p.token)
}

// postDeny records the human's Deny; the approver ends the request.
func (s *Server) postDeny(w http.ResponseWriter, r *http.Request) {
	p, _, ok := s.form(w, r)
	if !ok {
		return
	}
	if p.ask.Kind == Passkey {
		s.refuse(w, http.StatusBadRequest, "This request is answered with your passkey: use its Deny button.")
		return
	}
	s.mu.Lock()
	if p.decide(deny, "") {
		s.log.Info("approval denied on its page", "request", p.req.ID)
	}
	s.mu.Unlock()
	seeOther(w, p.token)
}

// form checks a POST to a page (origin, size, the request's digest) and
// returns the page and the form.
func (s *Server) form(w http.ResponseWriter, r *http.Request) (*Pending, url.Values, bool) {
	if !s.sameOrigin(r) {
		s.refuse(w, http.StatusForbidden, "This answer did not come from the approval page. Nothing was changed.")
		return nil, nil, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.refuse(w, http.StatusBadRequest, "This answer could not be read. Nothing was changed.")
		return nil, nil, false
	}
	s.mu.Lock()
	p := s.byToken[r.PathValue("token")]
	s.mu.Unlock()
	if p == nil {
		s.refuse(w, http.StatusNotFound, "This link leads to no approval request. Nothing was changed.")
		return nil, nil, false
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("digest")), []byte(p.req.Digest)) != 1 {
		s.log.Warn("approval page: answer for another digest refused", "request", p.req.ID)
		s.refuse(w, http.StatusForbidden, "This answer was for another request. Nothing was changed.")
		return nil, nil, false
	}
	return p, r.PostForm, true
}

func (s *Server) refuse(w http.ResponseWriter, status int, msg string) {
	s.renderMessage(w, status, message{Static: "../../static", Title: "Answer refused", Message: msg, State: "refused"})
}

// seeOther sends the browser back to the page (relative, so that a prefix
// in BaseURL's path is kept).
func seeOther(w http.ResponseWriter, token string) {
	w.Header().Set("Location", "../"+token)
	w.WriteHeader(http.StatusSeeOther)
}

type passkeyBeginIn struct {
	Decision string `json:"decision"`
}

type passkeyFinishIn struct {
	Decision   string          `json:"decision"`
	Credential json.RawMessage `json:"credential"`
}

type answerResult struct {
	State   string `json:"state"`
	Message string `json:"message"`
}

// passkeyPage returns the open passkey page of the request.
func (s *Server) passkeyPage(r *http.Request, decision string) (*Pending, Ceremony, error) {
	if decision != "approve" && decision != "deny" {
		return nil, nil, Refuse(http.StatusBadRequest, `decision must be "approve" or "deny"`)
	}
	p, d, ok := s.lookup(r.PathValue("token"))
	c := s.ceremony()
	switch {
	case !ok:
		return nil, nil, Refuse(http.StatusNotFound, "there is no approval request at this link")
	case p.ask.Kind != Passkey || c == nil:
		return nil, nil, Refuse(http.StatusBadRequest, "this request is not answered with a passkey")
	case d.State == Expired.String():
		return nil, nil, Refuse(http.StatusGone, d.Message)
	case !d.Open:
		return nil, nil, Refuse(http.StatusConflict, "This request was already answered: "+d.Message)
	}
	return p, c, nil
}

func (s *Server) passkeyBegin(r *http.Request, in passkeyBeginIn) (any, error) {
	p, c, err := s.passkeyPage(r, in.Decision)
	if err != nil {
		return nil, err
	}
	return c.Begin(r, p.req, in.Decision)
}

// passkeyFinish verifies a signed answer and, if it holds, decides the
// request with it.
func (s *Server) passkeyFinish(r *http.Request, in passkeyFinishIn) (any, error) {
	p, c, err := s.passkeyPage(r, in.Decision)
	if err != nil {
		return nil, err
	}
	key, err := c.Finish(r, p.req, in.Decision, in.Credential)
	if err != nil {
		return nil, err
	}
	d := deny
	if in.Decision == "approve" {
		d = approve
	}
	s.mu.Lock()
	applied := p.decide(d, key)
	s.mu.Unlock()
	if !applied {
		_, pd, _ := s.lookup(p.token)
		if pd.State == Expired.String() {
			return nil, Refuse(http.StatusGone, pd.Message)
		}
		return nil, Refuse(http.StatusConflict, "This request was already answered: "+pd.Message)
	}
	state := map[decision]string{approve: "approved", deny: "denied"}[d]
	return answerResult{State: state, Message: fmt.Sprintf("Request %s: %s with key %q.", p.req.ID, state, key)}, nil
}
