package credential_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/credential"
	"github.com/gatekeeper-mcp/gatekeeper/internal/devvault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vault"
	"github.com/gatekeeper-mcp/gatekeeper/internal/vaulttest"
)

// grants stands in for the access model: it hands out grants whose tokens
// are real Vault tokens with the tier policies setup wrote, and keeps what
// AddCredential records.
type grants struct {
	mu      sync.Mutex
	byTier  map[access.Tier]*access.Grant
	creds   []access.Credential
	ended   []string
	refused error // ForCredential's answer, when set
}

func (g *grants) ForCredential(_ context.Context, _ access.Principal, t access.Tier, _ string) (*access.Grant, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.refused != nil {
		return nil, g.refused
	}
	gr, ok := g.byTier[t]
	if !ok {
		return nil, access.ErrWriteRequired
	}
	return gr, nil
}

func (g *grants) AddCredential(_ context.Context, _ *access.Grant, c access.Credential) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.creds = append(g.creds, c)
	return nil
}

func (g *grants) TakeCredential(_ access.Principal, name string) ([]access.Credential, []*access.Grant) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []access.Credential
	var gs []*access.Grant
	for _, c := range g.creds {
		if c.Name == name {
			out = append(out, c)
			gs = append(gs, g.byTier[access.Read])
		}
	}
	return out, gs
}

func (g *grants) EndCredential(_ context.Context, _ *access.Grant, c access.Credential, why string, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ended = append(g.ended, c.LeaseID+": "+why)
	if err != nil {
		g.ended = append(g.ended, "error: "+err.Error())
	}
}

type fixture struct {
	srv    *devvault.Server
	vc     *vault.Client
	root   sensitive.String
	grants *grants
	svc    *credential.Service
}

// newFixture is a Vault with a PKI and an SSH engine, set up with their
// roles in the stdio agent's tier policies, and a read grant of ttl.
func newFixture(t *testing.T, ttl time.Duration) *fixture {
	t.Helper()
	f := &fixture{srv: vaulttest.Start(t)}
	f.vc, f.root = vaulttest.Client(t, f.srv), vaulttest.Root(f.srv)
	vaulttest.EnablePKI(t, f.srv, "pki", vaulttest.PKIRole{Name: "web", Domain: "test.internal"})
	vaulttest.EnableSSH(t, f.srv, "ssh", vaulttest.SSHRole{Name: "ops", DefaultUser: "ops"})
	l := vaulttest.DefaultLayout
	l.Roles = map[setup.Agent][]setup.Role{"": {
		{Engine: setup.EnginePKI, Mount: "pki", Name: "web", Tier: access.Read},
		{Engine: setup.EngineSSH, Mount: "ssh", Name: "ops", Tier: access.Read},
	}}
	vaulttest.SetUp(t, f.srv, l)
	f.grants = &grants{byTier: map[access.Tier]*access.Grant{access.Read: f.grant(t, "gatekeeper-read", ttl)}}
	f.svc = credential.New(credential.Options{Vault: f.vc, Access: f.grants, Specs: func(access.Principal) []credential.Spec {
		return []credential.Spec{
			{Name: "web-cert", Engine: setup.EnginePKI, Mount: "pki", Role: "web", Tier: access.Read,
				AllowsName: func(n string) bool { return strings.HasSuffix(n, ".test.internal") }},
			{Name: "ops-ssh", Engine: setup.EngineSSH, Mount: "ssh", Role: "ops", Tier: access.Read},
			{Name: "admin-db", Engine: setup.EngineDatabase, Mount: "database", Role: "admin", Tier: access.Write},
		}
	}})
	return f
}

