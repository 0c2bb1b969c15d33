package page

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
	"page.css":   "text/css; charset=utf-8",
	"passkey.js": "text/javascript; charset=utf-8",
}

// Handler serves the pages. Mount it at the root of BaseURL's path.
//
//	GET  /approve/{token}          the request and how to answer it
//	POST /approve/{token}/code     form: digest, code
//	POST /approve/{token}/deny     form: digest
//	POST /approve/{token}/begin    passkey: {decision} → assertion options
//	POST /approve/{token}/finish   passkey: {decision, credential} → the answer
//	GET  /static/{name}            the pages' style sheet and script
//
// Every other path goes to Options.Extra (passkey registration).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /approve/{token}", s.show)
	mux.HandleFunc("POST /approve/{token}/code", s.postCode)
	mux.HandleFunc("POST /approve/{token}/deny", s.postDeny)
	mux.Handle("POST /approve/{token}/begin", JSON(s, s.passkeyBegin))
	mux.Handle("POST /approve/{token}/finish", JSON(s, s.passkeyFinish))
	mux.HandleFunc("GET /static/{name}", serveStatic)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if extra := s.extra(); extra != nil {
			extra.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	})
	return securityHeaders(mux)
}

// securityHeaders: the pages load only their own script and style, post
// forms only to themselves, cannot be framed (no clickjacking of Deny or
// of the code field), are never cached, and send a Referer (which holds
// the link) only to their own origin; "same-origin" rather than
// "no-referrer", because under no-referrer browsers send "Origin: null"
// with a form, and every POST is checked against the page's origin.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "+
			"connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "same-origin")
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
	_, _ = w.Write(b) //nolint:gosec // G705: an embedded static file, nothing from the request
}

// Refusal is an error whose message is safe to show on the page and which
// says its HTTP status. Every other error is shown as a 500.
type Refusal struct {
	Status int
	Msg    string
}

func (e *Refusal) Error() string { return e.Msg }

// Refuse returns a Refusal.
func Refuse(status int, msg string) error { return &Refusal{status, msg} }

// JSON adapts a JSON endpoint of the approval listener (the passkey
// answers and registration): it checks the Origin (no cross-site POST),
// bounds and strictly decodes the body into In, and maps errors to
// statuses in one place.
func JSON[In any](s *Server, h func(r *http.Request, in In) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, err := s.decodeJSON(w, r, func(body []byte) (any, error) {
			var in In
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&in); err != nil {
				return nil, Refuse(http.StatusBadRequest, "the request body is not the JSON this endpoint takes")
			}
			if dec.More() {
				return nil, Refuse(http.StatusBadRequest, "the request body has trailing data")
			}
			return h(r, in)
		})
		if err != nil {
			var re *Refusal
			if !errors.As(err, &re) {
				s.log.Error("approval page", "path", r.URL.Path, "err", err)
				re = &Refusal{http.StatusInternalServerError, "internal error: nothing was changed"}
			}
			writeJSON(w, re.Status, map[string]string{"error": re.Msg})
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
}

func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, h func([]byte) (any, error)) (any, error) {
	if !s.sameOrigin(r) {
		return nil, Refuse(http.StatusForbidden, "this request did not come from the approval page")
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return nil, Refuse(http.StatusUnsupportedMediaType, "the request body must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSON))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, Refuse(http.StatusRequestEntityTooLarge, "the request body is too large")
		}
		return nil, Refuse(http.StatusBadRequest, "the request body could not be read")
	}
	return h(body)
}

// sameOrigin reports whether a POST came from the pages' own origin, as
// browsers serialize it (lower-case scheme and host, no default port).
func (s *Server) sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || !strings.EqualFold(o, s.origin) {
		s.log.Warn("approval page: POST from a foreign origin refused", "path", r.URL.Path, "origin", o)
		return false
	}
	return true
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
func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		s.log.Error("approval page: rendering", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// message is what the message template shows.
type message struct {
	Static, Title, Message, State string
}

// RenderMessage shows a page with one message (for Extra's pages too).
func (s *Server) renderMessage(w http.ResponseWriter, status int, m message) {
	s.render(w, status, "message.html", m)
}
