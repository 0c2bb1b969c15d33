package clientauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testCA issues client certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Gatekeeper test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue returns a client certificate for subject and URI SANs.
func (ca *testCA) issue(t testing.TB, subject pkix.Name, uris ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      subject,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour).Truncate(time.Second),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, u := range uris {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, parsed)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// result is what the TLS server's handler saw.
type result struct {
	id  *Identity
	err error
}

// mtlsServer runs m behind a TLS listener that verifies client
// certificates against ca when one is given, as Gatekeeper's does.
func mtlsServer(t testing.TB, m Method, ca *testCA) (*httptest.Server, <-chan result) {
	t.Helper()
	results := make(chan result, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		id, err := m.Authenticate(r)
		results <- result{id, err}
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: ca.pool, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, results
}

// call makes one request with cert (none when nil) and returns what the
// handler saw.
func call(t testing.TB, srv *httptest.Server, results <-chan result, cert *tls.Certificate, header http.Header) result {
	t.Helper()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	if cert != nil {
		tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	_ = resp.Body.Close()
	tr.CloseIdleConnections()
	return <-results
}

func scopesFor(agent string) []string {
	return map[string][]string{"alice": {"read"}, "bob": {"read", "write"}}[agent]
}

func TestMTLSDirect(t *testing.T) {
	ca := newTestCA(t)
	m, err := NewMTLS(MTLSOptions{
		SPIFFE:    map[string]string{"spiffe://example.org/agent/bob": "bob"},
		ScopesFor: scopesFor,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, results := mtlsServer(t, m, ca)
	alice := ca.issue(t, pkix.Name{CommonName: "alice", Organization: []string{"Acme"}})
	bob := ca.issue(t, pkix.Name{CommonName: "Bob's laptop"}, "spiffe://example.org/agent/bob")
	tests := []struct {
		name string
		cert *tls.Certificate
		want *Identity
		err  string
	}{
		{"ok/cn", &alice, &Identity{Agent: "alice", Method: "mtls", Subject: "CN=alice", Scopes: []string{"read"}, Expires: alice.Leaf.NotAfter}, ""},
		{"ok/spiffe", &bob, &Identity{Agent: "bob", Method: "mtls", Subject: "spiffe://example.org/agent/bob", Scopes: []string{"read", "write"}, Expires: bob.Leaf.NotAfter}, ""},
		{"ok/spiffe-and-valid-cn", ptr(ca.issue(t, pkix.Name{CommonName: "alice"}, "spiffe://example.org/agent/bob")),
			&Identity{Agent: "bob", Method: "mtls", Subject: "spiffe://example.org/agent/bob", Scopes: []string{"read", "write"}}, ""},
		{"ok/cn-with-other-uri", ptr(ca.issue(t, pkix.Name{CommonName: "alice"}, "https://alice.example")),
			&Identity{Agent: "alice", Method: "mtls", Subject: "CN=alice", Scopes: []string{"read"}}, ""},
		{"fail/spiffe-unmapped", ptr(ca.issue(t, pkix.Name{CommonName: "Eve"}, "spiffe://example.org/agent/eve")), nil, "invalid credential: mtls: SPIFFE ID not mapped to an agent"},
		{"fail/spiffe-unmapped-valid-cn", ptr(ca.issue(t, pkix.Name{CommonName: "alice"}, "spiffe://example.org/agent/eve")), nil, "invalid credential: mtls: SPIFFE ID not mapped to an agent"},
		{"fail/two-spiffe-ids", ptr(ca.issue(t, pkix.Name{}, "spiffe://example.org/agent/bob", "spiffe://example.org/agent/eve")), nil, "invalid credential: mtls: several SPIFFE IDs"},
		{"fail/cn-not-agent", ptr(ca.issue(t, pkix.Name{CommonName: "Alice Smith"})), nil, "invalid credential: mtls: no agent name in certificate"},
		{"fail/no-cn", ptr(ca.issue(t, pkix.Name{Organization: []string{"alice"}})), nil, "invalid credential: mtls: no agent name in certificate"},
		{"fail/two-cns", ptr(ca.issue(t, pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "bob"}, {Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "alice"},
		}})), nil, "invalid credential: mtls: several common names"},
		{"none/no-certificate", nil, nil, "no credential"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := call(t, srv, results, tc.cert, nil)
			if e := errText(t, got.err); e != tc.err {
				t.Fatalf("error = %q, want %q", e, tc.err)
			}
			if diff := cmp.Diff(tc.want, got.id, cmpExpiresIfSet(tc.want)); diff != "" {
				t.Errorf("identity mismatch (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("fail/untrusted-ca", func(t *testing.T) {
		other := newTestCA(t).issue(t, pkix.Name{CommonName: "alice"})
		tr := srv.Client().Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Certificates = []tls.Certificate{other}
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
		if err == nil {
			_ = resp.Body.Close()
			t.Fatalf("a certificate from another CA got through the listener: %+v", <-results)
		}
	})

	t.Run("fail/expired-on-a-kept-connection", func(t *testing.T) {
		late, err := NewMTLS(MTLSOptions{Now: func() time.Time { return alice.Leaf.NotAfter.Add(time.Second) }})
		if err != nil {
			t.Fatal(err)
		}
		lateSrv, lateResults := mtlsServer(t, late, ca)
		got := call(t, lateSrv, lateResults, &alice, nil)
		if e := errText(t, got.err); e != "invalid credential: mtls: certificate expired" {
			t.Errorf("error = %q", e)
		}
	})

	t.Run("fail/unverified-peer-certificate", func(t *testing.T) {
		// A listener that only requested a certificate (tls.RequestClientCert)
		// leaves PeerCertificates without VerifiedChains.
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{alice.Leaf}}
		_, err := m.Authenticate(r)
		if e := errText(t, err); e != "invalid credential: mtls: client certificate not verified" {
			t.Errorf("error = %q", e)
		}
	})
}

func TestMTLSProxy(t *testing.T) {
	keyValue, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := NewAPIKeys([]APIKey{{ID: "alice-key", Agent: "alice", SHA256: HashKey(keyValue)}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMTLS(MTLSOptions{
		SPIFFE:         map[string]string{"spiffe://example.org/agent/bob": "bob"},
		ScopesFor:      scopesFor,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")},
	})
	if err != nil {
		t.Fatal(err)
	}
	jwtMethod := newTestJWT(t, nil, true, nil)
	token := signWith(t, "HS256", goodClaims())

	const (
		trusted      = "10.1.2.3:5555"
		untrusted    = "192.0.2.7:5555"
		bobXFCC      = `Hash=9a8b;Subject="CN=Bob\, the builder,O=Acme";URI=spiffe://example.org/agent/bob`
		untrustedErr = "invalid credential: proxy_mtls: identity header from an untrusted address"
	)
	bob := &Identity{Agent: "bob", Method: "proxy_mtls", Subject: "spiffe://example.org/agent/bob", Scopes: []string{"read", "write"}}
	alice := &Identity{Agent: "alice", Method: "proxy_mtls", Subject: "CN=alice", Scopes: []string{"read"}}
	tests := []struct {
		name   string
		method Method
		remote string
		header http.Header
		want   *Identity
		err    string
	}{
		{"ok/spiffe", m, trusted, http.Header{"X-Forwarded-Client-Cert": {bobXFCC}}, bob, ""},
		{"ok/cn", m, trusted, http.Header{"X-Forwarded-Client-Cert": {`Hash=1;Subject="CN=alice,O=Acme\, Inc.";URI=`}}, alice, ""},
		{"ok/cn-by-oid", m, trusted, http.Header{"X-Forwarded-Client-Cert": {`Subject="2.5.4.3=alice"`}}, alice, ""},
		{"ok/cn-hex-escape", m, trusted, http.Header{"X-Forwarded-Client-Cert": {`Subject="CN=al\69ce"`}}, alice, ""},
		{"ok/last-element", m, trusted, http.Header{"X-Forwarded-Client-Cert": {bobXFCC + `,By=spiffe://example.org/proxy;Subject="CN=alice";URI=`}}, alice, ""},
		{"ok/last-element-of-last-line", m, trusted, http.Header{"X-Forwarded-Client-Cert": {`Subject="CN=alice"`, bobXFCC}}, bob, ""},
		{"ok/ipv6-proxy", m, "[fd00::1]:443", http.Header{"X-Forwarded-Client-Cert": {bobXFCC}}, bob, ""},
		{"ok/ipv4-mapped-proxy", m, "[::ffff:10.9.9.9]:443", http.Header{"X-Forwarded-Client-Cert": {bobXFCC}}, bob, ""},
		{"fail/untrusted", m, untrusted, http.Header{"X-Forwarded-Client-Cert": {bobXFCC}}, nil, untrustedErr},
		{"fail/untrusted-unparsable-peer", m, "@", http.Header{"X-Forwarded-Client-Cert": {bobXFCC}}, nil, untrustedErr},
		{"fail/untrusted-spoofed-forwarded-for", m, untrusted, http.Header{"X-Forwarded-Client-Cert": {bobXFCC}, "X-Forwarded-For": {"10.1.2.3"}}, nil, untrustedErr},
		{"fail/untrusted-with-api-key", Chain(keys, jwtMethod, m), untrusted,
			http.Header{"X-Forwarded-Client-Cert": {bobXFCC}, "X-Api-Key": {keyValue}}, nil, untrustedErr},
		{"fail/untrusted-with-jwt", Chain(jwtMethod, keys, m), untrusted,
			http.Header{"X-Forwarded-Client-Cert": {bobXFCC}, "Authorization": {"Bearer " + token}}, nil, untrustedErr},
		{"fail/untrusted-nested-chain", Chain(keys, Chain(jwtMethod, m)), untrusted,
			http.Header{"X-Forwarded-Client-Cert": {bobXFCC}, "X-Api-Key": {keyValue}}, nil, untrustedErr},
		{"fail/spiffe-unmapped", m, trusted, http.Header{"X-Forwarded-Client-Cert": {`Subject="CN=alice";URI=spiffe://example.org/agent/eve`}}, nil, "invalid credential: proxy_mtls: SPIFFE ID not mapped to an agent"},
		{"fail/escaped-comma-is-not-a-cn", m, trusted, http.Header{"X-Forwarded-Client-Cert": {`Subject="O=x\,CN=alice"`}}, nil, "invalid credential: proxy_mtls: no agent name in certificate"},
		{"fail/quoted-cn", m, trusted, http.Header{"X-Forwarded-Client-Cert": {`Subject="CN=\"alice\""`}}, nil, "invalid credential: proxy_mtls: no agent name in certificate"},
		{"fail/hash-only", m, trusted, http.Header{"X-Forwarded-Client-Cert": {`Hash=9a8b`}}, nil, "invalid credential: proxy_mtls: no agent name in certificate"},
		{"fail/earlier-element-ignored", m, trusted, http.Header{"X-Forwarded-Client-Cert": {bobXFCC + `,Hash=1`}}, nil, "invalid credential: proxy_mtls: no agent name in certificate"},
		{"none/trusted-peer-without-header", m, trusted, http.Header{}, nil, "no credential"},
		{"ok/api-key-without-header", Chain(keys, m), untrusted, http.Header{"X-Api-Key": {keyValue}},
			&Identity{Agent: "alice", Method: "api_key", Subject: "alice-key"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/mcp", nil)
			r.RemoteAddr = tc.remote
			r.Header = tc.header
			id, err := tc.method.Authenticate(r)
			if e := errText(t, err); e != tc.err {
				t.Fatalf("error = %q, want %q", e, tc.err)
			}
			if diff := cmp.Diff(tc.want, id); diff != "" {
				t.Errorf("identity mismatch (-want +got):\n%s", diff)
			}
		})
	}

	for _, v := range readLines(t, "testdata/xfcc/malformed.txt") {
		if v == "<empty>" {
			v = ""
		}
		t.Run("fail/malformed/"+v, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/mcp", nil)
			r.RemoteAddr = trusted
			r.Header.Set("X-Forwarded-Client-Cert", v)
			id, err := m.Authenticate(r)
			if e := errText(t, err); e != "invalid credential: proxy_mtls: malformed identity header" {
				t.Errorf("error = %q, identity %+v", e, id)
			}
		})
	}
}

// TestMTLSProxyOverTLS: the proxy's own client certificate on the
// connection is not the caller's identity.
func TestMTLSProxyOverTLS(t *testing.T) {
	ca := newTestCA(t)
	m, err := NewMTLS(MTLSOptions{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		ProxyHeader:    "x-client-identity",
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, results := mtlsServer(t, m, ca)
	proxy := ca.issue(t, pkix.Name{CommonName: "envoy"})
	got := call(t, srv, results, &proxy, nil)
	if e := errText(t, got.err); e != "no credential" {
		t.Errorf("proxy's own certificate: error = %q, identity %+v", e, got.id)
	}
	got = call(t, srv, results, &proxy, http.Header{"X-Client-Identity": {`Subject="CN=alice"`}})
	if got.err != nil || got.id.Agent != "alice" || got.id.Method != "proxy_mtls" {
		t.Errorf("identity header from the proxy: %v, %+v", got.err, got.id)
	}
}

func TestNewMTLS(t *testing.T) {
	tests := []struct {
		name string
		opts MTLSOptions
		want []string
	}{
		{"ok/empty", MTLSOptions{}, nil},
		{"ok/spiffe", MTLSOptions{SPIFFE: map[string]string{"spiffe://example.org/ns/prod/sa/agent-1": "agent-1"}}, nil},
		{"fail/not-spiffe", MTLSOptions{SPIFFE: map[string]string{"https://example.org/agent": "alice"}}, []string{"not a SPIFFE ID"}},
		{"fail/spiffe-trailing-slash", MTLSOptions{SPIFFE: map[string]string{"spiffe://example.org/agent/": "alice"}}, []string{"not a SPIFFE ID"}},
		{"fail/spiffe-dot-segment", MTLSOptions{SPIFFE: map[string]string{"spiffe://example.org/agent/../bob": "alice"}}, []string{"not a SPIFFE ID"}},
		{"fail/spiffe-upper-trust-domain", MTLSOptions{SPIFFE: map[string]string{"spiffe://Example.org/agent": "alice"}}, []string{"not a SPIFFE ID"}},
		{"fail/spiffe-bad-agent", MTLSOptions{SPIFFE: map[string]string{"spiffe://example.org/agent": "Alice"}}, []string{`"Alice" is not a valid agent name`}},
		{"fail/invalid-prefix", MTLSOptions{TrustedProxies: []netip.Prefix{{}}}, []string{"not a valid prefix"}},
		{"fail/header-name", MTLSOptions{ProxyHeader: "X Client Cert"}, []string{"not a header name"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewMTLS(tc.opts)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("NewMTLS: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("NewMTLS accepted the options")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// cmpExpiresIfSet ignores Expires when the wanted identity leaves it zero:
// some cases issue their certificate inline and do not know its NotAfter.
func cmpExpiresIfSet(want *Identity) cmp.Option {
	return cmp.FilterPath(func(p cmp.Path) bool {
		return want != nil && want.Expires.IsZero() && p.Last().String() == ".Expires"
	}, cmp.Ignore())
}