// grant is a grant whose token is a real child token with policy, as the
// brokered strategy mints them.
func (f *fixture) grant(t *testing.T, policy string, ttl time.Duration) *access.Grant {
	t.Helper()
	s, err := f.vc.Write(t.Context(), f.root, "auth/token/create", map[string]any{
		"policies": []string{policy}, "no_default_policy": true, "ttl": ttl.String(), "explicit_max_ttl": ttl.String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	return &access.Grant{Principal: "p", Tier: access.Read, Token: sensitive.New(s.Auth.ClientToken), Accessor: s.Auth.Accessor,
		IssuedAt: now, ExpiresAt: now.Add(time.Duration(s.Auth.LeaseDuration) * time.Second)}
}

// TestPKICertificateEndsWithTheGrant: the certificate's NotAfter is at the
// grant's end at the latest, its lease is the grant token's, and revoking
// the token ends the lease.
func TestPKICertificateEndsWithTheGrant(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 10*time.Minute)
	g := f.grants.byTier[access.Read]
	iss, err := f.svc.Issue(t.Context(), "p", credential.Request{Name: "web-cert", CommonName: "app.test.internal", AltNames: []string{"api.test.internal"}})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(iss.Values["certificate"].Reveal()))
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.NotAfter.After(g.ExpiresAt) || !cert.NotAfter.Equal(iss.ExpiresAt) {
		t.Errorf("NotAfter %s, grant ends %s, credential says %s", cert.NotAfter, g.ExpiresAt, iss.ExpiresAt)
	}
	if cert.Subject.CommonName != "app.test.internal" || len(cert.DNSNames) != 2 {
		t.Errorf("certificate for %s %v", cert.Subject.CommonName, cert.DNSNames)
	}
	if iss.LeaseID == "" || iss.Values["private_key"].IsZero() {
		t.Fatalf("issued %+v: want a lease and a private key", iss.Credential)
	}
	if _, err := f.vc.Write(t.Context(), f.root, "sys/leases/lookup", map[string]any{"lease_id": iss.LeaseID}); err != nil {
		t.Fatalf("the lease is not in Vault: %v", err)
	}
	// The grant ends: its token is revoked, and the lease with it.
	if err := f.vc.RevokeSelf(t.Context(), g.Token); err != nil {
		t.Fatal(err)
	}
	waitGone(t, f, iss.LeaseID)
}

// TestSSHCertificateEndsBeforeTheGrant: a signed key's ValidBefore is
// before the grant's end; it has no lease.
func TestSSHCertificateEndsBeforeTheGrant(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 10*time.Minute)
	key := agentKey(t)
	iss, err := f.svc.Issue(t.Context(), "p", credential.Request{Name: "ops-ssh", PublicKey: string(ssh.MarshalAuthorizedKey(key))})
	if err != nil {
		t.Fatal(err)
	}
	signed, _, _, _, err := ssh.ParseAuthorizedKey([]byte(iss.Values["signed_key"].Reveal()))
	if err != nil {
		t.Fatal(err)
	}
	cert := signed.(*ssh.Certificate)
	before := time.Unix(int64(cert.ValidBefore), 0)
	if g := f.grants.byTier[access.Read]; before.After(g.ExpiresAt) || iss.LeaseID != "" {
		t.Errorf("ValidBefore %s, grant ends %s, lease %q", before, g.ExpiresAt, iss.LeaseID)
	}
	if string(cert.Key.Marshal()) != string(key.Marshal()) {
		t.Error("the certificate is not for the agent's key")
	}
}

// TestRevoke: revoke_credential ends the lease now, with the grant's token.
func TestRevoke(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 10*time.Minute)
	iss, err := f.svc.Issue(t.Context(), "p", credential.Request{Name: "web-cert", CommonName: "app.test.internal"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := f.svc.Revoke(t.Context(), "p", "web-cert")
	if n != 1 || err != nil {
		t.Fatalf("Revoke = %d, %v", n, err)
	}
	waitGone(t, f, iss.LeaseID)
}

// TestRefusals: what the agent asks wrong reaches no Vault role.
func TestRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 10*time.Minute)
	for _, tc := range []struct {
		name string
		req  credential.Request
		want error
	}{
		{"fail/unknown", credential.Request{Name: "nope"}, credential.ErrUnknown},
		{"fail/name-not-allowed", credential.Request{Name: "web-cert", CommonName: "evil.example.com"}, credential.ErrName},
		{"fail/alt-name-not-allowed", credential.Request{Name: "web-cert", CommonName: "a.test.internal", AltNames: []string{"localhost"}}, credential.ErrName},
		{"fail/no-common-name", credential.Request{Name: "web-cert"}, credential.ErrWrongInput},
		{"fail/key-for-a-certificate", credential.Request{Name: "web-cert", CommonName: "a.test.internal", PublicKey: "ssh-ed25519 AAAA"}, credential.ErrWrongInput},
		{"fail/not-a-key", credential.Request{Name: "ops-ssh", PublicKey: "not a key"}, credential.ErrPublicKey},
		{"fail/write-tier-under-read", credential.Request{Name: "admin-db"}, access.ErrWriteRequired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.svc.Issue(t.Context(), "p", tc.req); !errors.Is(err, tc.want) {
				t.Fatalf("Issue = %v, want %v", err, tc.want)
			}
		})
	}
	if len(f.grants.creds) != 0 {
		t.Errorf("refused requests recorded credentials: %+v", f.grants.creds)
	}
}

