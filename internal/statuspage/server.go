package statuspage

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// Access is what the page needs of the access model.
type Access interface {
	Snapshot() access.Snapshot
	RevokeGrant(ctx context.Context, p access.Principal, t access.Tier, approvalID string) (access.Revocation, error)
	RevokeAgent(ctx context.Context, p access.Principal) (access.Revocation, error)
	DenyApproval(ctx context.Context, p access.Principal, approvalID string) (access.PendingView, error)
}

// Recorder receives the page's own audit events (operator sign-ins).
type Recorder interface {
	Record(ctx context.Context, e audit.Event) error
}

// Options configure a Server. Access, OperatorToken and Origins are
// required.
type Options struct {
	Access Access
	// OperatorToken is what the operator signs in with; at least
	// MinToken bytes.
	OperatorToken sensitive.String
	// Origins are the page's own origins (scheme://host[:port]), as the
	// operator's browser reaches it: POSTs must come from one of them and
	// every request must name one of their hosts.
	Origins []string
	// Secure marks the session cookie Secure (the page is served over TLS).
	Secure bool
	// Recent holds the audit events shown; nil shows none.
	Recent *Recent
	// ApprovalLink gives the approval page of a pending approval, shown
	// next to it; nil shows none.
	ApprovalLink func(approvalID string) (string, bool)
	// Audit records sign-ins; nil records nothing.
	Audit Recorder
	// SessionTTL bounds a sign-in; default 1h.
	SessionTTL time.Duration
	// MaxSessions bounds the sessions kept (the oldest goes first);
	// default 16.
	MaxSessions int
	// Reload reads the configuration again and makes it the live one, or
	// says why it refused it; nil shows no Reload button.
	Reload func(ctx context.Context) error
	// RevokeTimeout bounds a revocation (and a reload) in Vault, which runs to its end
	// even if the browser goes away; default 20s.
	RevokeTimeout time.Duration
	Now           func() time.Time
	Logger        *slog.Logger
}

// MinToken is the shortest operator token accepted.
const MinToken = 32

// maxBody bounds a form: a token or a few short fields.
const maxBody = 8 << 10

// Server serves the status page.
type Server struct {
	opts  Options
	log   *slog.Logger
	hosts []string // the Host values requests may carry

	mu       sync.Mutex
	sessions map[[32]byte]*session
	// failures refuses wrong tokens for a while, per client address,
	// after a run of them.
	failures *failures
}

// New returns a Server, or an error for missing or unusable options.
func New(opts Options) (*Server, error) {
	var errs []error
	if opts.Access == nil {
		errs = append(errs, errors.New("status page: no access model"))
	}
	if len(opts.OperatorToken.Reveal()) < MinToken {
		errs = append(errs, fmt.Errorf("status page: the operator token must be at least %d bytes", MinToken))
	}
	if len(opts.Origins) == 0 {
		errs = append(errs, errors.New("status page: no origin"))
	}
	var hosts []string
	opts.Origins = slices.Clone(opts.Origins)
	for i, o := range opts.Origins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			errs = append(errs, fmt.Errorf("status page: %q is not an origin like https://status.example:8445", o))
			continue
		}
		opts.Origins[i] = u.Scheme + "://" + strings.ToLower(u.Host)
		hosts = append(hosts, strings.ToLower(u.Host))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = time.Hour
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 16
	}
	if opts.RevokeTimeout <= 0 {
		opts.RevokeTimeout = 20 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Audit == nil {
		opts.Audit = nopRecorder{}
	}
	return &Server{
		opts: opts, log: opts.Logger, hosts: hosts,
		sessions: map[[32]byte]*session{},
		failures: newFailures(),
	}, nil
}

type nopRecorder struct{}

func (nopRecorder) Record(context.Context, audit.Event) error { return nil }

//go:embed templates static
var files embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"utc":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"short": shortTime,
	"left":  func(s int64) string { return duration(time.Duration(s) * time.Second) },
	"join":  strings.Join,
	// shown writes out the characters that would make agent-chosen text
	// look like something else (bidi overrides, zero-width characters).
	"shown": access.Visible,
}).ParseFS(files, "templates/*.html"))

