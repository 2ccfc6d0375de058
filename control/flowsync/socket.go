package flowsync

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"xlb/control/flowsync/group"
)

// DefaultGroup and DefaultGroup6 are flow sync's groups over IPv4 and IPv6
// (package group says why these).
var (
	DefaultGroup  = group.Default
	DefaultGroup6 = group.Default6
)

// gtsmTTL is the TTL (IPv4) or hop limit (IPv6) every datagram is sent with
// and must arrive with: a router on the way would have lowered it, so 255
// proves the sender is on the segment (RFC 5082; VRRP's rule, RFC 5798
// 5.1.1.3 and 5.1.2.3).
const gtsmTTL = 255

// meta is what the kernel says about a received datagram. Addresses carry
// no zone: link-local ones are the sync interface's.
type meta struct {
	src     netip.Addr
	dst     netip.Addr
	ifindex int
	hops    int // TTL or hop limit
}

// errUnlabelled: the kernel gave a datagram without its control message or
// source (never, with the options set): counted as malformed.
var errUnlabelled = errors.New("datagram without source or control message")

// conn is flow sync's socket in one family: the rest of the Syncer is the
// same for both.
type conn interface {
	read(b []byte) (int, meta, error)
	write(b []byte, src netip.Addr, ifindex int, group netip.AddrPort) error
	Close() error
}

// listen opens the one socket flow sync uses, in group's family: bound to
// the sync interface (the kernel delivers nothing that arrived elsewhere,
// loopback included), member of the group there, reporting each datagram's
// TTL or hop limit, destination and interface, and sending to the group
// with 255 without looping back.
func listen(iface *net.Interface, group netip.AddrPort, readBuffer int) (conn, error) {
	is6 := group.Addr().Is6()
	network, wildcard, level, mcastAll := "udp4", "0.0.0.0", unix.IPPROTO_IP, unix.IP_MULTICAST_ALL
	if is6 {
		network, wildcard, level, mcastAll = "udp6", "::", unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = errors.Join(
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1),
				unix.BindToDevice(int(fd), iface.Name),
				// Only the groups joined on this socket, not every group
				// the host joined (Linux's default).
				unix.SetsockoptInt(int(fd), level, mcastAll, 0),
			)
			// The default buffer holds about 90 datagrams: too few for a
			// table dump's burst; FORCE passes rmem_max (xlbd has
			// CAP_NET_ADMIN).
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, readBuffer) != nil {
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, readBuffer)
			}
		})
		return errors.Join(err, serr)
	}}
	pc, err := lc.ListenPacket(context.Background(), network, net.JoinHostPort(wildcard, fmt.Sprint(group.Port())))
	if err != nil {
		return nil, fmt.Errorf("flow sync: listen on %s port %d: %w", iface.Name, group.Port(), err)
	}
	var c conn
	join := &net.UDPAddr{IP: group.Addr().AsSlice()}
	if is6 {
		p := ipv6.NewPacketConn(pc)
		c, err = conn6{p}, errors.Join(
			p.JoinGroup(iface, join),
			p.SetMulticastInterface(iface),
			p.SetMulticastHopLimit(gtsmTTL),
			p.SetHopLimit(gtsmTTL),
			p.SetMulticastLoopback(false),
			p.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true),
		)
	} else {
		p := ipv4.NewPacketConn(pc)
		c, err = conn4{p}, errors.Join(
			p.JoinGroup(iface, join),
			p.SetMulticastInterface(iface),
			p.SetMulticastTTL(gtsmTTL),
			p.SetTTL(gtsmTTL),
			p.SetMulticastLoopback(false),
			p.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true),
		)
	}
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("flow sync: socket options on %s: %w", iface.Name, err)
	}
	return c, nil
}

// addrOf is ip as a zone-less address of its own family.
func addrOf(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

// label is what a control message says of a datagram; ok: there was one.
type label struct {
	dst           net.IP
	ifindex, hops int
	ok            bool
}

// meta is a read's result: n bytes from from, as the label says.
func (l label) meta(n int, from net.Addr, err error) (int, meta, error) {
	if err != nil {
		return 0, meta{}, err
	}
	ua, ok := from.(*net.UDPAddr)
	if !ok || !l.ok {
		return 0, meta{}, errUnlabelled
	}
	return n, meta{src: addrOf(ua.IP), dst: addrOf(l.dst), ifindex: l.ifindex, hops: l.hops}, nil
}

type conn4 struct{ *ipv4.PacketConn }

func (c conn4) read(b []byte) (int, meta, error) {
	n, cm, from, err := c.ReadFrom(b)
	var l label
	if cm != nil {
		l = label{cm.Dst, cm.IfIndex, cm.TTL, true}
	}
	return l.meta(n, from, err)
}

func (c conn4) write(b []byte, src netip.Addr, ifindex int, group netip.AddrPort) error {
	_, err := c.WriteTo(b, &ipv4.ControlMessage{Src: src.AsSlice(), IfIndex: ifindex}, net.UDPAddrFromAddrPort(group))
	return err
}

type conn6 struct{ *ipv6.PacketConn }

func (c conn6) read(b []byte) (int, meta, error) {
	n, cm, from, err := c.ReadFrom(b)
	var l label
	if cm != nil {
		l = label{cm.Dst, cm.IfIndex, cm.HopLimit, true}
	}
	return l.meta(n, from, err)
}

func (c conn6) write(b []byte, src netip.Addr, ifindex int, group netip.AddrPort) error {
	_, err := c.WriteTo(b, &ipv6.ControlMessage{Src: src.AsSlice(), IfIndex: ifindex}, net.UDPAddrFromAddrPort(group))
	return err
}
