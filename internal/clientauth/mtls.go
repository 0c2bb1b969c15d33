package clientauth

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"
)

// MTLSOptions configures client-certificate identities.
type MTLSOptions struct {
	// SPIFFE maps a SPIFFE ID (a certificate's URI SAN) to an agent.
	SPIFFE map[string]string
	// ScopesFor gives a certificate identity its scopes; nil gives none.
	ScopesFor func(agent string) []string
	// TrustedProxies are the addresses of TLS-terminating proxies that may
	// pass a client identity in ProxyHeader. List only proxies: a request
	// from these addresses is identified by the header alone.
	TrustedProxies []netip.Prefix
	// ProxyHeader is Envoy's "X-Forwarded-Client-Cert" unless set.
	ProxyHeader string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// MTLS authenticates client certificates, in one of two ways.
//
// Direct ("mtls"): the certificate was verified by Gatekeeper's own TLS
// listener against the client CA (r.TLS.VerifiedChains). A certificate in
// PeerCertificates without a verified chain proves nothing (the listener
// only asked for it) and is refused.
//
// Behind a proxy ("proxy_mtls"): a proxy that terminated the client's TLS
// and verified its certificate passes the identity in ProxyHeader, in
// Envoy's XFCC format. The header is believed only when the request's own
// peer (r.RemoteAddr) is a trusted proxy, and then the last element is used:
// each hop appends the certificate of the client it saw, so the last one is
// what our trusted proxy itself verified, and anything before it came from
// further away, possibly from the client. Configure Envoy with
// forward_client_cert_details: SANITIZE_SET and set_current_client_cert_details
// {subject: true, uri: true}.
//
// The header from any other address is refused — a client forging its
// identity — even when the request also carries a valid API key or JWT.
// MTLS enforces that through Chain before any method runs, and in
// Authenticate when it runs alone.
//
// The agent is the certificate's SPIFFE ID mapped through SPIFFE; for a
// certificate without a SPIFFE ID, its CN if that is a valid agent name.
// A certificate that has a SPIFFE ID is known by it alone: an unmapped ID
// is refused rather than falling back to the CN, because a SPIFFE CA (SPIRE)
// lets workloads shape their CN from their DNS names, so the CN would let
// any workload name itself.
type MTLS struct {
	spiffe    map[string]string
	scopesFor func(string) []string
	trusted   []netip.Prefix
	header    string
	now       func() time.Time
}

// spiffeID follows the SPIFFE ID spec: lower-case trust domain, a path of
// non-empty segments of letters, digits, '.', '-' and '_', and nothing else.
var spiffeID = regexp.MustCompile(`^spiffe://[a-z0-9._-]+(/[A-Za-z0-9._-]+)*$`)

// headerName is an HTTP field name (RFC 9110 token).
var headerName = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")

// NewMTLS checks opts and returns every problem at once.
func NewMTLS(opts MTLSOptions) (*MTLS, error) {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf("mtls: "+format, args...)) }
	m := &MTLS{
		spiffe:    make(map[string]string, len(opts.SPIFFE)),
		scopesFor: opts.ScopesFor,
		header:    opts.ProxyHeader,
		now:       opts.Now,
	}
	for id, agent := range opts.SPIFFE {
		if !spiffeID.MatchString(id) || strings.Contains(id, "/./") || strings.Contains(id, "/../") ||
			strings.HasSuffix(id, "/.") || strings.HasSuffix(id, "/..") {
			add("%q is not a SPIFFE ID like spiffe://example.org/agent", id)
		}
		if !ValidAgent(agent) {
			add("SPIFFE ID %q: %q is not a valid agent name", id, agent)
		}
		m.spiffe[id] = agent
	}
	for _, p := range opts.TrustedProxies {
		if !p.IsValid() {
			add("trusted proxy %s is not a valid prefix", p)
			continue
		}
		m.trusted = append(m.trusted, p.Masked())
	}
	if m.header == "" {
		m.header = "X-Forwarded-Client-Cert"
	}
	if !headerName.MatchString(m.header) {
		add("proxy header %q is not a header name", m.header)
	}
	m.header = http.CanonicalHeaderKey(m.header)
	if m.now == nil {
		m.now = time.Now
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// Name returns "mtls".
func (*MTLS) Name() string { return "mtls" }

// Authenticate identifies the caller by the proxy header or, when there is
// none, by the certificate of the connection.
func (m *MTLS) Authenticate(r *http.Request) (*Identity, error) {
	values := r.Header.Values(m.header)
	trusted := m.trustedPeer(r)
	switch {
	case len(values) > 0 && !trusted:
		return nil, errUntrustedHeader
	case len(values) > 0:
		return m.fromHeader(values)
	case trusted:
		// The connection's certificate, if any, is the proxy's own: it
		// names the proxy, not the caller, and must not become an agent.
		return nil, ErrNoCredential
	}
	return m.fromConnection(r)
}

var errUntrustedHeader = refuse("proxy_mtls: identity header from an untrusted address")

// screen is MTLS's veto in a Chain: the identity header from an address
// that is not a trusted proxy refuses the request whatever else it carries.
func (m *MTLS) screen(r *http.Request) error {
	if len(r.Header.Values(m.header)) > 0 && !m.trustedPeer(r) {
		return errUntrustedHeader
	}
	return nil
}

// trustedPeer reports whether the request's immediate peer is a trusted
// proxy. Only the socket address counts: X-Forwarded-For and the like are
// written by the client as easily as the identity header.
func (m *MTLS) trustedPeer(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap()
	return slices.ContainsFunc(m.trusted, func(p netip.Prefix) bool { return p.Contains(addr) })
}

func (m *MTLS) fromHeader(values []string) (*Identity, error) {
	// Several header lines are one list (RFC 9110 §5.3); the last element
	// of the last line is still the nearest proxy's.
	elems, err := parseXFCC(strings.Join(values, ","))
	if err != nil {
		return nil, refuse("proxy_mtls: malformed identity header")
	}
	names, err := elems[len(elems)-1].names()
	if err != nil {
		return nil, refuse("proxy_mtls: malformed identity header")
	}
	return m.identify("proxy_mtls", names, time.Time{})
}

var oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}

