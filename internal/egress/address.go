package egress

import (
	"net/netip"
)

// reach says who may connect to an address.
type reach int

const (
	public  reach = iota // any allowed destination
	private              // only a destination with allow_private
	never                // no destination at all
)

type addrRange struct {
	prefix netip.Prefix
	reach  reach
	what   string
}

func rng(cidr string, rc reach, what string) addrRange {
	return addrRange{netip.MustParsePrefix(cidr), rc, what}
}

// ranges are checked in order; the first that contains an address decides.
// allow_private opens what an operator's own network legitimately holds
// (loopback for tests and sidecars, RFC 1918, ULA, CGNAT, link-local); it
// never opens the cloud metadata services, "this host", multicast or
// reserved space, which no agent's request has a reason to reach.
var ranges = []addrRange{
	// Cloud metadata services: first, so no wider range decides for them.
	rng("169.254.169.254/32", never, "a cloud metadata address"),
	rng("169.254.170.2/32", never, "a cloud metadata address"), // ECS task metadata
	rng("100.100.100.200/32", never, "a cloud metadata address"),
	rng("fd00:ec2::254/128", never, "a cloud metadata address"),
	rng("0.0.0.0/8", never, "an unspecified (this-host) address"),
	rng("::/128", never, "an unspecified address"),
	rng("224.0.0.0/4", never, "a multicast address"),
	rng("ff00::/8", never, "a multicast address"),
	rng("240.0.0.0/4", never, "a reserved or broadcast address"),

	rng("127.0.0.0/8", private, "a loopback address"),
	rng("::1/128", private, "a loopback address"),
	rng("10.0.0.0/8", private, "a private address"),
	rng("172.16.0.0/12", private, "a private address"),
	rng("192.168.0.0/16", private, "a private address"),
	rng("fc00::/7", private, "a private (unique local) address"),
	rng("100.64.0.0/10", private, "a shared (CGNAT) address"),
	rng("169.254.0.0/16", private, "a link-local address"),
	rng("fe80::/10", private, "a link-local address"),
	rng("fec0::/10", private, "a site-local address"),
	rng("192.0.0.0/24", private, "an IETF protocol address"),
	rng("198.18.0.0/15", private, "a benchmarking address"),
	rng("192.0.2.0/24", private, "a documentation address"),
	rng("198.51.100.0/24", private, "a documentation address"),
	rng("203.0.113.0/24", private, "a documentation address"),
	rng("2001:db8::/32", private, "a documentation address"),
	rng("100::/64", private, "a discard address"),
}

// classify says who may connect to a and, when not everyone, why. IPv6
// spellings of an IPv4 address (mapped ::ffff:a.b.c.d, compatible
// ::a.b.c.d, NAT64 64:ff9b::a.b.c.d, 6to4 2002:AABB:CCDD::) are judged as
// that IPv4 address; Teredo, which hides one, is refused.
func classify(a netip.Addr) (reach, string) {
	a = a.WithZone("")
	if v4, how, ok := embeddedV4(a); ok {
		rc, what := classify(v4)
		if rc == public && how == "IPv4-compatible" {
			return never, "a deprecated IPv4-compatible IPv6 address"
		}
		if rc != public {
			return rc, what + " (written as " + how + " IPv6)"
		}
		return public, ""
	}
	if teredo.Contains(a) {
		return never, "a Teredo address"
	}
	for _, rg := range ranges {
		if rg.prefix.Contains(a) {
			return rg.reach, rg.what
		}
	}
	return public, ""
}

var (
	compatible = netip.MustParsePrefix("::/96")
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour  = netip.MustParsePrefix("2002::/16")
	teredo     = netip.MustParsePrefix("2001::/32")
)

// embeddedV4 returns the IPv4 address an IPv6 address stands for.
func embeddedV4(a netip.Addr) (netip.Addr, string, bool) {
	if !a.Is6() {
		return netip.Addr{}, "", false
	}
	b := a.As16()
	low := netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	switch {
	case a.Is4In6():
		return a.Unmap(), "IPv4-mapped", true
	case compatible.Contains(a) && a != netip.IPv6Unspecified() && a != netip.IPv6Loopback():
		return low, "IPv4-compatible", true
	case nat64.Contains(a), nat64Local.Contains(a):
		return low, "NAT64", true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), "6to4", true
	}
	return netip.Addr{}, "", false
}
