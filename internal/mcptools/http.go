package mcptools

import (
	"context"
	"encoding/base64"
	"maps"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/egress"
	"github.com/gatekeeper-mcp/gatekeeper/internal/secretuse"
)

var httpTool = &mcp.Tool{
	Name:  "http_request",
	Title: "Send an HTTP request that uses a secret you never see",
	Description: "Send an HTTP(S) request to a destination the operator allowed for you, with secrets put in by " +
		"Gatekeeper: write {{secret \"PATH\" \"FIELD\"}} where a value goes (PATH relative to your secrets folder), " +
		"in the URL's path or query, in a header value or in the body, e.g. headers {\"Authorization\": " +
		"\"Bearer {{secret \\\"api/github\\\" \\\"token\\\"}}\"}. The values never reach you: the response's status, " +
		"headers and body come back with every value, and its base64, hex, URL and JSON encodings, replaced by " +
		"[REDACTED:PATH#FIELD]. Redirects are followed only within your allowed destinations. A refusal lists " +
		"the destinations you may use. Needs read access; without it this starts an approval for read access.",
	Annotations: &mcp.ToolAnnotations{ReadOnlyHint: false, DestructiveHint: ptr(true), IdempotentHint: false, OpenWorldHint: ptr(true)},
}

// Egress sends requests to allowed destinations; *egress.Client is one.
type Egress interface {
	// Allows says whether the agent has any destination: whether the tool
	// exists for it.
	Allows(agent string) bool
	// Check decides what the request alone decides, with no connection.
	Check(agent string, r egress.Request) error
	Do(ctx context.Context, agent string, r egress.Request) (*egress.Response, error)
}

// HTTPIn is http_request's input.
type HTTPIn struct {
	Method  string            `json:"method,omitempty" jsonschema:"GET (default), HEAD, POST, PUT, PATCH, DELETE or OPTIONS"`
	URL     string            `json:"url" jsonschema:"https://host[:port]/path?query; placeholders only in the path and query"`
	Headers map[string]string `json:"headers,omitempty" jsonschema:"header name -> value; values may hold placeholders"`
	Body    string            `json:"body,omitempty" jsonschema:"the request body as text; may hold placeholders"`
}

// HTTPOut is the response, every secret value redacted.
type HTTPOut struct {
	Status       int                 `json:"status"`
	Headers      map[string][]string `json:"headers"`
	Body         string              `json:"body"`
	BodyEncoding string              `json:"body_encoding" jsonschema:"text (UTF-8 as sent) or base64 (binary)"`
	Redacted     int                 `json:"redacted" jsonschema:"how many occurrences of secret values were replaced"`
	Redirects    int                 `json:"redirects,omitempty"`
}

// maxAuditDestination bounds the destination kept in the audit log.
const maxAuditDestination = 512

func (t *tools) httpRequest(ctx context.Context, c *call, in HTTPIn) (HTTPOut, error) {
	agent := string(c.principal)
	if !t.opts.Egress.Allows(agent) {
		return HTTPOut{}, errNotAllowed
	}
	method := strings.ToUpper(in.Method)
	if method == "" {
		method = http.MethodGet
	}
	c.http.method = method
	u, err := secretuse.ParseURL(in.URL)
	c.http.destination = auditDestination(in.URL, u, err == nil)
	if err != nil {
		return HTTPOut{}, err
	}
	if len(in.Headers) > egress.MaxHeaders {
		return HTTPOut{}, inputError("at most 32 headers")
	}
	headers := map[string]secretuse.Template{}
	for _, name := range slices.Sorted(maps.Keys(in.Headers)) {
		if err := egress.CheckHeaderName(name); err != nil {
			return HTTPOut{}, err
		}
		if headers[http.CanonicalHeaderKey(name)], err = secretuse.Parse(in.Headers[name]); err != nil {
			return HTTPOut{}, err
		}
	}
	if len(headers) != len(in.Headers) {
		return HTTPOut{}, inputError("a header is given twice (header names are case-insensitive)")
	}
	body, err := secretuse.Parse(in.Body)
	if err != nil {
		return HTTPOut{}, err
	}
	all := []secretuse.Template{u.Template(), body}
	for _, name := range slices.Sorted(maps.Keys(headers)) {
		all = append(all, headers[name])
	}
	refs := secretuse.MergeRefs(all...)
	if len(refs) > secretuse.MaxRefs {
		return HTTPOut{}, inputError("at most 16 different secrets in one request")
	}
	c.setSecrets(refs)

	// Everything the request alone decides, before any secret is read:
	// placeholders stand in as "x", so a value can never be what makes a
	// request allowed.
	probe := func(secretuse.Ref) (string, error) { return "x", nil }
	if err := t.opts.Egress.Check(agent, buildRequest(method, u.Probe(), headers, body, probe, probe).Request); err != nil {
		return HTTPOut{}, err
	}

	var grant *access.Grant
	vals, err := withRead(ctx, t, c, func(g *access.Grant) (*secretuse.Values, error) {
		grant = g
		return t.resolver.Resolve(ctx, t.source(c, g), refs)
	})
	if err != nil {
		return HTTPOut{}, err
	}
	url, err := u.Expand(vals.Text)
	if err != nil {
		return HTTPOut{}, err
	}
	req := buildRequest(method, url, headers, body, func(r secretuse.Ref) (string, error) {
		v, err := vals.Text(r)
		if err == nil && strings.ContainsAny(v, "\r\n\x00") {
			return "", &unsafeValue{ref: r.Name()}
		}
		return v, err
	}, vals.Text)
	if req.err != nil {
		return HTTPOut{}, req.err
	}
	if len(refs) > 0 {
		c.reveal = "injected"
	}
	c.http.sent = int64(len(req.Body))
	if err := t.intent(ctx, c, grant); err != nil {
		return HTTPOut{}, err
	}
	resp, err := t.opts.Egress.Do(ctx, agent, req.Request)
	if err != nil {
		return HTTPOut{}, err
	}
	out := redactResponse(resp, vals.Redactor())
	c.http.status, c.http.recvd, c.http.redacted = int64(resp.Status), int64(len(resp.Body)), int64(out.Redacted)
	return out, nil
}

