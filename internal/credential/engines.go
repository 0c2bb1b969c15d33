package credential

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gatekeeper-mcp/gatekeeper/internal/access"
	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
	"github.com/gatekeeper-mcp/gatekeeper/internal/setup"
)

// Fields are what each engine's credential holds, in the order shown.
var Fields = map[string][]string{
	setup.EngineDatabase: {"username", "password"},
	setup.EnginePKI:      {"certificate", "private_key", "private_key_type", "issuing_ca", "ca_chain", "serial_number"},
	setup.EngineSSH:      {"signed_key", "serial_number"},
}

// Bounds of what the agent sends.
const (
	maxAltNames  = 10
	maxPublicKey = 16 << 10
)

// ErrTooLong: Vault issued a credential that would outlive its grant (the
// role's settings allow no shorter one); it was given back.
var ErrTooLong = fmt.Errorf("%w: a credential", access.ErrTokenTooLong)

// body checks what the agent sent for spec and turns it into the request
// to Vault, without the lifetime (which depends on the grant).
func (s *Service) body(spec Spec, req Request) (map[string]any, error) {
	switch spec.Engine {
	case setup.EngineDatabase:
		if req.CommonName != "" || len(req.AltNames) > 0 || req.PublicKey != "" {
			return nil, fmt.Errorf("%w: %s is a database login and takes no common_name, alt_names or public_key", ErrWrongInput, spec.Name)
		}
		return nil, nil
	case setup.EnginePKI:
		if req.PublicKey != "" {
			return nil, fmt.Errorf("%w: %s is a certificate and takes no public_key", ErrWrongInput, spec.Name)
		}
		if req.CommonName == "" {
			return nil, fmt.Errorf("%w: %s needs common_name", ErrWrongInput, spec.Name)
		}
		if len(req.AltNames) > maxAltNames {
			return nil, fmt.Errorf("%w: at most %d alt_names", ErrWrongInput, maxAltNames)
		}
		for _, n := range append([]string{req.CommonName}, req.AltNames...) {
			if spec.AllowsName == nil || !spec.AllowsName(n) {
				return nil, fmt.Errorf("%w: %q is not one of the names %s may carry", ErrName, n, spec.Name)
			}
		}
		body := map[string]any{"common_name": strings.ToLower(req.CommonName), "format": "pem"}
		if len(req.AltNames) > 0 {
			body["alt_names"] = strings.ToLower(strings.Join(req.AltNames, ","))
		}
		return body, nil
	case setup.EngineSSH:
		if req.CommonName != "" || len(req.AltNames) > 0 {
			return nil, fmt.Errorf("%w: %s signs an SSH key and takes no common_name or alt_names", ErrWrongInput, spec.Name)
		}
		if len(req.PublicKey) > maxPublicKey {
			return nil, fmt.Errorf("%w: the public key is longer than %d bytes", ErrPublicKey, maxPublicKey)
		}
		key, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(req.PublicKey))
		if err != nil || strings.TrimSpace(string(rest)) != "" {
			return nil, fmt.Errorf("%w: give one public key in authorized_keys format (ssh-ed25519 AAAA…)", ErrPublicKey)
		}
		if _, isCert := key.(*ssh.Certificate); isCert {
			return nil, fmt.Errorf("%w: give the public key, not a certificate", ErrPublicKey)
		}
		return map[string]any{"public_key": strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))), "cert_type": "user"}, nil
	}
	return nil, fmt.Errorf("%w: engine %q", ErrUnknown, spec.Engine)
}

// database reads a login from MOUNT/creds/ROLE. Its lease follows the
// role's TTL; if that outlives the grant, the lease is renewed down to
// the grant's end (and the login's VALID UNTIL with it).
func (s *Service) database(ctx context.Context, g *access.Grant, spec Spec, now time.Time) (access.Credential, error) {
	sec, err := s.opts.Vault.Read(ctx, g.Token, spec.role().Path())
	if err != nil {
		return access.Credential{}, fmt.Errorf("issuing %s: %w", spec.Name, err)
	}
	c := access.Credential{Name: spec.Name, Engine: spec.Engine, LeaseID: sec.LeaseID, IssuedAt: now}
	c.Values = values(sec.Data, Fields[spec.Engine])
	if sec.LeaseID == "" || c.Values["password"].IsZero() {
		return access.Credential{}, fmt.Errorf("issuing %s: Vault returned no leased login", spec.Name)
	}
	c.ExpiresAt = now.Add(time.Duration(sec.LeaseDuration) * time.Second)
	if c.ExpiresAt.After(g.ExpiresAt) {
		ttl, err := s.opts.Vault.RenewLease(ctx, g.Token, sec.LeaseID, g.ExpiresAt.Sub(now)-time.Second)
		if err != nil || ttl <= 0 || now.Add(ttl).After(g.ExpiresAt) {
			s.giveBack(ctx, g, c)
			return access.Credential{}, fmt.Errorf("%w: %s's lease could not be cut to the grant's end; set the role's default_ttl below the %s grant", ErrTooLong, spec.Name, spec.Tier)
		}
		c.ExpiresAt = now.Add(ttl)
	}
	return c, nil
}

