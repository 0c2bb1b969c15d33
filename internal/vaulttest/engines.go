package vaulttest

import (
	"testing"

	"github.com/gatekeeper-mcp/gatekeeper/internal/devvault"
)

// PKIRole is a role of a test PKI engine.
type PKIRole struct {
	Name string
	// Domain the role's certificates may name, and names under it.
	Domain string
	MaxTTL string // default 24h
}

// EnablePKI mounts a PKI engine at mount with a fresh root CA and the
// roles, each of which issues leased certificates (generate_lease), so
// that Vault revokes a certificate with the token that asked for it.
func EnablePKI(t testing.TB, srv *devvault.Server, mount string, roles ...PKIRole) {
	t.Helper()
	vc, root := Client(t, srv), Root(srv)
	ctx := t.Context()
	if _, err := vc.Write(ctx, root, "sys/mounts/"+mount, map[string]any{"type": "pki", "config": map[string]any{"max_lease_ttl": "87600h"}}); err != nil {
		t.Fatalf("enabling pki at %s: %v", mount, err)
	}
	if _, err := vc.Write(ctx, root, mount+"/root/generate/internal", map[string]any{"common_name": "Gatekeeper test CA", "ttl": "87600h"}); err != nil {
		t.Fatalf("generating the test CA: %v", err)
	}
	for _, r := range roles {
		maxTTL := r.MaxTTL
		if maxTTL == "" {
			maxTTL = "24h"
		}
		if _, err := vc.Write(ctx, root, mount+"/roles/"+r.Name, map[string]any{
			"allowed_domains": r.Domain, "allow_subdomains": true, "allow_bare_domains": true,
			"max_ttl": maxTTL, "generate_lease": true, "key_type": "ec", "key_bits": 256,
		}); err != nil {
			t.Fatalf("writing pki role %s: %v", r.Name, err)
		}
	}
}

// SSHRole is a role of a test SSH CA.
type SSHRole struct {
	Name        string
	DefaultUser string
	MaxTTL      string // default 24h
}

// EnableSSH mounts an SSH engine at mount as a certificate authority with
// the roles, each signing user certificates.
func EnableSSH(t testing.TB, srv *devvault.Server, mount string, roles ...SSHRole) {
	t.Helper()
	vc, root := Client(t, srv), Root(srv)
	ctx := t.Context()
	if _, err := vc.Write(ctx, root, "sys/mounts/"+mount, map[string]any{"type": "ssh"}); err != nil {
		t.Fatalf("enabling ssh at %s: %v", mount, err)
	}
	if _, err := vc.Write(ctx, root, mount+"/config/ca", map[string]any{"generate_signing_key": true, "key_type": "ssh-ed25519"}); err != nil {
		t.Fatalf("generating the test SSH CA: %v", err)
	}
	for _, r := range roles {
		maxTTL := r.MaxTTL
		if maxTTL == "" {
			maxTTL = "24h"
		}
		if _, err := vc.Write(ctx, root, mount+"/roles/"+r.Name, map[string]any{
			"key_type": "ca", "allow_user_certificates": true, "allowed_users": r.DefaultUser, "default_user": r.DefaultUser,
			"ttl": "1h", "max_ttl": maxTTL,
		}); err != nil {
			t.Fatalf("writing ssh role %s: %v", r.Name, err)
		}
	}
}
