package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const operatorToken = "op-0123456789abcdef0123456789abcdef"

// httpBase is an HTTP-mode configuration that validates.
var httpBase = append(base[:len(base):len(base)], "GATEKEEPER_HTTP_ADDR=127.0.0.1:8443", "GATEKEEPER_AGENTS=ci",
	"GATEKEEPER_JWT_SECRET=0123456789abcdef0123456789abcdef")

func TestStatusPage(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "operator")
	if err := os.WriteFile(tokenFile, []byte(operatorToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     []string
		file    string
		enabled bool
		want    string // an error containing this; "" for none
	}{
		{name: "ok/off-without-token", env: httpBase},
		{name: "ok/env-token", env: append(httpBase, "GATEKEEPER_OPERATOR_TOKEN="+operatorToken), enabled: true},
		{name: "ok/token-file", env: httpBase, file: "status:\n  operator_token_file: " + tokenFile + "\n", enabled: true},
		{name: "ok/stdio-ignores-it", env: append(base, "GATEKEEPER_OPERATOR_TOKEN="+operatorToken)},
		{name: "ok/off-loopback-with-tls", env: append(httpBase, "GATEKEEPER_OPERATOR_TOKEN="+operatorToken, "GATEKEEPER_STATUS_ADDR=0.0.0.0:8445"),
			file: "status:\n  tls_cert_file: c.pem\n  tls_key_file: k.pem\n  public_url: https://status.example:8445\n", enabled: true},
		{name: "fail/short-token", env: append(httpBase, "GATEKEEPER_OPERATOR_TOKEN=short"), enabled: true, want: "at least 32 bytes"},
		{name: "fail/short-token-stdio", env: append(base, "GATEKEEPER_OPERATOR_TOKEN=short"), want: "at least 32 bytes"},
		{name: "fail/off-loopback-without-tls", env: append(httpBase, "GATEKEEPER_OPERATOR_TOKEN="+operatorToken, "GATEKEEPER_STATUS_ADDR=0.0.0.0:8445"),
			enabled: true, want: "off loopback"},
		{name: "fail/off-loopback-without-public-url", env: append(httpBase, "GATEKEEPER_OPERATOR_TOKEN="+operatorToken, "GATEKEEPER_STATUS_ADDR=0.0.0.0:8445"),
			file: "status:\n  tls_cert_file: c.pem\n  tls_key_file: k.pem\n", enabled: true, want: "off loopback"},
		{name: "fail/not-host-port", env: append(httpBase, "GATEKEEPER_OPERATOR_TOKEN="+operatorToken, "GATEKEEPER_STATUS_ADDR=status.example"),
			enabled: true, want: "is not host:port"},
		{name: "fail/half-tls", env: append(httpBase, "GATEKEEPER_OPERATOR_TOKEN="+operatorToken),
			file: "status:\n  tls_cert_file: c.pem\n", enabled: true, want: "both a certificate and a key"},
		{name: "fail/plain-public-url-with-tls", env: append(httpBase, "GATEKEEPER_OPERATOR_TOKEN="+operatorToken),
			file: "status:\n  tls_cert_file: c.pem\n  tls_key_file: k.pem\n  public_url: http://status.example\n", enabled: true, want: "must be https"},
		{name: "fail/public-url-with-path", env: append(httpBase, "GATEKEEPER_OPERATOR_TOKEN="+operatorToken),
			file: "status:\n  public_url: http://localhost:8445/status\n", enabled: true, want: "is not an http(s) origin"},
		{name: "fail/session-ttl", env: append(httpBase, "GATEKEEPER_OPERATOR_TOKEN="+operatorToken),
			file: "status:\n  session_ttl: 48h\n", enabled: true, want: "status.session_ttl"},
		{name: "fail/unknown-key", env: httpBase, file: "status:\n  operator_token: plain-text-is-refused\n", want: "operator_token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadChecked(t, tc.env, tc.file)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("configuration refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), operatorToken):
				t.Fatalf("the error shows the operator token: %v", err)
			}
			if c.StatusEnabled() != tc.enabled {
				t.Errorf("StatusEnabled() = %v, want %v", c.StatusEnabled(), tc.enabled)
			}
			if tc.want == "" && tc.enabled && c.Status.OperatorToken.Reveal() != operatorToken {
				t.Errorf("operator token not read (trimmed) from its source")
			}
		})
	}
}

func TestStatusDefaults(t *testing.T) {
	c := Default()
	if c.Status.Listen != "127.0.0.1:8445" || c.Status.SessionTTL != time.Hour {
		t.Errorf("status defaults = %+v", c.Status)
	}
}