// pki issues a certificate from MOUNT/issue/ROLE whose NotAfter is the
// grant's end at the latest, and checks that it is.
func (s *Service) pki(ctx context.Context, g *access.Grant, spec Spec, now time.Time, body map[string]any) (access.Credential, error) {
	body["not_after"] = g.ExpiresAt.UTC().Truncate(time.Second).Format(time.RFC3339)
	sec, err := s.opts.Vault.Write(ctx, g.Token, spec.role().Path(), body)
	if err != nil {
		return access.Credential{}, fmt.Errorf("issuing %s: %w", spec.Name, err)
	}
	if sec == nil {
		return access.Credential{}, fmt.Errorf("issuing %s: Vault returned no certificate", spec.Name)
	}
	if chain, ok := sec.Data["ca_chain"].([]any); ok {
		var parts []string
		for _, c := range chain {
			if s, ok := c.(string); ok {
				parts = append(parts, s)
			}
		}
		sec.Data["ca_chain"] = strings.Join(parts, "\n")
	}
	c := access.Credential{Name: spec.Name, Engine: spec.Engine, LeaseID: sec.LeaseID, IssuedAt: now}
	c.Values = values(sec.Data, Fields[spec.Engine])
	block, _ := pem.Decode([]byte(c.Values["certificate"].Reveal()))
	if block == nil {
		s.giveBack(ctx, g, c)
		return access.Credential{}, fmt.Errorf("issuing %s: Vault returned no PEM certificate", spec.Name)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		s.giveBack(ctx, g, c)
		return access.Credential{}, fmt.Errorf("issuing %s: the certificate does not parse", spec.Name)
	}
	if cert.NotAfter.After(g.ExpiresAt) {
		s.giveBack(ctx, g, c)
		return access.Credential{}, fmt.Errorf("%w: %s's certificate ends after the grant", ErrTooLong, spec.Name)
	}
	c.ExpiresAt = cert.NotAfter
	return c, nil
}

// sshSkew is kept between an SSH certificate's end and its grant's: Vault
// stamps ValidBefore from its own clock.
const sshSkew = 5 * time.Second

// ssh signs the agent's public key with MOUNT/sign/ROLE for a TTL that
// ends before the grant, and checks the certificate's ValidBefore. It has
// no lease: it cannot be revoked, only expire.
func (s *Service) ssh(ctx context.Context, g *access.Grant, spec Spec, now time.Time, body map[string]any, left time.Duration) (access.Credential, error) {
	body["ttl"] = fmt.Sprintf("%ds", int64((left - sshSkew).Seconds()))
	sec, err := s.opts.Vault.Write(ctx, g.Token, spec.role().Path(), body)
	if err != nil {
		return access.Credential{}, fmt.Errorf("issuing %s: %w", spec.Name, err)
	}
	if sec == nil {
		return access.Credential{}, fmt.Errorf("issuing %s: Vault returned no signed key", spec.Name)
	}
	c := access.Credential{Name: spec.Name, Engine: spec.Engine, IssuedAt: now}
	c.Values = values(sec.Data, Fields[spec.Engine])
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(c.Values["signed_key"].Reveal()))
	cert, ok := key.(*ssh.Certificate)
	if err != nil || !ok {
		return access.Credential{}, fmt.Errorf("issuing %s: Vault returned no SSH certificate", spec.Name)
	}
	if cert.ValidBefore > math.MaxInt64 { // ssh.CertTimeInfinity among them
		return access.Credential{}, fmt.Errorf("%w: %s's certificate never ends (it cannot be revoked: check the role's max_ttl)", ErrTooLong, spec.Name)
	}
	c.ExpiresAt = time.Unix(int64(cert.ValidBefore), 0)
	if c.ExpiresAt.After(g.ExpiresAt) {
		return access.Credential{}, fmt.Errorf("%w: %s's certificate ends after the grant (it cannot be revoked: check the role's max_ttl)", ErrTooLong, spec.Name)
	}
	return c, nil
}

// values takes the fields a credential holds out of Vault's answer.
func values(data map[string]any, fields []string) map[string]sensitive.String {
	out := make(map[string]sensitive.String, len(fields))
	for _, f := range fields {
		switch v := data[f].(type) {
		case string:
			out[f] = sensitive.New(v)
		case nil:
		default:
			out[f] = sensitive.New(fmt.Sprint(v))
		}
	}
	return out
}
