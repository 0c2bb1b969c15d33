package main_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// pki is a test CA with a server certificate for 127.0.0.1 and client
// certificates on demand.
type pki struct {
	t        testing.TB
	dir      string
	ca       *x509.Certificate
	caKey    *ecdsa.PrivateKey
	pool     *x509.CertPool
	caFile   string
	certFile string
	keyFile  string
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	p := &pki{t: t, dir: t.TempDir()}
	p.caKey = mustKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gatekeeper test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, _ = x509.ParseCertificate(der)
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.ca)
	p.caFile = p.write("ca.pem", "CERTIFICATE", der)
	cert, key := p.issue(&x509.Certificate{
		Subject: pkix.Name{CommonName: "gatekeeper"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	p.certFile = p.write("server.pem", "CERTIFICATE", cert.Certificate[0])
	kb, _ := x509.MarshalECPrivateKey(key)
	p.keyFile = p.write("server-key.pem", "EC PRIVATE KEY", kb)
	return p
}

func mustKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (p *pki) write(name, typ string, der []byte) string {
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		p.t.Fatal(err)
	}
	return path
}

func (p *pki) issue(tmpl *x509.Certificate) (tls.Certificate, *ecdsa.PrivateKey) {
	key := mustKey(p.t)
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		p.t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, key
}

// clientCert is a client certificate with CN cn.
func (p *pki) clientCert(cn string) tls.Certificate {
	c, _ := p.issue(&x509.Certificate{Subject: pkix.Name{CommonName: cn}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return c
}

// idp is an identity provider: an RSA key and its JWKS, served by the test.
type idp struct {
	key *rsa.PrivateKey
	url string
}

func newIDP(t *testing.T) *idp {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, _ := json.Marshal(map[string]any{"keys": []any{map[string]any{
		"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(srv.Close)
	return &idp{key: key, url: srv.URL + "/jwks.json"}
}

const idpIssuer = "https://idp.test"

// token is a JWT for sub with scopes, valid for ttl (negative: expired).
func (i *idp) token(t *testing.T, sub string, scopes string, ttl time.Duration) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": idpIssuer, "aud": "gatekeeper", "sub": sub, "scope": scopes,
		"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(ttl).Unix(),
	})
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(i.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func decodeSegment(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
func encodeSegment(b []byte) string          { return base64.RawURLEncoding.EncodeToString(b) }

func sha(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// httpServer is a running `gatekeeper serve --http`.
type httpServer struct {
	url    string // https://127.0.0.1:PORT
	config string // the config file's path
	cmd    *exec.Cmd
	stderr *lockedBuffer
	audit  string
	pki    *pki
}

// serveHTTP starts gatekeeper serve with config (YAML) on a free port;
// p is the PKI behind the config's TLS files, nil for plain HTTP.
func (e *env) serveHTTP(config string, p *pki, extraEnv ...string) *httpServer {
	t := e.t
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "gatekeeper.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &httpServer{config: cfgPath, stderr: &lockedBuffer{}, audit: filepath.Join(dir, "audit.jsonl"), pki: p}
	h.cmd = exec.Command(binary, "serve", "--http", "127.0.0.1:0", "--config", cfgPath)
	h.cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"VAULT_ADDR=" + e.vaultAddr(),
		"VAULT_TOKEN=" + e.res.BootstrapToken.Reveal(),
		"GATEKEEPER_AUDIT_FILE=" + h.audit,
		"GATEKEEPER_AUDIT_KEY=" + auditKey,
		"GATEKEEPER_LOG_LEVEL=debug",
	}, extraEnv...)
	h.cmd.Stderr = h.stderr
	out, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = h.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = h.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = h.cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("gatekeeper stderr:\n%s", h.stderr)
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "gatekeeper: listening on "); ok {
				lines <- strings.TrimSuffix(u, "/mcp")
			}
		}
	}()
	select {
	case h.url = <-lines:
	case <-time.After(30 * time.Second):
		t.Fatalf("gatekeeper serve --http did not start:\n%s", h.stderr)
	}
	return h
}

// client is an HTTP client that trusts the test CA, presenting cert if set
// and adding headers to every request.
func (h *httpServer) client(cert *tls.Certificate, headers map[string]string) *http.Client {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if h.pki != nil {
		tlsCfg.RootCAs = h.pki.pool
	}
	if cert != nil {
		tlsCfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{
		Timeout:   2 * time.Minute,
		Transport: &headerTransport{base: &http.Transport{TLSClientConfig: tlsCfg}, headers: headers},
	}
}

type headerTransport struct {
	base    http.RoundTripper
	headers map[string]string
}

func (h *headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.headers {
		r.Header.Set(k, v)
	}
	return h.base.RoundTrip(r)
}

// connect opens an MCP session over Streamable HTTP. protocol "" is the
// SDK's newest (sessionless); "2025-11-25" is the session-based protocol.
func (h *httpServer) connect(t testing.TB, hc *http.Client, protocol string) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var opts *mcp.ClientSessionOptions
	if protocol != "" {
		opts = &mcp.ClientSessionOptions{ProtocolVersion: protocol}
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e-http", Version: "1"}, nil).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: h.url + "/mcp", HTTPClient: hc}, opts)
	if err != nil {
		t.Fatalf("connecting over HTTP: %v\n%s", err, h.stderr)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// auditEvents reads the server's audit file.
func (h *httpServer) auditEvents(t testing.TB) []map[string]any {
	t.Helper()
	a := &agent{t: t, audit: h.audit}
	return a.auditEvents()
}

// ownTOTP gives agent name a TOTP method of its own, enrolls the approver
// entity in it and enforces it on the agent's accounts instead of the
// shared one.
func ownTOTP(b testing.TB, e *env, entityID, name string) *vaulttest.Authenticator {
	b.Helper()
	ctx := context.Background()
	m, err := e.vc.Write(ctx, e.root, "identity/mfa/method/totp", map[string]any{
		"method_name": "bench-" + name, "issuer": "Gatekeeper", "period": 30, "skew": 1,
	})
	if err != nil {
		b.Fatal(err)
	}
	id := m.Data["method_id"].(string)
	g, err := e.vc.Write(ctx, e.root, "identity/mfa/method/totp/admin-generate", map[string]any{"method_id": id, "entity_id": entityID})
	if err != nil {
		b.Fatal(err)
	}
	a := setup.Agent(name)
	var accessors []string
	auths, err := e.vc.Read(ctx, e.root, "sys/auth")
	if err != nil {
		b.Fatal(err)
	}
	for _, t := range []string{a.AuthMount(access.Read), a.AuthMount(access.Write)} {
		accessors = append(accessors, auths.Data[t+"/"].(map[string]any)["accessor"].(string))
	}
	if _, err := e.vc.Write(ctx, e.root, "identity/mfa/login-enforcement/"+a.Enforcement(), map[string]any{
		"mfa_method_ids": []string{id}, "auth_method_accessors": accessors,
	}); err != nil {
		b.Fatal(err)
	}
	return vaulttest.NewAuthenticator(b, g.Data["url"].(string))
}

// webhookHuman is the human who reads the approval notifier: a webhook
// receiver that answers every approval page it is sent with code(). It
// returns the approval: settings that send the links to it.
func webhookHuman(t *testing.T, code func() string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Link string `json:"link"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || linkIn(body.Link) != body.Link {
			t.Errorf("webhook: %v, link %q", err, body.Link)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		go func() {
			if state, err := human.Answer(body.Link, url.Values{"code": {code()}}); err != nil || state != "approved" {
				t.Errorf("answering %s: %s %v", body.Link, state, err)
			}
		}()
	}))
	t.Cleanup(srv.Close)
	return "approval: {notify: {webhook_url: \"" + srv.URL + "\", kind: generic}}\n"
}
