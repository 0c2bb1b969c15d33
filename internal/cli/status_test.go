package cli

import (
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStatusOrigins(t *testing.T) {
	tests := []struct {
		name   string
		public string
		scheme string
		addr   *net.TCPAddr
		want   []string
	}{
		{"ok/loopback", "", "http", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8445},
			[]string{"http://127.0.0.1:8445", "http://localhost:8445"}},
		{"ok/ipv6-loopback-tls", "", "https", &net.TCPAddr{IP: net.IPv6loopback, Port: 9000},
			[]string{"https://[::1]:9000", "https://localhost:9000"}},
		{"ok/public-url-only", "https://status.example:8445/", "https", &net.TCPAddr{IP: net.IPv4zero, Port: 8445},
			[]string{"https://status.example:8445"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, statusOrigins(tc.public, tc.scheme, tc.addr)); diff != "" {
				t.Errorf("origins (-want +got):\n%s", diff)
			}
		})
	}
}
