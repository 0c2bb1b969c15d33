// Package duotest is a local fake of Duo's Auth API v2, for tests: Duo's
// cloud is not reachable from them, and no real part can stand in for it.
//
// The fake serves what Gatekeeper's Duo approver calls (ping, check,
// preauth, auth with async=1, auth_status) over TLS on 127.0.0.1 and checks
// every signed request exactly as Duo does (see Verifier), answering Duo's
// 401 error JSON when the signature, the integration key or the Date is
// wrong. Like Duo, auth_status long-polls: it answers when the push is
// answered, or with "waiting" once Server.Hold has passed. The human at the phone is scripted per user or per push, and every
// push is recorded with the pushinfo decoded, so tests can assert what the
// human was shown.
package duotest

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// MaxPushInfo is Duo's limit: the URL-encoded pushinfo must be shorter.
const MaxPushInfo = 20000

// Answer is what the scripted human (or Duo) does with a push.
type Answer int

const (
	Wait    Answer = iota // never answers: auth_status stays "waiting"
	Allow                 // approves
	Deny                  // denies
	Fraud                 // denies and reports fraud
	Timeout               // Duo gives up on the push itself
)

func (a Answer) String() string {
	switch a {
	case Wait:
		return "wait"
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	case Fraud:
		return "fraud"
	case Timeout:
		return "timeout"
	}
	return "answer(" + strconv.Itoa(int(a)) + ")"
}

// Script is how one push is answered: the human gives Answer Delay after
// the push, but not before AfterPolls polls have ended "waiting" (each after
// Server.Hold, as Duo's own long-poll timeout would).
type Script struct {
	Answer     Answer
	AfterPolls int
	Delay      time.Duration
}

// DefaultHold is how long auth_status holds a poll of an unanswered push
// before it answers "waiting".
const DefaultHold = time.Second

// User is a Duo user as the fake knows it.
type User struct {
	// Preauth is the preauth result: "auth" (the default), "enroll",
	// "deny" or "allow" (the user bypasses two-factor).
	Preauth string
	// Capabilities of the user's one phone; nil means Duo Mobile with push.
	Capabilities []string
	Script
}

// Pair is one key/value of a push's pushinfo, in the order sent.
type Pair struct{ Key, Value string }

// Push is one /auth/v2/auth call the fake accepted.
type Push struct {
	TxID     string
	Username string
	Factor   string
	Device   string
	Async    bool
	Type     string // the push title
	PushInfo []Pair // decoded, in the order sent
	// RawPushInfo is the pushinfo parameter as sent (URL-encoded pairs).
	RawPushInfo string
	Polls       int // auth_status calls so far
	// PolledAt is when each auth_status call came, counted from the push.
	PolledAt []time.Duration
}

// Request is a signed request as it reached the fake, for tests that replay
// it tampered.
type Request struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   string
}

// Server is a running fake.
type Server struct {
	IKey string
	SKey string // plain: the fake's own throwaway key
	// Host is host:port as clients must name it (and sign it).
	Host string
	// RootCAs trusts the server's certificate.
	RootCAs *x509.CertPool
	// Hold is how long auth_status holds a poll of an unanswered push
	// (DefaultHold); set it before the first push.
	Hold time.Duration

	srv *httptest.Server

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change
	now      func() time.Time
	users    map[string]User
	onPush   func(Push) Script
	pushes   []*push
	byTxID   map[string]*push
	requests []Request
}

type push struct {
	Push
	script Script
	sent   time.Time // real time, not the fake's clock
}

// Start runs a fake until the test ends. Unknown users are not enrolled.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		Hold:    DefaultHold,
		IKey:    "DI" + randomString(18),
		SKey:    randomString(40),
		changed: make(chan struct{}),
		now:     time.Now,
		users:   map[string]User{},
		byTxID:  map[string]*push{},
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	// Refused handshakes are what some tests are about; they show as
	// client errors, not as noise on stderr.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)
	s.Host = s.srv.Listener.Addr().String()
	s.RootCAs = x509.NewCertPool()
	s.RootCAs.AddCert(s.srv.Certificate())
	return s
}

// CertificatePEM is the server's certificate, for clients configured from
// a CA file.
func (s *Server) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// Close stops the server: later calls find nothing listening.
func (s *Server) Close() { s.srv.Close() }

// Client is an HTTP client that trusts the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// URL is the server's base URL.
func (s *Server) URL() string { return s.srv.URL }

// SetUser enrols (or re-scripts) a user.
func (s *Server) SetUser(name string, u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[name] = u
}

