package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// RawTransport sends and receives VRRP over raw IP sockets of protocol 112,
// like keepalived: one socket bound to the device receives (joined to the
// group, 224.0.0.18 or ff02::12 by default, in multicast mode), another bound
// to the source address sends with TTL (hop limit) 255, traffic class
// internet-control and multicast loop off, so our own adverts never come
// back. An IPv6 instance speaks from the interface's link-local address
// unless unicast_src_ip names another, and learns each packet's hop limit and
// destination from ancillary data, the IPv6 header being the kernel's.
//
// The sockets are bound to one netdev: Rebind moves them to the netdev now
// carrying the interface's name when it was deleted and created again.
type RawTransport struct {
	cfg  Config
	dsts []netip.Addr
	v6   bool
	ns   netns.NsHandle // where the sockets are opened, Rebind's too

	mu     sync.Mutex // Rebind and Close
	closed bool
	cur    atomic.Pointer[rawSockets]
}

// rawSockets are a RawTransport's sockets on one netdev.
type rawSockets struct {
	local   netip.Addr
	ifindex int
	rx      *os.File
	rxRaw   syscall.RawConn
	tx      *os.File
	txRaw   syscall.RawConn
}

func (s *rawSockets) close() error { return errors.Join(s.rx.Close(), s.tx.Close()) }

// OpenRawTransport opens the sockets in the calling thread's network
// namespace; they stay there for their whole life (Rebind included).
func OpenRawTransport(c Config) (*RawTransport, error) {
	group := c.McastGroup
	if !group.IsValid() {
		group = Group
		if c.IPv6() {
			group = Group6
		}
	}
	t := &RawTransport{cfg: c, dsts: []netip.Addr{group}, v6: c.IPv6()}
	if len(c.UnicastPeers) > 0 {
		t.dsts = append([]netip.Addr(nil), c.UnicastPeers...)
	}
	ifi, err := net.InterfaceByName(c.Interface)
	if err != nil {
		return nil, fmt.Errorf("vrrp %s: interface: %w", c.Name, err)
	}
	if t.ns, err = netns.Get(); err != nil {
		return nil, fmt.Errorf("vrrp %s: current network namespace: %w", c.Name, err)
	}
	socks, err := t.open(ifi)
	if err != nil {
		t.ns.Close()
		return nil, fmt.Errorf("vrrp %s: %w", c.Name, err)
	}
	t.cur.Store(socks)
	return t, nil
}

// Rebind moves the sockets to the netdev now named as the instance's
// interface when it is not the one they are bound to (deleted and created
// again: the old sockets hear and send nothing any more); moved is false
// when they already were there. The source address is found again unless
// unicast_src_ip names it.
func (t *RawTransport) Rebind() (moved bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false, ErrClosed
	}
	var socks *rawSockets
	err = inNamespace(t.ns, func() error {
		ifi, err := net.InterfaceByName(t.cfg.Interface)
		if err != nil {
			return fmt.Errorf("interface: %w", err)
		}
		if ifi.Index == t.cur.Load().ifindex {
			return nil
		}
		socks, err = t.open(ifi)
		return err
	})
	if err != nil || socks == nil {
		return false, err
	}
	_ = t.cur.Swap(socks).close()
	return true, nil
}

// open opens the receive and send sockets on ifi.
func (t *RawTransport) open(ifi *net.Interface) (*rawSockets, error) {
	c, v6, group := t.cfg, t.v6, t.dsts[0]
	local := c.UnicastSrc
	if !local.IsValid() {
		var err error
		if local, err = defaultSource(ifi, v6); err != nil {
			return nil, err
		}
	}
	s := &rawSockets{local: local, ifindex: ifi.Index}
	family := unix.AF_INET
	if v6 {
		family = unix.AF_INET6
	}
	var err error
	if s.rx, s.rxRaw, err = rawSocket(family, "vrrp-rx", func(fd int) error {
		if err := unix.BindToDevice(fd, ifi.Name); err != nil {
			return fmt.Errorf("bind to device %s: %w", ifi.Name, err)
		}
		if v6 {
			// The hop limit and the destination come as ancillary data.
			for _, o := range []int{unix.IPV6_RECVHOPLIMIT, unix.IPV6_RECVPKTINFO} {
				if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, o, 1); err != nil {
					return fmt.Errorf("set IPv6 ancillary option %d: %w", o, err)
				}
			}
		}
		if len(c.UnicastPeers) > 0 {
			return nil
		}
		if v6 {
			m := &unix.IPv6Mreq{Multiaddr: group.As16(), Interface: uint32(ifi.Index)}
			if err := unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, m); err != nil {
				return fmt.Errorf("join %v on %s: %w", group, ifi.Name, err)
			}
			return nil
		}
		m := &unix.IPMreqn{Multiaddr: group.As4(), Ifindex: int32(ifi.Index)}
		if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, m); err != nil {
			return fmt.Errorf("join %v on %s: %w", group, ifi.Name, err)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if s.tx, s.txRaw, err = rawSocket(family, "vrrp-tx", func(fd int) error {
		if err := unix.BindToDevice(fd, ifi.Name); err != nil {
			return fmt.Errorf("bind to device %s: %w", ifi.Name, err)
		}
		opts := sendOptions4(fd, ifi)
		if v6 {
			opts = sendOptions6(fd, ifi)
		}
		for _, o := range opts {
			if err := o.set(); err != nil {
				return fmt.Errorf("set %s: %w", o.name, err)
			}
		}
		if err := unix.Bind(fd, sockaddr(v6, local, ifi.Index)); err != nil {
			return fmt.Errorf("bind to %v: %w", local, err)
		}
		return nil
	}); err != nil {
		s.rx.Close()
		return nil, err
	}
	return s, nil
}

