package config

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestDocsExampleTrustsSingleProxies: the example in docs/config.md is what
// operators copy. A trusted proxy may name any agent in its header, so the
// example trusts one address, not a range that holds other hosts.
func TestDocsExampleTrustsSingleProxies(t *testing.T) {
	b, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```yaml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/config.md has no yaml example")
	}
	var doc struct {
		Auth struct {
			MTLS struct {
				TrustedProxies []string `yaml:"trusted_proxies"`
			} `yaml:"mtls"`
		} `yaml:"auth"`
	}
	if err := yaml.Unmarshal([]byte(example), &doc); err != nil {
		t.Fatalf("the example does not parse: %v", err)
	}
	proxies := doc.Auth.MTLS.TrustedProxies
	if len(proxies) == 0 {
		t.Fatal("the example shows no auth.mtls.trusted_proxies")
	}
	for _, s := range proxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			t.Errorf("trusted proxy %q: %v", s, err)
			continue
		}
		if !p.IsSingleIP() {
			t.Errorf("the example trusts %s, a range of addresses; it must name the proxy's own address", s)
		}
	}
}
