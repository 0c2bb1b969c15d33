package egress

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		name, in, origin, str string
	}{
		{"ok/plain", "https://api.github.com/repos/acme/x?page=2", "https://api.github.com:443", "https://api.github.com/repos/acme/x?page=2"},
		{"ok/no-path", "https://api.github.com", "https://api.github.com:443", "https://api.github.com/"},
		{"ok/upper-case-host-and-scheme", "HTTPS://API.GitHub.com/x", "https://api.github.com:443", "https://api.github.com/x"},
		{"ok/http-port", "http://h.example:8080/", "http://h.example:8080", "http://h.example:8080/"},
		{"ok/ipv4", "http://192.0.2.1/", "http://192.0.2.1:80", "http://192.0.2.1/"},
		{"ok/ipv6", "https://[2001:db8::1]:8443/x", "https://[2001:db8::1]:8443", "https://[2001:db8::1]:8443/x"},
		{"ok/punycode", "https://xn--bcher-kva.example/", "https://xn--bcher-kva.example:443", "https://xn--bcher-kva.example/"},
		{"ok/escapes", "https://h.example/a%2Fb/c%20d?x=%2B+y&z", "https://h.example:443", "https://h.example/a%2Fb/c%20d?x=%2B+y&z"},
		{"ok/trailing-slash", "https://h.example/a/", "https://h.example:443", "https://h.example/a/"},
		{"ok/dots-inside-segment", "https://h.example/a..b/.c", "https://h.example:443", "https://h.example/a..b/.c"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTarget(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got.origin() != tc.origin || got.String() != tc.str {
				t.Errorf("parseTarget(%q) = %s, %s; want %s, %s", tc.in, got.origin(), got.String(), tc.origin, tc.str)
			}
		})
	}
}

// Errors about a URL never quote its path or query, which may hold a
// substituted secret.
func TestParseTargetErrorsHidePathAndQuery(t *testing.T) {
	const secret = "s3cr3t-value"
	for _, in := range []string{
		"https://h.example/" + secret + "/../x",
		"https://h.example/" + secret + "%zz",
		"https://h.example/" + secret + "%0a",
		"https://h.example/x?" + secret + "=%00",
		"https://h.example/x?" + secret + "<",
		"https://h.example/" + secret + " x",
		"https://h.example/x#" + secret,
	} {
		_, err := parseTarget(in)
		if !errors.Is(err, ErrInvalidURL) {
			t.Fatalf("parseTarget(%q) = %v", in, err)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("parseTarget(%q): error %q quotes the path or query", in, err)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		addr string
		want reach
	}{
		{"93.184.216.34", public},
		{"2606:2800:220:1:248:1893:25c8:1946", public},
		{"8.8.8.8", public},
		{"127.0.0.1", private},
		{"127.255.255.254", private},
		{"::1", private},
		{"10.0.0.1", private},
		{"172.31.255.255", private},
		{"172.32.0.1", public},
		{"192.168.0.1", private},
		{"100.64.0.1", private},
		{"100.127.255.255", private},
		{"100.128.0.1", public},
		{"169.254.1.1", private},
		{"fe80::1", private},
		{"fc00::1", private},
		{"fd12::1", private},
		{"169.254.169.254", never},
		{"169.254.170.2", never},
		{"100.100.100.200", never},
		{"fd00:ec2::254", never},
		{"0.0.0.0", never},
		{"0.1.2.3", never},
		{"::", never},
		{"224.0.0.1", never},
		{"ff02::1", never},
		{"255.255.255.255", never},
		{"::ffff:127.0.0.1", private},
		{"::ffff:169.254.169.254", never},
		{"::ffff:8.8.8.8", public},
		{"::127.0.0.1", private},
		{"::8.8.8.8", never},
		{"64:ff9b::a9fe:a9fe", never},
		{"64:ff9b::808:808", public},
		{"64:ff9b:1::a00:1", private},
		{"2002:7f00:1::", private},
		{"2002:a9fe:a9fe::", never},
		{"2002:808:808::", public},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", never},
		{"fe80::1%eth0", private},
	}
	for _, tc := range tests {
		if got, what := classify(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("classify(%s) = %v (%s), want %v", tc.addr, got, what, tc.want)
		}
	}
}