// Handler serves the page. Mount it at the root of its own listener.
//
//	GET  /                the status: pending approvals, agents, grants, audit events
//	                      (?agent=&event=&outcome= filter the events)
//	GET  /login           the sign-in form
//	POST /login           {token} → a session
//	POST /logout          {csrf} → no session
//	POST /revoke          {csrf, principal, tier, approval_id} → the grant ends
//	POST /revoke-agent    {csrf, principal} → all of the agent's access ends
//	POST /deny            {csrf, principal, approval_id} → the pending approval is denied
//	POST /reload          {csrf} → the configuration is read again (if Reload is set)
//	GET  /static/status.css
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.statusPage)
	mux.HandleFunc("GET /login", s.loginPage)
	mux.Handle("POST /login", s.form(s.login))
	mux.Handle("POST /logout", s.form(s.signedIn(s.logout)))
	mux.Handle("POST /revoke", s.form(s.signedIn(s.revokeGrant)))
	mux.Handle("POST /revoke-agent", s.form(s.signedIn(s.revokeAgent)))
	mux.Handle("POST /deny", s.form(s.signedIn(s.deny)))
	if s.opts.Reload != nil {
		mux.Handle("POST /reload", s.form(s.signedIn(s.reload)))
	}
	mux.HandleFunc("GET /static/status.css", serveCSS)
	return securityHeaders(s.checkHost(mux))
}

// securityHeaders are the approval page's, with two differences the page
// needs: forms may post to the page itself (form-action 'self'), and the
// Referrer-Policy is same-origin, because under no-referrer browsers send
// "Origin: null" with a form POST and the Origin check could not tell the
// page's own forms from anyone else's. Nothing in the page's URLs is
// secret, and no referrer leaves the origin. No script may run at all.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; "+
			"form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// checkHost refuses requests that name another host: a page on another
// site that rebinds its own name to this address gets nothing.
func (s *Server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(s.hosts, strings.ToLower(r.Host)) {
			s.log.Warn("status page: request for another host refused", "host", r.Host)
			s.message(w, http.StatusMisdirectedRequest, "Wrong address",
				"This status page answers only under its own address. Open it at "+s.opts.Origins[0]+". Nothing was changed.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func serveCSS(w http.ResponseWriter, _ *http.Request) {
	b, _ := files.ReadFile("static/status.css") // embedded at build time
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	_, _ = w.Write(b)
}

// refusal is a failure whose message is safe to show. Every other error
// is shown as an internal error.
type refusal struct {
	status int
	title  string
	msg    string
}

func (e *refusal) Error() string { return e.msg }

func refuse(status int, title, msg string) error { return &refusal{status, title, msg} }

// form adapts a POST endpoint: it checks the Origin, the body's type and
// size, parses the form and maps errors to a page in one place.
func (s *Server) form(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := s.checkForm(w, r)
		if err == nil {
			err = h(w, r)
		}
		if err == nil {
			return
		}
		var rf *refusal
		if !errors.As(err, &rf) {
			s.log.Error("status page", "path", r.URL.Path, "err", err)
			rf = &refusal{http.StatusInternalServerError, "Internal error", "Something went wrong inside Gatekeeper. Nothing was changed."}
		}
		s.message(w, rf.status, rf.title, rf.msg)
	})
}

func (s *Server) checkForm(w http.ResponseWriter, r *http.Request) error {
	if origin := r.Header.Get("Origin"); !slices.Contains(s.opts.Origins, strings.ToLower(origin)) {
		s.log.Warn("status page: POST from a foreign origin refused", "path", r.URL.Path, "origin", origin)
		return refuse(http.StatusForbidden, "Refused", "This request did not come from the status page itself. Nothing was changed.")
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return refuse(http.StatusUnsupportedMediaType, "Refused", "This request is not a form of the status page. Nothing was changed.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return refuse(http.StatusRequestEntityTooLarge, "Refused", "The form is too large. Nothing was changed.")
		}
		return refuse(http.StatusBadRequest, "Refused", "The form could not be read. Nothing was changed.")
	}
	return nil
}

// render writes one of the templates; the data is escaped by html/template.
func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		s.log.Error("status page: rendering", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

type messageData struct {
	Title, Message string
	Status         int
}

// message shows a page that says what happened and links back.
func (s *Server) message(w http.ResponseWriter, status int, title, msg string) {
	s.render(w, status, "message.html", messageData{Title: title, Message: msg, Status: status})
}
