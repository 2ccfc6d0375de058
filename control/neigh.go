package control

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/arp"
	"github.com/vishvananda/netlink"
)

// Neighbours finds backends' MAC addresses on the attached interface: first
// in the kernel's neighbour table, then by asking with an ARP request.
type Neighbours struct {
	iface   *net.Interface
	timeout time.Duration
}

// NewNeighbours resolves on iface, waiting up to timeout for an ARP reply.
func NewNeighbours(iface *net.Interface, timeout time.Duration) *Neighbours {
	return &Neighbours{iface: iface, timeout: timeout}
}

// ErrNotOnLink is returned for an address outside the interface's subnets:
// direct routing can only reach backends on the same L2 segment.
var ErrNotOnLink = errors.New("not on a subnet of the interface")

// OnLink checks that ip is inside one of iface's IPv4 subnets.
func OnLink(iface *net.Interface, ip netip.Addr) error {
	addrs, err := iface.Addrs()
	if err != nil {
		return fmt.Errorf("addresses of %s: %w", iface.Name, err)
	}
	var subnets []string
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.To4() == nil {
			continue
		}
		p, err := netip.ParsePrefix(n.String())
		if err != nil {
			continue
		}
		if p.Masked().Contains(ip) && p.Bits() < 32 {
			return nil
		}
		subnets = append(subnets, p.Masked().String())
	}
	return fmt.Errorf("backend %s: %w %s (%v)", ip, ErrNotOnLink, iface.Name, subnets)
}

// Resolve returns ip's MAC address.
func (n *Neighbours) Resolve(ip netip.Addr) (net.HardwareAddr, error) {
	if mac, ok := n.fromTable(ip); ok {
		return mac, nil
	}
	c, err := arp.Dial(n.iface)
	if err != nil {
		return nil, fmt.Errorf("arp on %s: %w", n.iface.Name, err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(n.timeout)); err != nil {
		return nil, fmt.Errorf("arp on %s: %w", n.iface.Name, err)
	}
	mac, err := c.Resolve(ip)
	if err != nil {
		return nil, fmt.Errorf("no ARP reply from %s on %s within %s: %w", ip, n.iface.Name, n.timeout, err)
	}
	return mac, nil
}

// fromTable reads a usable entry from the kernel's neighbour table.
func (n *Neighbours) fromTable(ip netip.Addr) (net.HardwareAddr, bool) {
	neighs, err := netlink.NeighList(n.iface.Index, netlink.FAMILY_V4)
	if err != nil {
		return nil, false
	}
	usable := netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY | netlink.NUD_PROBE | netlink.NUD_PERMANENT
	for _, e := range neighs {
		if e.State&usable == 0 || len(e.HardwareAddr) != 6 {
			continue
		}
		if a, ok := netip.AddrFromSlice(e.IP.To4()); ok && a == ip {
			return e.HardwareAddr, true
		}
	}
	return nil, false
}
