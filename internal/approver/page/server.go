package page

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
)

// Options configure a Server. BaseURL is required.
type Options struct {
	// BaseURL is where links point, e.g. "http://localhost:8444", or
	// "https://gk.example.com/approvals" when the Handler is mounted under
	// /approvals behind a proxy.
	BaseURL string
	// Notify sends the link to the human (Webhook.Notify). It runs in its
	// own goroutine; its ctx ends with the request. May be nil.
	Notify func(ctx context.Context, link string, req access.Request)
	// Announce shows the link where the operator looks: a line on stderr
	// in stdio mode. It must not block. May be nil.
	Announce func(link string, req access.Request)
	// Passkey verifies passkey answers; nil means no page takes one.
	Passkey Ceremony
	// Extra serves every path the pages do not (passkey registration).
	Extra http.Handler
	// MaxCodeAttempts bounds the codes one request takes; default 3.
	MaxCodeAttempts int
	Now             func() time.Time
	Logger          *slog.Logger
}

const (
	// maxForm bounds a form body: a code, a digest and a little more.
	maxForm = 4 << 10
	// maxJSON bounds a passkey answer: an assertion is a few KiB.
	maxJSON = 64 << 10
	// Ended requests are remembered so that their page can say what
	// happened, for keepEnded and up to maxEnded of them.
	keepEnded = 24 * time.Hour
	maxEnded  = 1024
	// defaultCodeAttempts: Vault's TOTP method locks the entity out after
	// its own max_validation_attempts (setup sets 5); three per request
	// leaves the human a typo or two and the next request a chance.
	defaultCodeAttempts = 3
	// codeWait bounds how long posting a code waits for its verdict
	// before the page shows "still checking".
	codeWait = 20 * time.Second
)

// Server keeps the pending approvals' pages and serves them.
type Server struct {
	opts   Options
	base   string
	origin string // the only Origin a POST may come from
	log    *slog.Logger
	now    func() time.Time
	// codeWait bounds how long posting a code waits for its verdict.
	codeWait time.Duration

	mu      sync.Mutex
	byToken map[string]*Pending
	byID    map[string]string  // approval id → token, while the page is remembered
	open    map[asker]*Pending // the open pages, by who asks for which tier
}

// asker is a principal asking for a tier: the access model runs one
// approval of each at a time.
type asker struct {
	p access.Principal
	t access.Tier
}

// New returns a Server.
func New(opts Options) (*Server, error) {
	u, err := url.Parse(opts.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("approval page: base URL %q is not an absolute http(s) URL", opts.BaseURL)
	}
	if opts.MaxCodeAttempts <= 0 {
		opts.MaxCodeAttempts = defaultCodeAttempts
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Server{
		opts:     opts,
		base:     strings.TrimRight(opts.BaseURL, "/"),
		origin:   strings.ToLower(u.Scheme + "://" + u.Host),
		log:      opts.Logger,
		now:      opts.Now,
		codeWait: codeWait,
		byToken:  map[string]*Pending{},
		byID:     map[string]string{},
		open:     map[asker]*Pending{},
	}, nil
}

// BaseURL is where the pages are, for the operator (passkey registration).
func (s *Server) BaseURL() string { return s.base }

// Link returns the page of a pending approval, if this server holds it.
// The status page shows it next to the approval.
func (s *Server) Link(approvalID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := s.byID[approvalID]
	if !ok {
		return "", false
	}
	if p := s.byToken[tok]; p == nil || p.ended() {
		return "", false
	}
	return s.link(tok), true
}

// Waiting returns the page of p's open approval of tier t, if this server
// holds one: a call waiting on it reports it with its progress.
func (s *Server) Waiting(p access.Principal, t access.Tier) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pg := s.open[asker{p, t}]
	if pg == nil || pg.ended() || !s.now().Before(pg.req.Expires) {
		return "", false
	}
	return s.link(pg.token), true
}

func (s *Server) link(token string) string { return s.base + "/approve/" + token }

// ErrBadRequest is returned by Open for a request that cannot get a page.
var ErrBadRequest = errors.New("approval request cannot get a page")
