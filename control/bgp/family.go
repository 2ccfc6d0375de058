package bgp

import (
	"context"
	"fmt"
	"net/netip"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/server"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Prefix is the route announced for vip: its /32 or /128.
func Prefix(vip netip.Addr) netip.Prefix { return netip.PrefixFrom(vip, vip.BitLen()) }

func apiFamily(f Family) *api.Family {
	if f == IPv6 {
		return &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
	}
	return &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
}

// nextHop6Of decides the IPv6 next hop n's export policy sets: the
// configured ipv6_next_hop; else, for an IPv4 session that carries IPv6,
// the director's global IPv6 address on the interface towards n (towards
// finds it), as FRR does (GoBGP alone would send the IPv4-mapped session
// address, ::ffff:a.b.c.d, which no router can reach on the segment). The
// zero Addr with no error: no policy, GoBGP's next-hop-self (an IPv6
// session's source address) or no IPv6 at all.
func nextHop6Of(n Neighbor, towards func(netip.Addr) (netip.Addr, error)) (netip.Addr, error) {
	switch {
	case n.IPv6NextHop.IsValid():
		return n.IPv6NextHop, nil
	case !n.setsNextHop6():
		return netip.Addr{}, nil
	}
	a, err := towards(n.Address)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("no IPv6 next hop for the IPv4 session carrying IPv6 (set ipv6_next_hop): %w", err)
	}
	return a, nil
}

// setsNextHop6 reports whether n's IPv6 routes leave with a next hop xlb
// sets: a configured one, or an IPv4 session's that carries IPv6.
func (n Neighbor) setsNextHop6() bool {
	return n.IPv6NextHop.IsValid() || n.Address.Is4() && n.Carries(IPv6)
}

// globalIPv6Towards is the global IPv6 address of the interface the kernel
// routes dst through.
func globalIPv6Towards(dst netip.Addr) (netip.Addr, error) {
	routes, err := netlink.RouteGet(dst.AsSlice())
	if err != nil || len(routes) == 0 {
		return netip.Addr{}, fmt.Errorf("no route to %s: %v", dst, err)
	}
	link, err := netlink.LinkByIndex(routes[0].LinkIndex)
	if err != nil {
		return netip.Addr{}, err
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V6)
	if err != nil {
		return netip.Addr{}, err
	}
	a := pickIPv6NextHop(addrs)
	if !a.IsValid() {
		return netip.Addr{}, fmt.Errorf("interface %s has no usable global IPv6 address", link.Attrs().Name)
	}
	return a, nil
}

// pickIPv6NextHop picks the address a router can use as next hop: global
// scope, neither tentative, failed nor deprecated; an address of a subnet
// (a prefix shorter than /128) before a lone one such as a VIP.
func pickIPv6NextHop(addrs []netlink.Addr) netip.Addr {
	var lone netip.Addr
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || a.Scope != unix.RT_SCOPE_UNIVERSE || CheckAddr(ip.Unmap()) != nil ||
			a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED|unix.IFA_F_DEPRECATED) != 0 {
			continue
		}
		if ones, _ := a.Mask.Size(); ones < 128 {
			return ip
		}
		if !lone.IsValid() {
			lone = ip
		}
	}
	return lone
}

// policyName names xlb's one export policy.
const policyName = "xlb-ipv6-next-hop"

// exportPolicy is GoBGP's whole routing policy: one statement per
// neighbour with an IPv6 next hop to set, matching that neighbour's IPv6
// routes (GoBGP applies the global export policy per destination peer, the
// neighbour set matching the peer a route is sent to). A neighbour whose
// next hop could not be found gets its IPv6 routes rejected: no route
// leaves with an unreachable next hop. Everything else is accepted as is.
func exportPolicy(neighbors []Neighbor, nextHop6 map[netip.Addr]netip.Addr) *api.SetPoliciesRequest {
	req := &api.SetPoliciesRequest{}
	pol := &api.Policy{Name: policyName}
	for _, n := range neighbors {
		if !n.setsNextHop6() {
			continue
		}
		nh := nextHop6[n.Address]
		set := "xlb-neighbor-" + n.Address.String()
		req.DefinedSets = append(req.DefinedSets, &api.DefinedSet{DefinedType: api.DefinedType_DEFINED_TYPE_NEIGHBOR,
			Name: set, List: []string{Prefix(n.Address).String()}})
		st := &api.Statement{Name: set + "-ipv6",
			Conditions: &api.Conditions{NeighborSet: &api.MatchSet{Type: api.MatchSet_TYPE_ANY, Name: set},
				AfiSafiIn: []*api.Family{apiFamily(IPv6)}},
			Actions: &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_REJECT}}
		if nh.IsValid() {
			st.Actions = &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_ACCEPT, Nexthop: &api.NexthopAction{Address: nh.String()}}
		}
		pol.Statements = append(pol.Statements, st)
	}
	if len(pol.Statements) > 0 {
		req.Policies = []*api.Policy{pol}
	}
	return req
}

// setExportPolicy installs exportPolicy's policy and assigns it to every
// session's export (GoBGP's SetPolicies keeps assignments as they are): a
// new policy before its assignment, an assignment dropped before its
// policy.
func setExportPolicy(ctx context.Context, srv *server.BgpServer, req *api.SetPoliciesRequest) error {
	assign := &api.PolicyAssignment{Name: "global", Direction: api.PolicyDirection_POLICY_DIRECTION_EXPORT,
		DefaultAction: api.RouteAction_ROUTE_ACTION_ACCEPT}
	if len(req.Policies) == 0 {
		if err := srv.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: assign}); err != nil {
			return err
		}
		return srv.SetPolicies(ctx, req)
	}
	if err := srv.SetPolicies(ctx, req); err != nil {
		return err
	}
	assign.Policies = []*api.Policy{{Name: policyName}}
	return srv.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: assign})
}