// TestGrantEndingSoon: a grant about to end issues nothing.
func TestGrantEndingSoon(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 40*time.Second)
	if _, err := f.svc.Issue(t.Context(), "p", credential.Request{Name: "web-cert", CommonName: "app.test.internal"}); !errors.Is(err, credential.ErrGrantEnding) {
		t.Fatalf("Issue = %v, want ErrGrantEnding", err)
	}
}

// agentKey is an agent's SSH public key.
func agentKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// waitGone waits until Vault no longer knows the lease.
func waitGone(t *testing.T, f *fixture, lease string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := f.vc.Write(t.Context(), f.root, "sys/leases/lookup", map[string]any{"lease_id": lease})
		if err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease %s still in Vault", lease)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stretching is a Vault that issues certificates for longer than asked, as
// a role's or a mount's settings might make it: past the grant's end, or
// (forever) an SSH certificate that never ends, signed here.
type stretching struct {
	*vault.Client
	forever bool
	leases  *[]string // of what Vault issued
}

func (s stretching) Write(ctx context.Context, tok sensitive.String, path string, data map[string]any) (*vault.Secret, error) {
	if _, ok := data["not_after"]; ok {
		data["not_after"] = time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	}
	if _, ok := data["ttl"]; ok {
		data["ttl"] = "2h"
	}
	if !s.forever {
		sec, err := s.Client.Write(ctx, tok, path, data)
		if err == nil && sec.LeaseID != "" {
			*s.leases = append(*s.leases, sec.LeaseID)
		}
		return sec, err
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(data["public_key"].(string)))
	if err != nil {
		return nil, err
	}
	_, caKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	ca, err := ssh.NewSignerFromKey(caKey)
	if err != nil {
		return nil, err
	}
	cert := &ssh.Certificate{Key: key, CertType: ssh.UserCert, ValidPrincipals: []string{"ops"}, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		return nil, err
	}
	return &vault.Secret{Data: map[string]any{"signed_key": string(ssh.MarshalAuthorizedKey(cert))}}, nil
}

// TestCertificatesThatOutliveTheGrantAreRefused: whatever Vault issued, a
// certificate that ends after its grant is not given; a leased one is
// revoked at once.
func TestCertificatesThatOutliveTheGrantAreRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 10*time.Minute)
	sshKey := string(ssh.MarshalAuthorizedKey(agentKey(t)))
	var leases []string
	for _, tc := range []struct {
		name    string
		forever bool
		req     credential.Request
	}{
		{"fail/pki-past-the-grant", false, credential.Request{Name: "web-cert", CommonName: "app.test.internal"}},
		{"fail/ssh-past-the-grant", false, credential.Request{Name: "ops-ssh", PublicKey: sshKey}},
		{"fail/ssh-forever", true, credential.Request{Name: "ops-ssh", PublicKey: sshKey}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := credential.New(credential.Options{Vault: stretching{Client: f.vc, forever: tc.forever, leases: &leases}, Access: f.grants, Specs: f.svc.Specs})
			if _, err := svc.Issue(t.Context(), "p", tc.req); !errors.Is(err, credential.ErrTooLong) {
				t.Fatalf("Issue = %v, want ErrTooLong", err)
			}
		})
	}
	if len(f.grants.creds) != 0 {
		t.Errorf("certificates past the grant were recorded: %+v", f.grants.creds)
	}
	// The PKI certificate was leased under the grant's token: the refusal
	// revoked it.
	if len(leases) != 1 {
		t.Fatalf("Vault issued leases %v, want the PKI certificate's", leases)
	}
	if _, err := f.vc.Write(t.Context(), f.root, "sys/leases/lookup", map[string]any{"lease_id": leases[0]}); err == nil {
		t.Errorf("the refused certificate's lease %s lives on", leases[0])
	}
}
