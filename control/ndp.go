package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// listenNDP opens the ICMPv6 socket that solicits neighbours on iface and
// hears their advertisements: bound to iface, so it hears nothing from
// elsewhere, taking only neighbour advertisements (the kernel filters), and
// sending with hop limit 255 as RFC 4861 requires.
//
// Nothing here names the interface by a zone: Go resolves zone names
// through one process-wide cache, which is wrong for a socket in another
// network namespace than the one that filled it. The interface is given by
// index (SO_BINDTODEVICE, IPV6_PKTINFO) and the kernel picks the source, a
// link-local address of iface for a link-scope multicast destination.
func listenNDP(iface *net.Interface) (*ipv6.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = unix.BindToDevice(int(fd), iface.Name) })
		return errors.Join(err, serr)
	}}
	pc, err := lc.ListenPacket(context.Background(), "ip6:ipv6-icmp", "::")
	if err != nil {
		return nil, fmt.Errorf("ndp on %s: %w", iface.Name, err)
	}
	c := ipv6.NewPacketConn(pc)
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeNeighborAdvertisement)
	err = errors.Join(c.SetICMPFilter(&f), c.SetHopLimit(ndp.HopLimit), c.SetMulticastHopLimit(ndp.HopLimit),
		c.SetMulticastLoopback(false), c.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagInterface, true))
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("ndp on %s: socket options: %w", iface.Name, err)
	}
	return c, nil
}

// solicit sends one neighbour solicitation for target to its solicited-node
// multicast group, with our MAC as source link-layer address so the target
// can answer without asking back (RFC 4861 section 7.2.2).
func (c *nic) solicit(target netip.Addr) error {
	group, err := ndp.SolicitedNodeMulticast(target)
	if err != nil {
		return err
	}
	b, err := ndp.MarshalMessage(&ndp.NeighborSolicitation{TargetAddress: target, Options: []ndp.Option{
		&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: c.iface.HardwareAddr},
	}})
	if err != nil {
		return err
	}
	_, err = c.ndp.WriteTo(b, &ipv6.ControlMessage{HopLimit: ndp.HopLimit, IfIndex: c.iface.Index}, &net.IPAddr{IP: group.AsSlice()})
	return err
}

// readNDP hands every valid neighbour advertisement on c to the probes waiting
// for its target. Valid as RFC 4861 section 7.1.2 says (hop limit 255, so
// not routed; parsed by ndp) and carrying a target link-layer address: an
// advertisement without one says nothing about the MAC.
func (n *Neighbours) readNDP(c *nic) {
	defer n.read.Done()
	buf := make([]byte, max(c.iface.MTU, 1280))
	for {
		k, cm, _, err := c.ndp.ReadFrom(buf)
		if err != nil {
			if c.closed(err) {
				return
			}
			continue
		}
		m, err := ndp.ParseMessage(buf[:k])
		na, ok := m.(*ndp.NeighborAdvertisement)
		if err != nil || !ok {
			n.malformed.Add(1)
			continue
		}
		mac := targetLLA(na)
		if cm == nil || cm.HopLimit != ndp.HopLimit || cm.IfIndex != c.iface.Index || mac == nil {
			n.malformed.Add(1)
			continue
		}
		n.hand(na.TargetAddress, mac)
	}
}

// targetLLA is an advertisement's target link-layer address option, nil
// without one.
func targetLLA(na *ndp.NeighborAdvertisement) net.HardwareAddr {
	for _, o := range na.Options {
		if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Target {
			return lla.Addr
		}
	}
	return nil
}
