package config

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

func TestNeedsRestart(t *testing.T) {
	running := Default()
	running.VaultAddr = "https://vault.example:8200"
	running.VaultToken = sensitive.New("s.running")
	running.Agents = []Agent{{Name: "alice", Approver: ApproverDuo}, {Name: "bob"}}
	running.Auth.APIKeys = []APIKey{{ID: "k1", Agent: "alice", SHA256: "ab"}}
	running.FileSHA256 = "0a"

	tests := []struct {
		name   string
		change func(c *Config)
		want   []string
	}{
		{"ok/unchanged", func(*Config) {}, nil},
		{"ok/live settings", func(c *Config) {
			c.Agents = []Agent{{Name: "alice", Scopes: []string{"read"}, ReadTTL: time.Hour, Approver: ApproverDuo}, {Name: "carol"}}
			c.Auth.APIKeys = append(c.Auth.APIKeys, APIKey{ID: "k2", Agent: "carol", SHA256: "cd"})
			c.Auth.JWT.JWKSURL, c.Auth.JWT.Audience, c.Auth.JWT.Leeway = "https://idp.example/jwks", "other", time.Minute
			c.Auth.MTLS.SPIFFE = map[string]string{"spiffe://example/ci": "carol"}
			c.JWTSecret = sensitive.New("another-secret-of-at-least-32-bytes")
			c.Limits.Rate.PerMinute = 5
			c.Reveal.Rules = []RevealRule{{Pattern: "prod/**"}}
			c.FileSHA256 = "0b"
			c.VaultToken = sensitive.String{} // a login's token is not in the file
		}, nil},
		{"fail/listeners and Vault", func(c *Config) {
			c.HTTP.Listen = "127.0.0.1:9000"
			c.HTTP.TLSCertFile = "other.pem"
			c.VaultAddr = "https://other.example:8200"
			c.Approval.Strategy = StrategyBrokered
		}, []string{"vault_addr", "http.listen", "http.tls_cert_file", "approval.strategy"}},
		{"fail/audit sinks and secrets", func(c *Config) {
			c.AuditFile = "other.jsonl"
			c.Audit.Key = sensitive.New("another key")
			c.Status.OperatorToken = sensitive.New("another token")
		}, []string{"audit_file", "GATEKEEPER_AUDIT_KEY", "GATEKEEPER_OPERATOR_TOKEN"}},
		{"fail/oidc issuer", func(c *Config) { c.Auth.JWT.OIDCIssuer = "https://idp.example" }, []string{"auth.jwt.oidc_issuer"}},
		{"fail/new approver", func(c *Config) {
			c.Agents = append(c.Agents, Agent{Name: "carol", Approver: ApproverPasskey})
		}, []string{"agents[].approver passkey"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := running
			next.Agents = append([]Agent(nil), running.Agents...)
			next.Auth.APIKeys = append([]APIKey(nil), running.Auth.APIKeys...)
			tt.change(&next)
			if diff := cmp.Diff(tt.want, NeedsRestart(running, next)); diff != "" {
				t.Errorf("NeedsRestart (-want +got):\n%s", diff)
			}
		})
	}
}