type sockOpt struct {
	name string
	set  func() error
}

// sendOptions4 are the IPv4 send socket's options.
func sendOptions4(fd int, ifi *net.Interface) []sockOpt {
	m := &unix.IPMreqn{Ifindex: int32(ifi.Index)}
	return []sockOpt{
		{"IP_MULTICAST_IF", func() error { return unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, m) }},
		{"IP_MULTICAST_TTL", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, 255) }},
		{"IP_TTL", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, 255) }},
		{"IP_MULTICAST_LOOP", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0) }},
		{"IP_TOS", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TOS, ipTOSInternetControl) }},
		// Nothing is read from this socket: keep its queue tiny.
		{"SO_RCVBUF", func() error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1) }},
	}
}

// sendOptions6 are the IPv6 send socket's options. IPV6_FREEBIND lets it
// bind to a link-local address still in duplicate address detection (the
// first second after the link comes up), as keepalived's read socket does.
func sendOptions6(fd int, ifi *net.Interface) []sockOpt {
	return []sockOpt{
		{"IPV6_MULTICAST_IF", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifi.Index) }},
		{"IPV6_MULTICAST_HOPS", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, 255) }},
		{"IPV6_UNICAST_HOPS", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, 255) }},
		{"IPV6_MULTICAST_LOOP", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, 0) }},
		{"IPV6_TCLASS", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_TCLASS, ipTOSInternetControl) }},
		{"IPV6_FREEBIND", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_FREEBIND, 1) }},
		{"SO_RCVBUF", func() error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1) }},
	}
}

func rawSocket(family int, name string, setup func(fd int) error) (*os.File, syscall.RawConn, error) {
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, ProtoVRRP)
	if err != nil {
		return nil, nil, fmt.Errorf("raw socket: %w", err)
	}
	if err := setup(fd); err != nil {
		unix.Close(fd)
		return nil, nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("raw conn: %w", err)
	}
	return f, rc, nil
}

// defaultSource is where adverts come from without unicast_src_ip: the
// interface's first IPv4 address, or its IPv6 link-local one.
func defaultSource(ifi *net.Interface, v6 bool) (netip.Addr, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("addresses of %s: %w", ifi.Name, err)
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if !v6 && ip.Is4() || v6 && ip.Is6() && ip.IsLinkLocalUnicast() {
			return ip, nil
		}
	}
	if v6 {
		return netip.Addr{}, fmt.Errorf("interface %s has no IPv6 link-local address (is IPv6 disabled on it?)", ifi.Name)
	}
	return netip.Addr{}, fmt.Errorf("interface %s has no IPv4 address", ifi.Name)
}

// LocalAddr implements Transport.
func (t *RawTransport) LocalAddr() netip.Addr { return t.cur.Load().local }

// Destinations implements Transport.
func (t *RawTransport) Destinations() []netip.Addr { return t.dsts }

// Send implements Transport.
func (t *RawTransport) Send(dst netip.Addr, msg []byte) error {
	s := t.cur.Load()
	sa := sockaddr(t.v6, dst, s.ifindex)
	var serr error
	err := s.txRaw.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), msg, 0, sa)
		return !errors.Is(serr, unix.EAGAIN)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("send to %v: %w", dst, err)
	}
	return nil
}

// sockaddr is a's socket address in the transport's family. The zone (the
// netdev's index) only counts for link-local addresses (ff02::12,
// fe80::/10); the kernel ignores it for the others.
func sockaddr(v6 bool, a netip.Addr, ifindex int) unix.Sockaddr {
	if v6 {
		return &unix.SockaddrInet6{Addr: a.As16(), ZoneId: uint32(ifindex)}
	}
	return &unix.SockaddrInet4{Addr: a.As4()}
}

