package config

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testAuditKey is base64 of 32 bytes.
const testAuditKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

func TestAuditFromFileAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "audit.key")
	authFile := filepath.Join(dir, "collector.auth")
	for p, body := range map[string]string{keyFile: testAuditKey + "\n", authFile: "Bearer collector-token\n"} {
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	body := `audit_file: ` + filepath.Join(dir, "audit.jsonl") + `
audit:
  key_file: ` + keyFile + `
  max_file_bytes: 10485760
  on_failure: continue
  stderr: true
  syslog: {network: tcp, address: "logs.example:601"}
  http:
    url: https://collector.example/in
    timeout: 2s
    authorization_file: ` + authFile + `
`
	p := writeFile(t, body)
	c, err := Load(base, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	a := c.Audit
	got := []any{a.Key.Reveal(), a.MaxFileBytes, a.OnFailure, a.Stderr, a.Syslog, a.HTTP.URL, a.HTTP.Timeout, a.HTTP.Authorization.Reveal()}
	want := []any{testAuditKey, int64(10485760), "continue", true, AuditSyslog{Network: "tcp", Address: "logs.example:601", Tag: "gatekeeper"},
		"https://collector.example/in", 2 * time.Second, "Bearer collector-token"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit settings (-want +got):\n%s", diff)
	}
	sum := sha256.Sum256([]byte(body))
	if c.FileSHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("FileSHA256 = %q, want the file's digest", c.FileSHA256)
	}

	// The environment wins over the file.
	c, err = Load(append(base, "GATEKEEPER_AUDIT_SYSLOG=unixgram:///run/log.sock", "GATEKEEPER_AUDIT_ON_FAILURE=refuse",
		"GATEKEEPER_AUDIT_MAX_FILE_BYTES=4096", "GATEKEEPER_AUDIT_HTTP_URL=http://127.0.0.1:9/in"), p)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Audit.Syslog.Network != "unixgram" || c.Audit.Syslog.Address != "/run/log.sock" || c.Audit.OnFailure != "refuse" || c.Audit.MaxFileBytes != 4096 || c.Audit.HTTP.URL != "http://127.0.0.1:9/in" {
		t.Errorf("environment not applied: %+v", c.Audit)
	}
	c, err = Load(append(base, "GATEKEEPER_AUDIT_SYSLOG=local"), "")
	if err != nil || c.Validate() != nil || c.Audit.Syslog.Network != "local" {
		t.Errorf("GATEKEEPER_AUDIT_SYSLOG=local: %+v, %v", c.Audit.Syslog, err)
	}
}

func TestAuditDefaultsNeedNoKey(t *testing.T) {
	c, err := Load(base, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("stderr audit without a key: %v", err)
	}
	if c.Audit.OnFailure != AuditRefuse || c.FileSHA256 != "" {
		t.Errorf("defaults = %+v, %q", c.Audit, c.FileSHA256)
	}
}

// TestAuditProblemsAllAtOnce: config check lists every bad audit value.
func TestAuditProblemsAllAtOnce(t *testing.T) {
	p := writeFile(t, `
audit_file: /var/log/gatekeeper/audit.jsonl
audit:
  max_file_bytes: 100
  on_failure: ignore
  syslog: {network: carrier-pigeon, tag: "two words"}
  http: {url: "http://user:pw@collector.example/in?token=QUERYSECRET", timeout: 5m}
`)
	c, parseErr := Load(append(base, "GATEKEEPER_AUDIT_MAX_FILE_BYTES=lots"), p)
	msgs := ""
	if parseErr != nil {
		msgs += parseErr.Error() + "\n"
	}
	if err := c.Validate(); err != nil {
		msgs += err.Error()
	}
	for _, want := range []string{
		"GATEKEEPER_AUDIT_MAX_FILE_BYTES",
		`audit.on_failure (GATEKEEPER_AUDIT_ON_FAILURE) "ignore" is not refuse or continue`,
		"needs a key in GATEKEEPER_AUDIT_KEY or audit.key_file (make one with: head -c 32 /dev/urandom | base64",
		"audit.max_file_bytes must be at least 4096",
		`audit.syslog.network "carrier-pigeon"`,
		`audit.syslog.tag "two words"`,
		"audit.http.url (GATEKEEPER_AUDIT_HTTP_URL)",
		"audit.http.timeout",
	} {
		if !strings.Contains(msgs, want) {
			t.Errorf("problems lack %q:\n%s", want, msgs)
		}
	}
	for _, secret := range []string{"QUERYSECRET", "pw@"} {
		if strings.Contains(msgs, secret) {
			t.Errorf("problems show the URL's credentials (%s):\n%s", secret, msgs)
		}
	}
}

func TestAuditValidation(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want string // "" means valid
	}{
		{"ok/file-with-key", []string{"GATEKEEPER_AUDIT_FILE=/var/log/a.jsonl", "GATEKEEPER_AUDIT_KEY=" + testAuditKey}, ""},
		{"ok/udp-syslog", []string{"GATEKEEPER_AUDIT_SYSLOG=udp://127.0.0.1:514"}, ""},
		{"fail/short-key", []string{"GATEKEEPER_AUDIT_FILE=/a.jsonl", "GATEKEEPER_AUDIT_KEY=c2hvcnQ="}, "at least 32"},
		{"fail/key-not-base64", []string{"GATEKEEPER_AUDIT_KEY=not base64 at all!"}, "not base64"},
		{"fail/negative-size", []string{"GATEKEEPER_AUDIT_MAX_FILE_BYTES=-1"}, "must not be negative"},
		{"fail/rotation-without-file", []string{"GATEKEEPER_AUDIT_MAX_FILE_BYTES=1048576"}, "set audit_file"},
		{"fail/syslog-not-url", []string{"GATEKEEPER_AUDIT_SYSLOG=::"}, "GATEKEEPER_AUDIT_SYSLOG"},
		{"fail/syslog-no-port", []string{"GATEKEEPER_AUDIT_SYSLOG=udp://logs.example"}, "is not host:port"},
		{"fail/syslog-relative-socket", []string{"GATEKEEPER_AUDIT_SYSLOG=unix:log.sock"}, "absolute socket path"},
		{"fail/http-plain-off-loopback", []string{"GATEKEEPER_AUDIT_HTTP_URL=http://collector.example/in"}, "must be an https URL"},
		{"fail/http-unparsable", []string{"GATEKEEPER_AUDIT_HTTP_URL=https://%zz"}, "must be an https URL"},
		{"fail/http-credentials", []string{"GATEKEEPER_AUDIT_HTTP_URL=https://u:p@collector.example/in"}, "must not carry credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(append(base, tt.env...), "")
			if err == nil {
				err = c.Validate()
			}
			if tt.want == "" {
				if err != nil {
					t.Errorf("got %v, want valid", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error with %q", err, tt.want)
			}
			if strings.Contains(fmtErr(err), "c2hvcnQ=") {
				t.Errorf("the key text is in the error: %v", err)
			}
		})
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestAuditKeyFileUnreadable(t *testing.T) {
	p := writeFile(t, "audit:\n  key_file: "+filepath.Join(t.TempDir(), "missing.key")+"\n")
	if _, err := Load(base, p); err == nil || !strings.Contains(err.Error(), "audit.key_file") {
		t.Errorf("Load = %v, want an error naming audit.key_file", err)
	}
}
