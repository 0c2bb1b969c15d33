package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var base = []string{"VAULT_ADDR=https://vault.example:8200", "VAULT_TOKEN=s.bootstrap", "PATH=/usr/bin"}

func TestDefaults(t *testing.T) {
	c, err := FromEnv(base)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	got := []any{c.VaultAddr, c.VaultToken.Reveal(), c.KVMount, c.Prefix, c.ReadTTL, c.WriteTTL, c.ApprovalTimeout, c.AuditFile}
	want := []any{"https://vault.example:8200", "s.bootstrap", "secret", "agent", 4 * time.Hour, 15 * time.Minute, 2 * time.Minute, ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestOverrides(t *testing.T) {
	c, err := FromEnv(append(base, "GATEKEEPER_KV_MOUNT=kv", "GATEKEEPER_PREFIX=bots/ci", "GATEKEEPER_READ_TTL=1h",
		"GATEKEEPER_WRITE_TTL=90s", "GATEKEEPER_APPROVAL_TIMEOUT=45s", "GATEKEEPER_AUDIT_FILE=/tmp/a.log", "GATEKEEPER_LOG_LEVEL=debug"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.KVMount != "kv" || c.Prefix != "bots/ci" || c.ReadTTL != time.Hour || c.WriteTTL != 90*time.Second || c.ApprovalTimeout != 45*time.Second || c.AuditFile != "/tmp/a.log" {
		t.Errorf("overrides not applied: %+v", c)
	}
}

func TestEveryProblemAtOnce(t *testing.T) {
	env := []string{
		"VAULT_ADDR=vault.example", // no scheme
		"GATEKEEPER_PREFIX=../x",
		"GATEKEEPER_KV_MOUNT=/secret",
		"GATEKEEPER_READ_TTL=forever",
		"GATEKEEPER_WRITE_TTL=1500ms",
		"GATEKEEPER_APROVAL_TIMEOUT=1m", // typo
		"GATEKEEPER_LOG_LEVEL=loud",
	}
	c, parseErr := FromEnv(env)
	valErr := c.Validate()
	var msgs string
	if parseErr != nil {
		msgs += parseErr.Error()
	}
	if valErr != nil {
		msgs += valErr.Error()
	}
	for _, want := range []string{
		"GATEKEEPER_APROVAL_TIMEOUT is not a Gatekeeper setting",
		"GATEKEEPER_READ_TTL",
		"GATEKEEPER_LOG_LEVEL",
		"VAULT_ADDR \"vault.example\" is not an http(s) URL",
		"VAULT_TOKEN is required",
		"GATEKEEPER_PREFIX",
		"GATEKEEPER_KV_MOUNT",
		"GATEKEEPER_WRITE_TTL must be a whole number of seconds",
	} {
		if !strings.Contains(msgs, want) {
			t.Errorf("errors lack %q:\n%s", want, msgs)
		}
	}
}

func TestPrefixMayNotOverlapOwnFolder(t *testing.T) {
	for _, p := range []string{"gatekeeper", "gatekeeper/tier"} {
		c, err := FromEnv(append(base, "GATEKEEPER_PREFIX="+p))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "overlaps") {
			t.Errorf("prefix %q: Validate() = %v, want an overlap error", p, err)
		}
	}
}

func TestTokenNeverInErrors(t *testing.T) {
	c, _ := FromEnv([]string{"VAULT_TOKEN=hvs.very-secret", "VAULT_ADDR=bad"})
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), "very-secret") {
		t.Errorf("Validate() = %v", err)
	}
}