// Receive implements Transport.
func (t *RawTransport) Receive() (Packet, error) {
	buf := make([]byte, 1500)
	oob := make([]byte, 128)
	for {
		s := t.cur.Load()
		var d datagram
		err := s.rxRaw.Read(func(fd uintptr) bool {
			d = t.recv(fd, buf, oob)
			return !errors.Is(d.err, unix.EAGAIN)
		})
		if err == nil {
			err = d.err
		}
		if err != nil && t.cur.Load() != s {
			continue // Rebind moved to a new netdev and closed this socket
		}
		if errors.Is(err, os.ErrClosed) {
			return Packet{}, ErrClosed
		}
		if err != nil {
			return Packet{}, fmt.Errorf("receive: %w", err)
		}
		if p, ok := d.packet(t.v6); ok {
			return p, nil
		}
	}
}

var _ Poller = (*RawTransport)(nil)

// TryReceive implements Poller: it reads the receive socket without
// waiting (the socket is non-blocking; Control, unlike Read, neither waits
// for it to be readable nor for a Receive blocked in another goroutine).
// It skips at most tryReceiveSkips datagrams it cannot parse.
func (t *RawTransport) TryReceive() (Packet, bool) {
	buf := make([]byte, 1500)
	oob := make([]byte, 128)
	for range tryReceiveSkips + 1 {
		var d datagram
		if err := t.cur.Load().rxRaw.Control(func(fd uintptr) { d = t.recv(fd, buf, oob) }); err != nil || d.err != nil {
			return Packet{}, false
		}
		if p, ok := d.packet(t.v6); ok {
			return p, true
		}
	}
	return Packet{}, false
}

const tryReceiveSkips = 16

// datagram is what one read of the receive socket returned.
type datagram struct {
	b, oob []byte
	from   unix.Sockaddr
	err    error
}

// recv reads one datagram from fd into buf and oob.
func (t *RawTransport) recv(fd uintptr, buf, oob []byte) datagram {
	if t.v6 {
		n, oobn, _, from, err := unix.Recvmsg(int(fd), buf, oob, 0)
		if err != nil {
			return datagram{err: err}
		}
		return datagram{b: buf[:n], oob: oob[:oobn], from: from}
	}
	n, _, err := unix.Recvfrom(int(fd), buf, 0)
	if err != nil {
		return datagram{err: err}
	}
	return datagram{b: buf[:n]}
}

// packet parses d; false: not a packet that can be judged.
func (d datagram) packet(v6 bool) (Packet, bool) {
	if v6 {
		return parseIPv6(d.from, d.b, d.oob)
	}
	return parseIPv4(d.b)
}

// parseIPv6 makes a Packet of what an IPv6 raw socket returned: the payload
// alone, the source from the socket address, hop limit and destination from
// the ancillary data (IPV6_RECVHOPLIMIT, IPV6_RECVPKTINFO). Without either
// the packet cannot be judged: it is skipped (the options are always set).
func parseIPv6(from unix.Sockaddr, b, oob []byte) (Packet, bool) {
	sa, ok := from.(*unix.SockaddrInet6)
	if !ok {
		return Packet{}, false
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return Packet{}, false
	}
	p := Packet{Src: netip.AddrFrom16(sa.Addr), Payload: append([]byte(nil), b...)}
	var haveHops bool
	for _, m := range msgs {
		if m.Header.Level != unix.IPPROTO_IPV6 {
			continue
		}
		switch {
		case m.Header.Type == unix.IPV6_HOPLIMIT && len(m.Data) >= 4:
			p.TTL = uint8(binary.NativeEndian.Uint32(m.Data))
			haveHops = true
		case m.Header.Type == unix.IPV6_PKTINFO && len(m.Data) >= unix.SizeofInet6Pktinfo:
			p.Dst = netip.AddrFrom16([16]byte(m.Data[:16]))
		}
	}
	return p, haveHops && p.Dst.IsValid()
}

// parseIPv4 splits a datagram from a raw socket (which always includes the
// IP header) into addresses, TTL and payload. The kernel has already
// validated the header, so a failure here means a truncated read.
func parseIPv4(b []byte) (Packet, bool) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return Packet{}, false
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(b[2])<<8 | int(b[3])
	if ihl < 20 || total < ihl || total > len(b) {
		return Packet{}, false
	}
	return Packet{
		Src:     netip.AddrFrom4([4]byte(b[12:16])),
		Dst:     netip.AddrFrom4([4]byte(b[16:20])),
		TTL:     b[8],
		Payload: append([]byte(nil), b[ihl:total]...),
	}, true
}

// Close implements Transport; a blocked Receive returns ErrClosed.
func (t *RawTransport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	t.ns.Close()
	return t.cur.Load().close()
}

// ipTOSInternetControl is IPTOS_PREC_INTERNETCONTROL, the TOS keepalived
// gives its adverts.
const ipTOSInternetControl = 0xc0