// OnPush scripts each push individually, overriding the user's Script.
func (s *Server) OnPush(f func(Push) Script) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onPush = f
}

// SetNow sets the server's clock, against which request dates are checked.
func (s *Server) SetNow(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// Pushes returns every push received so far, oldest first.
func (s *Server) Pushes() []Push {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Push, len(s.pushes))
	for i, p := range s.pushes {
		out[i] = p.Push
		out[i].PushInfo = append([]Pair(nil), p.PushInfo...)
		out[i].PolledAt = append([]time.Duration(nil), p.PolledAt...)
	}
	return out
}

// PushCount is how many pushes were received.
func (s *Server) PushCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pushes)
}

// Requests returns every signed request that passed verification.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// WaitPolled blocks until a push to username was polled at least n times.
func (s *Server) WaitPolled(ctx context.Context, username string, n int) error {
	for {
		s.mu.Lock()
		changed := s.changed
		for _, p := range s.pushes {
			if p.Username == username && p.Polls >= n {
				s.mu.Unlock()
				return nil
			}
		}
		s.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d polls of a push to %s: %w", n, username, ctx.Err())
		}
	}
}

// notify wakes the waiters; s.mu is held.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/auth/v2/ping" {
		// The one unsigned call.
		if r.Method != http.MethodGet {
			writeError(w, &APIError{Status: http.StatusMethodNotAllowed, Code: 40501, Message: "Method not allowed"})
			return
		}
		writeOK(w, map[string]any{"time": s.clock().Unix()})
		return
	}
	params, raw, err := readParams(r)
	if err != nil {
		writeError(w, badParams("body"))
		return
	}
	v := Verifier{IKey: s.IKey, SKey: s.SKey, Host: s.Host, Now: s.clock}
	if e := v.Verify(r, params); e != nil {
		writeError(w, e)
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: raw})
	s.mu.Unlock()

	type route struct{ method, path string }
	handlers := map[route]func(url.Values) (any, *APIError){
		{http.MethodGet, "/auth/v2/check"}:    s.check,
		{http.MethodPost, "/auth/v2/preauth"}: s.preauth,
		{http.MethodPost, "/auth/v2/auth"}:    s.auth,
		{http.MethodGet, "/auth/v2/auth_status"}: func(p url.Values) (any, *APIError) {
			return s.authStatus(r.Context(), p)
		},
	}
	h, ok := handlers[route{r.Method, r.URL.Path}]
	if !ok {
		writeError(w, &APIError{Status: http.StatusNotFound, Code: 40401, Message: "Resource not found"})
		return
	}
	resp, apiErr := h(params)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	writeOK(w, resp)
}

// readParams reads the signed parameters and, for a POST, the raw body.
func readParams(r *http.Request) (url.Values, string, error) {
	var raw string
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			return nil, "", err
		}
		raw = string(b)
		r.Body = io.NopCloser(strings.NewReader(raw))
	}
	params, err := Params(r)
	return params, raw, err
}

func (s *Server) clock() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now()
}

func (s *Server) check(url.Values) (any, *APIError) {
	return map[string]any{"time": s.clock().Unix()}, nil
}

func (s *Server) preauth(p url.Values) (any, *APIError) {
	name := p.Get("username")
	if name == "" {
		return nil, badParams("username")
	}
	s.mu.Lock()
	u, ok := s.users[name]
	s.mu.Unlock()
	switch {
	case !ok:
		return map[string]any{"result": "enroll", "status_msg": "Enroll an authentication device to proceed", "enroll_portal_url": "https://" + s.Host + "/portal"}, nil
	case u.Preauth == "" || u.Preauth == "auth":
		return map[string]any{"result": "auth", "status_msg": "Account is active", "devices": []map[string]any{{
			"device": "DP" + strings.Repeat("0", 18), "type": "phone", "name": "phone", "number": "XXX-XXX-0100",
			"capabilities": capabilities(u),
		}}}, nil
	case u.Preauth == "allow":
		return map[string]any{"result": "allow", "status_msg": "Whitelisted"}, nil
	case u.Preauth == "deny":
		return map[string]any{"result": "deny", "status_msg": "Account is locked"}, nil
	case u.Preauth == "enroll":
		return map[string]any{"result": "enroll", "status_msg": "Enroll an authentication device to proceed"}, nil
	}
	return nil, &APIError{Status: http.StatusInternalServerError, Code: 50000, Message: "bad fake user " + name}
}