// built is a request with its secrets substituted, or why it could not be.
type built struct {
	egress.Request
	err error
}

// buildRequest fills the templates in with the values for headers and for
// the body. The URL is already filled in (its escaping depends on where a
// placeholder stands).
func buildRequest(method, url string, headers map[string]secretuse.Template, body secretuse.Template, headerValue, bodyValue func(secretuse.Ref) (string, error)) built {
	b := built{Request: egress.Request{Method: method, URL: url, Header: http.Header{}}}
	for name, tmpl := range headers {
		v, err := tmpl.Expand(headerValue)
		if err != nil {
			b.err = err
			return b
		}
		b.Header.Set(name, v)
		if tmpl.Len() > 0 {
			b.SecretHeaders = append(b.SecretHeaders, name)
		}
	}
	text, err := body.Expand(bodyValue)
	if err != nil {
		b.err = err
		return b
	}
	if text != "" {
		b.Body = []byte(text)
	}
	b.SecretBody = body.Len() > 0
	return b
}

// unsafeValue: a secret holds a line break or NUL and was to go into a
// header, where it would end the header and start another.
type unsafeValue struct{ ref string }

func (e *unsafeValue) Error() string {
	return "the value of " + e.ref + " holds a line break or NUL, which a header must not carry"
}
func (e *unsafeValue) Unwrap() error { return secretuse.ErrUnsafeValue }

// redactResponse replaces every form of every value in what goes back to
// the agent: header names and values, and the body before it is encoded.
func redactResponse(resp *egress.Response, red *secretuse.Redactor) HTTPOut {
	out := HTTPOut{Status: resp.Status, Headers: map[string][]string{}, Redirects: resp.Redirects}
	for name, values := range resp.Header {
		rn, n := red.RedactString(name)
		out.Redacted += n
		for _, v := range values {
			rv, n := red.RedactString(v)
			out.Redacted += n
			out.Headers[rn] = append(out.Headers[rn], rv)
		}
	}
	body, n := red.Redact(resp.Body)
	out.Redacted += n
	if utf8.Valid(body) {
		out.Body, out.BodyEncoding = string(body), "text"
	} else {
		out.Body, out.BodyEncoding = base64.StdEncoding.EncodeToString(body), "base64"
	}
	return out
}

// auditDestination is where a request goes, for the audit log: the
// canonical scheme://host:port and the path as written, placeholders and
// all, without the query; for a URL that does not parse, the text up to
// its query. Never a value: none has been substituted.
func auditDestination(raw string, u secretuse.URLTemplate, parsed bool) string {
	dest, _, _ := strings.Cut(raw, "?")
	if parsed {
		dest = u.WithoutQuery()
		if origin := egress.Origin(u.Probe()); origin != "" {
			_, rest, _ := strings.Cut(dest, "://")
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				dest = origin + rest[i:]
			} else {
				dest = origin + "/"
			}
		}
	}
	if len(dest) > maxAuditDestination {
		dest = dest[:maxAuditDestination] + "…"
	}
	return strings.ToValidUTF8(dest, "?")
}
