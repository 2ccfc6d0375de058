package bgp

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestNextHop6Of(t *testing.T) {
	v4, v6 := netip.MustParseAddr("10.0.1.1"), netip.MustParseAddr("fd00:1::1")
	own := netip.MustParseAddr("fd00:1::11")
	found := func(netip.Addr) (netip.Addr, error) { return own, nil }
	none := func(netip.Addr) (netip.Addr, error) {
		return netip.Addr{}, errors.New("interface eth0 has no usable global IPv6 address")
	}
	for _, tc := range []struct {
		name    string
		n       Neighbor
		towards func(netip.Addr) (netip.Addr, error)
		want    netip.Addr
		err     bool
	}{
		{"ipv4 session, ipv4 only: none", Neighbor{Address: v4, Families: []Family{IPv4}}, none, netip.Addr{}, false},
		{"ipv6 session: its source (no policy)", Neighbor{Address: v6, Families: []Family{IPv6}}, none, netip.Addr{}, false},
		{"ipv6 session, configured", Neighbor{Address: v6, IPv6NextHop: own}, none, own, false},
		{"ipv4 session with ipv6: the interface's", Neighbor{Address: v4, Families: []Family{IPv4, IPv6}}, found, own, false},
		{"ipv4 session with ipv6, configured wins", Neighbor{Address: v4, Families: []Family{IPv4, IPv6}, IPv6NextHop: netip.MustParseAddr("fd00:1::99")}, found, netip.MustParseAddr("fd00:1::99"), false},
		{"ipv4 session with ipv6, none found", Neighbor{Address: v4, Families: []Family{IPv4, IPv6}}, none, netip.Addr{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := nextHop6Of(tc.n, tc.towards)
			if got != tc.want || (err != nil) != tc.err {
				t.Fatalf("got %v, %v; want %v, error %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestPickIPv6NextHop(t *testing.T) {
	addr := func(s string, scope int, flags int) netlink.Addr {
		_, n, _ := net.ParseCIDR(s)
		ip, _, _ := net.ParseCIDR(s)
		n.IP = ip
		return netlink.Addr{IPNet: n, Scope: scope, Flags: flags}
	}
	const global, link = unix.RT_SCOPE_UNIVERSE, unix.RT_SCOPE_LINK
	for _, tc := range []struct {
		name  string
		addrs []netlink.Addr
		want  string
	}{
		{"none", nil, "invalid IP"},
		{"link-local only", []netlink.Addr{addr("fe80::1/64", link, 0)}, "invalid IP"},
		{"global after link-local", []netlink.Addr{addr("fe80::1/64", link, 0), addr("fd00:1::11/64", global, 0)}, "fd00:1::11"},
		{"subnet before a lone /128 (a VIP)", []netlink.Addr{addr("fd00:10::100/128", global, 0), addr("fd00:1::11/64", global, 0)}, "fd00:1::11"},
		{"a lone /128 when nothing else", []netlink.Addr{addr("fd00:10::100/128", global, 0)}, "fd00:10::100"},
		{"tentative, failed and deprecated skipped", []netlink.Addr{addr("fd00:1::1/64", global, unix.IFA_F_TENTATIVE),
			addr("fd00:1::2/64", global, unix.IFA_F_DADFAILED), addr("fd00:1::3/64", global, unix.IFA_F_DEPRECATED),
			addr("fd00:1::4/64", global, 0)}, "fd00:1::4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := pickIPv6NextHop(tc.addrs).String(); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// The policy sets the next hop of the IPv6 routes sent to each neighbour
// that needs one, rejects them for one whose next hop is unknown, and is
// empty when no neighbour needs it.
func TestExportPolicy(t *testing.T) {
	v4a, v4b, v6 := netip.MustParseAddr("10.0.1.1"), netip.MustParseAddr("10.0.1.2"), netip.MustParseAddr("fd00:1::1")
	nh := netip.MustParseAddr("fd00:1::11")
	ns := []Neighbor{
		{Address: v4a, Families: []Family{IPv4, IPv6}},
		{Address: v4b, Families: []Family{IPv4, IPv6}},
		{Address: v6, Families: []Family{IPv6}},
		{Address: netip.MustParseAddr("10.0.1.3"), Families: []Family{IPv4}},
	}
	req := exportPolicy(ns, map[netip.Addr]netip.Addr{v4a: nh})
	if len(req.Policies) != 1 || len(req.Policies[0].Statements) != 2 || len(req.DefinedSets) != 2 {
		t.Fatalf("want one policy with a statement for each IPv4 session carrying IPv6: %v", req)
	}
	set, accept := req.DefinedSets[0], req.Policies[0].Statements[0]
	if set.List[0] != "10.0.1.1/32" || accept.Conditions.NeighborSet.Name != set.Name ||
		accept.Conditions.AfiSafiIn[0].Afi != api.Family_AFI_IP6 || accept.Actions.Nexthop.GetAddress() != nh.String() ||
		accept.Actions.RouteAction != api.RouteAction_ROUTE_ACTION_ACCEPT {
		t.Errorf("10.0.1.1: %v %v", set, accept)
	}
	if reject := req.Policies[0].Statements[1]; reject.Actions.RouteAction != api.RouteAction_ROUTE_ACTION_REJECT || reject.Actions.Nexthop != nil {
		t.Errorf("10.0.1.2 has no next hop: its IPv6 routes must be rejected, not %v", reject)
	}
	ns[2].IPv6NextHop = nh
	if req := exportPolicy(ns[2:], map[netip.Addr]netip.Addr{v6: nh}); len(req.Policies) != 1 || req.DefinedSets[0].List[0] != "fd00:1::1/128" {
		t.Errorf("a configured next hop on an IPv6 session: %v", req)
	}
	if req := exportPolicy(ns[3:], nil); len(req.Policies) != 0 || len(req.DefinedSets) != 0 {
		t.Errorf("no neighbour needs a next hop: %v", req)
	}
}
