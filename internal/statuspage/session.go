package statuspage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
)

// session is one operator's sign-in. Only the SHA-256 of its id is kept: a
// copy of the server's memory does not give a usable cookie.
type session struct {
	ref     string // names the session in the audit log; not a secret
	csrf    string // every POST of the session carries it
	expires time.Time
	flash   *flash // shown once, on the next page
}

type flash struct {
	ok  bool
	msg string
}

// operatorName is the principal of the page's audit events, and
// operatorMethod how its sign-ins authenticate.
const (
	operatorName   = "operator"
	operatorMethod = "operator_token"
)

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// cookieName: with TLS the __Host- prefix binds the cookie to this exact
// origin (Secure, Path=/, no Domain).
func (s *Server) cookieName() string {
	if s.opts.Secure {
		return "__Host-gatekeeper_status"
	}
	return "gatekeeper_status"
}

// current returns the request's live session, or nil.
func (s *Server) current(r *http.Request) *session {
	c, err := r.Cookie(s.cookieName())
	if err != nil || c.Value == "" {
		return nil
	}
	key := sha256.Sum256([]byte(c.Value))
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[key]
	if !ok {
		return nil
	}
	if !s.opts.Now().Before(sess.expires) {
		delete(s.sessions, key)
		return nil
	}
	return sess
}

// signedIn admits a POST only with a live session and its CSRF token.
func (s *Server) signedIn(h func(w http.ResponseWriter, r *http.Request, sess *session) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		sess := s.current(r)
		if sess == nil {
			return refuse(http.StatusUnauthorized, "Signed out", "You are not signed in (or your sign-in has ended). Sign in again. Nothing was changed.")
		}
		got := r.PostForm.Get("csrf")
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.csrf)) != 1 {
			s.log.Warn("status page: POST without the session's CSRF token refused", "path", r.URL.Path, "session", sess.ref)
			return refuse(http.StatusForbidden, "Refused", "This form is stale or did not come from your status page. Reload the status page and try again. Nothing was changed.")
		}
		return h(w, r, sess)
	}
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if s.current(r) != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	var msg string
	if r.URL.Query().Get("signed_out") != "" {
		msg = "You are signed out."
	}
	s.render(w, http.StatusOK, "login.html", loginData{Message: msg})
}

type loginData struct {
	Message string
	Error   bool
}

// login compares the token in constant time (of equal-length digests, so
// not even its length leaks) and starts a session on a match. The right
// token is compared first and always admitted: only wrong ones are limited,
// per client address, so wrong tokens from anyone never keep the operator
// from the revoke button. Sign-ins and wrong tokens are audited (a run of
// refused ones once); a session that cannot be audited is not started.
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	now := s.opts.Now()
	ev := audit.Event{Event: audit.Authentication, Method: operatorMethod, Principal: operatorName, Tool: "status_page", Outcome: audit.Refused, Source: audit.Peer(r.RemoteAddr)}
	given := sha256.Sum256([]byte(r.PostForm.Get("token")))
	want := sha256.Sum256([]byte(s.opts.OperatorToken.Reveal()))
	if subtle.ConstantTimeCompare(given[:], want[:]) != 1 {
		allowed, first := s.failures.wrong(clientKey(r.RemoteAddr), now)
		if !allowed {
			if first {
				ev.Detail = "sign-in closed for this address after repeated wrong tokens"
				_ = s.opts.Audit.Record(ctx, ev)
				s.log.Warn("status page: sign-in closed for an address after repeated wrong tokens", "remote", r.RemoteAddr)
			}
			return refuse(http.StatusTooManyRequests, "Too many wrong tokens",
				"Wrong tokens from this address are refused for a few seconds after repeated ones. Wait, then try again with the right token.")
		}
		ev.Detail = "wrong operator token"
		_ = s.opts.Audit.Record(ctx, ev)
		s.log.Warn("status page: sign-in with a wrong operator token refused", "remote", r.RemoteAddr)
		s.render(w, http.StatusUnauthorized, "login.html", loginData{Message: "That is not the operator token. Nothing was changed.", Error: true})
		return nil
	}

	id := randomString(32)
	sess := &session{ref: "ops_" + randomHex(6), csrf: randomString(32), expires: now.Add(s.opts.SessionTTL)}
	ev.Outcome, ev.Detail, ev.CorrelationID, ev.ExpiresAt = audit.OK, "operator signed in to the status page", sess.ref, sess.expires
	if err := s.opts.Audit.Record(ctx, ev); err != nil {
		s.log.Error("status page: sign-in not audited, so refused", "err", err)
		return refuse(http.StatusServiceUnavailable, "Audit log unavailable",
			"Gatekeeper cannot write its audit log, so it starts no operator session. Fix the audit log, then sign in again.")
	}
	s.store(sha256.Sum256([]byte(id)), sess, now)
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // G124: Secure follows whether the page is served over TLS
		Name: s.cookieName(), Value: id, Path: "/",
		MaxAge: int(s.opts.SessionTTL.Seconds()), HttpOnly: true, Secure: s.opts.Secure, SameSite: http.SameSiteStrictMode,
	})
	s.log.Info("status page: operator signed in", "session", sess.ref, "expires", sess.expires)
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

// store keeps a new session, dropping expired ones and, when full, the one
// that would end first.
func (s *Server) store(key [32]byte, sess *session, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, old := range s.sessions {
		if !now.Before(old.expires) {
			delete(s.sessions, k)
		}
	}
	for len(s.sessions) >= s.opts.MaxSessions {
		var oldest [32]byte
		var first time.Time
		for k, old := range s.sessions {
			if first.IsZero() || old.expires.Before(first) {
				oldest, first = k, old.expires
			}
		}
		delete(s.sessions, oldest)
	}
	s.sessions[key] = sess
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := r.Cookie(s.cookieName())
	if err != nil {
		return errors.New("signed-in request without its cookie") // signedIn found it
	}
	s.mu.Lock()
	delete(s.sessions, sha256.Sum256([]byte(c.Value)))
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.opts.Secure, SameSite: http.SameSiteStrictMode}) //nolint:gosec // G124: Secure follows whether the page is served over TLS
	s.log.Info("status page: operator signed out", "session", sess.ref)
	http.Redirect(w, r, "/login?signed_out=1", http.StatusSeeOther)
	return nil
}

// setFlash leaves a message for the session's next page.
func (s *Server) setFlash(sess *session, ok bool, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess.flash = &flash{ok: ok, msg: msg}
}

// takeFlash returns the session's message once.
func (s *Server) takeFlash(sess *session) *flash {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := sess.flash
	sess.flash = nil
	return f
}

// withSession is ctx for the access model: its audit events carry the
// operator's session reference as correlation id.
func withSession(ctx context.Context, sess *session) context.Context {
	return audit.WithCorrelationID(ctx, sess.ref)
}
