// Package group is flow sync's multicast group: the defaults and what a
// configured one must be. It stands apart from flowsync so the config
// readers check a group without the data plane's packages.
package group

import (
	"fmt"
	"net/netip"
)

// Default is the multicast group and port flow sync uses over IPv4 (IPVS's
// sync daemon's group and port).
var Default = netip.MustParseAddrPort("224.0.0.81:8848")

// Default6 is the group flow sync uses over IPv6 (given as
// '[ff02::81]:8848'). IPVS has no IPv6 default: its sync daemon takes an
// IPv6 group only when one is given (mcast_group, Linux 4.3, commit
// d33288172e72 "ipvs: add more mcast parameters for the sync daemon";
// keepalived's lvs_sync_daemon "group" option, "IPv4 or IPv6"). This one
// keeps IPVS's group id, 0x81, and port, in link-local scope (ff02::/16,
// RFC 4291 2.7): a router never forwards it, as the hop-limit-255 rule
// requires anyway, and it maps to the Ethernet address 33:33:00:00:00:81,
// clear of the solicited-node groups every IPv6 host joins.
var Default6 = netip.MustParseAddrPort("[ff02::81]:8848")

// Valid says why g cannot be flow sync's group, or nil: an IPv4 multicast
// group, or an IPv6 one of link-local scope (datagrams go from a link-local
// address and must not leave the link), with a port.
func Valid(g netip.AddrPort) error {
	a := g.Addr()
	switch {
	case !g.IsValid() || g.Port() == 0:
	case a.Is4() && a.IsMulticast(), a.Is6() && a.IsLinkLocalMulticast() && a.Zone() == "":
		return nil
	}
	return fmt.Errorf("%q is not a flow sync group: want an IPv4 multicast group:port (default %s) or an IPv6 link-local one, ff02::/16 (default %s)",
		g.String(), Default, Default6)
}

// Parse reads a group:port and checks it (Valid).
func Parse(s string) (netip.AddrPort, error) {
	g, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q is not a flow sync group: want IPv4 group:port (%s) or [IPv6 group]:port (%s)", s, Default, Default6)
	}
	return g, Valid(g)
}
