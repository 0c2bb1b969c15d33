package passkey

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"mime"
	"net/http"
	"strings"
)

//go:embed static templates
var files embed.FS

var pages = template.Must(template.ParseFS(files, "templates/*.html"))

// staticFiles are the only files served from static/, with their types.
var staticFiles = map[string]string{
	"passkey.js":  "text/javascript; charset=utf-8",
	"passkey.css": "text/css; charset=utf-8",
}

// Handler serves the registration page, the approval pages and their
// WebAuthn endpoints. Mount it at the root of BaseURL's path.
//
//	GET  /register                 enroll a key (?token=… pre-fills the token)
//	POST /register/begin           {token, name} → creation options
//	POST /register/finish          {session, credential} → registered
//	GET  /approve/{id}             the request and two buttons
//	POST /approve/{id}/begin       {decision} → assertion options
//	POST /approve/{id}/finish      {decision, credential} → the answer
//	GET  /static/{name}            the page's script and style sheet
func (a *Approver) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /register", a.registerPage)
	mux.Handle("POST /register/begin", api(a, a.registerBegin))
	mux.Handle("POST /register/finish", api(a, a.registerFinish))
	mux.HandleFunc("GET /approve/{id}", a.approvePage)
	mux.Handle("POST /approve/{id}/begin", api(a, a.answerBegin))
	mux.Handle("POST /approve/{id}/finish", api(a, a.answerFinish))
	mux.HandleFunc("GET /static/{name}", serveStatic)
	return securityHeaders(mux)
}

// securityHeaders: the pages load only their own script and style, cannot
// be framed (no clickjacking of the Approve button), are never cached and
// send no Referer (the register link may carry the enroll token).
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "+
			"connect-src 'self'; img-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

func serveStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ctype, ok := staticFiles[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	b, err := files.ReadFile("static/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ctype)
	_, _ = w.Write(b)
}

// httpError is an error whose message is safe to show on the page and
// which says its HTTP status. Every other error is shown as a 500.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func refuse(status int, msg string) error { return &httpError{status, msg} }

// api adapts a JSON endpoint: it checks the Origin (no cross-site POST),
// bounds and strictly decodes the body into In, and maps errors to statuses
// in one place.
func api[In any](a *Approver, h func(r *http.Request, in In) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, err := a.serveAPI(w, r, func(body []byte) (any, error) {
			var in In
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&in); err != nil {
				return nil, refuse(http.StatusBadRequest, "the request body is not the JSON this endpoint takes")
			}
			if dec.More() {
				return nil, refuse(http.StatusBadRequest, "the request body has trailing data")
			}
			return h(r, in)
		})
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) {
				a.log.Error("passkey page", "path", r.URL.Path, "err", err)
				he = &httpError{http.StatusInternalServerError, "internal error: nothing was changed"}
			}
			writeJSON(w, he.status, map[string]string{"error": he.msg})
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
}

func (a *Approver) serveAPI(w http.ResponseWriter, r *http.Request, h func([]byte) (any, error)) (any, error) {
	if !a.allowedOrigin(r.Header.Get("Origin")) {
		a.log.Warn("passkey page: POST from a foreign origin refused", "path", r.URL.Path, "origin", r.Header.Get("Origin"))
		return nil, refuse(http.StatusForbidden, "this request did not come from the approval page")
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return nil, refuse(http.StatusUnsupportedMediaType, "the request body must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, refuse(http.StatusRequestEntityTooLarge, "the request body is too large")
		}
		return nil, refuse(http.StatusBadRequest, "the request body could not be read")
	}
	return h(body)
}

// allowedOrigin compares an Origin header with RPOrigins as browsers
// serialize origins: lower-case scheme and host, no default port.
func (a *Approver) allowedOrigin(origin string) bool {
	if origin == "" {
		return false
	}
	for _, o := range a.opts.RPOrigins {
		if strings.EqualFold(strings.TrimRight(o, "/"), origin) {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// render writes one of the templates; the data is escaped by html/template.
func (a *Approver) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		a.log.Error("passkey page: rendering", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

type messageData struct {
	Static, Title, Message string
}