func (m *MTLS) fromConnection(r *http.Request) (*Identity, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, ErrNoCredential
	}
	if len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil, refuse("mtls: client certificate not verified")
	}
	leaf := r.TLS.VerifiedChains[0][0]
	// The handshake checked validity then; a keep-alive connection can
	// outlive the certificate.
	if now := m.now(); now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return nil, refuse("mtls: certificate expired")
	}
	names, err := leafNames(leaf)
	if err != nil {
		return nil, err
	}
	return m.identify("mtls", names, leaf.NotAfter)
}

func leafNames(leaf *x509.Certificate) (certNames, error) {
	var n certNames
	for _, u := range leaf.URIs {
		n.uris = append(n.uris, u.String())
	}
	cns := 0
	for _, a := range leaf.Subject.Names {
		if a.Type.Equal(oidCommonName) {
			cns++
		}
	}
	if cns > 1 {
		return certNames{}, refuse("mtls: several common names")
	}
	n.cn = leaf.Subject.CommonName
	return n, nil
}

// identify applies the naming rule (see MTLS) to a certificate's names.
func (m *MTLS) identify(method string, n certNames, expires time.Time) (*Identity, error) {
	var ids []string
	for _, u := range n.uris {
		if len(u) >= len("spiffe://") && strings.EqualFold(u[:len("spiffe://")], "spiffe://") {
			ids = append(ids, u)
		}
	}
	id := &Identity{Method: method, Expires: expires}
	switch {
	case len(ids) > 1:
		return nil, refuse(method + ": several SPIFFE IDs")
	case len(ids) == 1:
		agent, ok := m.spiffe[ids[0]]
		if !ok {
			return nil, refuse(method + ": SPIFFE ID not mapped to an agent")
		}
		id.Agent, id.Subject = agent, ids[0]
	case ValidAgent(n.cn):
		id.Agent, id.Subject = n.cn, "CN="+n.cn
	default:
		return nil, refuse(method + ": no agent name in certificate")
	}
	if m.scopesFor != nil {
		id.Scopes = slices.Clone(m.scopesFor(id.Agent))
	}
	return id, nil
}
