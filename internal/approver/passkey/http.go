package passkey

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"

	"github.com/gatekeeper-mcp/gatekeeper/internal/approver/page"
)

//go:embed templates
var files embed.FS

var pages = template.Must(template.ParseFS(files, "templates/*.html"))

// Handler serves the registration page and its WebAuthn endpoints on the
// approval listener (page.Server.UsePasskey); the approval pages
// themselves are the page package's.
//
//	GET  /register                 enroll a key (?token=… pre-fills the token)
//	POST /register/begin           {token, name} → creation options
//	POST /register/finish          {session, credential} → registered
func (a *Approver) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /register", a.registerPage)
	mux.Handle("POST /register/begin", page.JSON(a.opts.Pages, a.registerBegin))
	mux.Handle("POST /register/finish", page.JSON(a.opts.Pages, a.registerFinish))
	return mux
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