func capabilities(u User) []string {
	if u.Capabilities != nil {
		return u.Capabilities
	}
	return []string{"auto", "push", "sms", "phone", "mobile_otp"}
}

func (s *Server) auth(p url.Values) (any, *APIError) {
	name := p.Get("username")
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[name]
	if !ok || (u.Preauth != "" && u.Preauth != "auth") {
		return nil, badParams("username")
	}
	if p.Get("factor") != "push" {
		return nil, badParams("factor")
	}
	if p.Get("async") != "1" {
		return nil, badParams("async: the fake answers asynchronous pushes only")
	}
	if d := p.Get("device"); d != "auto" && d != "DP"+strings.Repeat("0", 18) {
		return nil, badParams("device")
	}
	if !slices.Contains(capabilities(u), "push") {
		return nil, badParams("factor: the device does not accept push")
	}
	raw := p.Get("pushinfo")
	if len(raw) >= MaxPushInfo {
		return nil, badParams("pushinfo")
	}
	info, err := decodePushInfo(raw)
	if err != nil {
		return nil, badParams("pushinfo")
	}
	pu := &push{Push: Push{
		TxID: randomString(8) + "-" + randomString(4) + "-" + randomString(12), Username: name,
		Factor: p.Get("factor"), Device: p.Get("device"), Async: true, Type: p.Get("type"),
		PushInfo: info, RawPushInfo: raw,
	}, script: u.Script, sent: time.Now()}
	if s.onPush != nil {
		pu.script = s.onPush(pu.Push)
	}
	s.pushes = append(s.pushes, pu)
	s.byTxID[pu.TxID] = pu
	s.notify()
	return map[string]any{"txid": pu.TxID}, nil
}

func (s *Server) authStatus(ctx context.Context, p url.Values) (any, *APIError) {
	waiting := map[string]any{"result": "waiting", "status": "pushed", "status_msg": "Pushed a login request to your device..."}
	s.mu.Lock()
	pu, ok := s.byTxID[p.Get("txid")]
	if !ok {
		s.mu.Unlock()
		return nil, badParams("txid")
	}
	pu.Polls++
	pu.PolledAt = append(pu.PolledAt, time.Since(pu.sent))
	poll := pu.Polls
	s.notify()
	hold := time.NewTimer(s.Hold)
	defer hold.Stop()
	answers := pu.script.Answer != Wait && poll > pu.script.AfterPolls
	answerAt := pu.sent.Add(pu.script.Delay)
	var answered <-chan time.Time // nil: never
	if answers {
		t := time.NewTimer(time.Until(answerAt))
		defer t.Stop()
		answered = t.C
	}
	// Held until the human answers, Duo's hold time passes or the client
	// goes away.
	for !answers || time.Now().Before(answerAt) {
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-answered:
		case <-changed:
		case <-hold.C:
			return waiting, nil
		case <-ctx.Done():
			return waiting, nil
		}
		s.mu.Lock()
	}
	defer s.mu.Unlock()
	switch pu.script.Answer {
	case Allow:
		return map[string]any{"result": "allow", "status": "allow", "status_msg": "Success. Logging you in..."}, nil
	case Deny:
		return map[string]any{"result": "deny", "status": "deny", "status_msg": "Login request denied."}, nil
	case Fraud:
		return map[string]any{"result": "deny", "status": "fraud", "status_msg": "Login request reported as fraudulent."}, nil
	case Timeout:
		return map[string]any{"result": "deny", "status": "timeout", "status_msg": "Login timed out."}, nil
	}
	return nil, &APIError{Status: http.StatusInternalServerError, Code: 50000, Message: "bad script " + pu.script.Answer.String()}
}

// decodePushInfo splits URL-encoded pairs, keeping their order.
func decodePushInfo(raw string) ([]Pair, error) {
	var out []Pair
	if raw == "" {
		return nil, nil
	}
	for _, kv := range strings.Split(raw, "&") {
		k, v, _ := strings.Cut(kv, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, err
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, err
		}
		out = append(out, Pair{key, val})
	}
	return out, nil
}

func badParams(detail string) *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: 40002, Message: "Invalid request parameters", Detail: detail}
}

func writeOK(w http.ResponseWriter, resp any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"stat": "OK", "response": resp})
}

func writeError(w http.ResponseWriter, e *APIError) {
	body := map[string]any{"stat": "FAIL", "code": e.Code, "message": e.Message}
	if e.Detail != "" {
		body["message_detail"] = e.Detail
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(body)
}

func randomString(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
