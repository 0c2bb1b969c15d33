package restapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gatekeeper-mcp/gatekeeper/internal/audit"
	"github.com/gatekeeper-mcp/gatekeeper/internal/mcptools"
)

// Operations is what the API needs from the operations table;
// *mcptools.Operations is one.
type Operations interface {
	Call(ctx context.Context, req mcptools.Request) (any, error)
	Specs() []mcptools.Spec
}

// Options configure the API. Operations and Caller are required.
type Options struct {
	Operations Operations
	// Caller is who the HTTP server authenticated for the request, with
	// the scopes the credential allows.
	Caller func(ctx context.Context) (mcptools.Caller, bool)
	// MaxBodyBytes bounds a request body (default 1 MiB): 413 beyond.
	MaxBodyBytes int64
	// Version is Gatekeeper's, for the OpenAPI document.
	Version string
}

// API serves the REST API.
type API struct {
	opts Options
	mux  *http.ServeMux
	doc  []byte
}

// New builds the API and its OpenAPI document.
func New(opts Options) (*API, error) {
	if opts.Operations == nil || opts.Caller == nil {
		return nil, errors.New("restapi: Operations and Caller are required")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	a := &API{opts: opts, mux: http.NewServeMux()}
	specs := opts.Operations.Specs()
	offered := map[string]bool{}
	for _, s := range specs {
		offered[s.Name] = true
	}
	// The named routes whose operation the table offers, by pattern.
	var named []route
	byPattern := map[string][]route{}
	var patterns []string
	for _, rt := range routes {
		if !offered[rt.operation] {
			continue
		}
		named = append(named, rt)
		key := rt.method + " " + rt.pattern
		if _, seen := byPattern[key]; !seen {
			patterns = append(patterns, key)
		}
		byPattern[key] = append(byPattern[key], rt)
	}
	for _, key := range patterns {
		a.mux.Handle(key, a.serveRoutes(byPattern[key]))
	}
	a.mux.HandleFunc("POST "+operationsPrefix+"{operation}", a.operation)
	a.mux.HandleFunc("/v1/", a.unknown)
	doc, err := json.Marshal(document(specs, named, opts.Version))
	if err != nil {
		return nil, err
	}
	a.doc = doc
	return a, nil
}

// ServeHTTP serves /v1/.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Document serves the OpenAPI document.
func (a *API) Document() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(a.doc)
	})
}

// serveRoutes serves the routes of one method and pattern: those of
// POST /v1/secrets/{path...} differ by their suffix (":undelete").
func (a *API) serveRoutes(rts []route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		path := r.PathValue("path")
		for _, rt := range rts {
			if rt.suffix != "" && !strings.HasSuffix(path, rt.suffix) {
				continue
			}
			args, err := rt.input(a.limit(w, r), strings.TrimSuffix(path, rt.suffix))
			if err != nil {
				writeError(w, err)
				return
			}
			a.call(w, r, rt.operation, args)
			return
		}
		writeError(w, &requestError{status: http.StatusNotFound, msg: "no such route; see /v1/openapi.json"})
	}
}

// operation serves POST /v1/operations/NAME: the body is the input.
func (a *API) operation(w http.ResponseWriter, r *http.Request) {
	in, err := bodyObject(a.limit(w, r))
	if err != nil {
		writeError(w, err)
		return
	}
	args, _ := json.Marshal(in) // a decoded object encodes
	a.call(w, r, r.PathValue("operation"), args)
}

// unknown answers what no route matches: 405 with the methods the path
// takes, else 404.
func (a *API) unknown(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodPost, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := a.mux.Handler(probe); pattern != "/v1/" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeError(w, &requestError{status: http.StatusMethodNotAllowed, msg: "this route takes " + strings.Join(allowed, ", ")})
		return
	}
	writeError(w, &requestError{status: http.StatusNotFound, msg: "no such route; see /v1/openapi.json"})
}

func (a *API) call(w http.ResponseWriter, r *http.Request, operation string, args json.RawMessage) {
	caller, ok := a.opts.Caller(r.Context())
	if !ok {
		// The server authenticates every request first; this is a bug.
		writeError(w, &requestError{status: http.StatusUnauthorized, msg: "authentication required"})
		return
	}
	out, err := a.opts.Operations.Call(r.Context(), mcptools.Request{Caller: caller, Operation: operation, Args: args, API: audit.APIREST})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// limit bounds the request's body.
func (a *API) limit(w http.ResponseWriter, r *http.Request) *http.Request {
	r.Body = http.MaxBytesReader(w, r.Body, a.opts.MaxBodyBytes)
	return r
}

// bodyObject reads a JSON object from the body; an empty body is {}.
func bodyObject(r *http.Request) (map[string]any, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return nil, &requestError{status: http.StatusUnsupportedMediaType, msg: "the body must be application/json"}
		}
	}
	b, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, &requestError{status: http.StatusRequestEntityTooLarge, msg: "the body is too large"}
	case err != nil:
		return nil, badRequest("the body could not be read")
	}
	in := map[string]any{}
	if len(strings.TrimSpace(string(b))) == 0 {
		return in, nil
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil || in == nil || dec.More() {
		return nil, badRequest("the body must be one JSON object")
	}
	return in, nil
}
