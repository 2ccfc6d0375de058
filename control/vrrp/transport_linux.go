package vrrp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// RawTransport sends and receives VRRP over raw IPv4 sockets of protocol 112,
// like keepalived: one socket bound to the device receives (joined to the
// group, 224.0.0.18 by default, in multicast mode), another bound to the source address sends
// with TTL 255, TOS internet-control and multicast loop off, so our own
// adverts never come back.
type RawTransport struct {
	local netip.Addr
	dsts  []netip.Addr
	rx    *os.File
	rxRaw syscall.RawConn
	tx    *os.File
	txRaw syscall.RawConn
}

// OpenRawTransport opens the sockets in the calling thread's network
// namespace; they stay there for their whole life.
func OpenRawTransport(c Config) (*RawTransport, error) {
	ifi, err := net.InterfaceByName(c.Interface)
	if err != nil {
		return nil, fmt.Errorf("vrrp %s: interface: %w", c.Name, err)
	}
	local := c.UnicastSrc
	if !local.IsValid() {
		if local, err = firstIPv4(ifi); err != nil {
			return nil, fmt.Errorf("vrrp %s: %w", c.Name, err)
		}
	}
	group := c.McastGroup
	if !group.IsValid() {
		group = Group
	}
	t := &RawTransport{local: local, dsts: []netip.Addr{group}}
	if len(c.UnicastPeers) > 0 {
		t.dsts = append([]netip.Addr(nil), c.UnicastPeers...)
	}
	if t.rx, t.rxRaw, err = rawSocket("vrrp-rx", func(fd int) error {
		if err := unix.BindToDevice(fd, ifi.Name); err != nil {
			return fmt.Errorf("bind to device %s: %w", ifi.Name, err)
		}
		if len(c.UnicastPeers) > 0 {
			return nil
		}
		m := &unix.IPMreqn{Multiaddr: group.As4(), Ifindex: int32(ifi.Index)}
		if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, m); err != nil {
			return fmt.Errorf("join %v on %s: %w", group, ifi.Name, err)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("vrrp %s: %w", c.Name, err)
	}
	if t.tx, t.txRaw, err = rawSocket("vrrp-tx", func(fd int) error {
		if err := unix.BindToDevice(fd, ifi.Name); err != nil {
			return fmt.Errorf("bind to device %s: %w", ifi.Name, err)
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: local.As4()}); err != nil {
			return fmt.Errorf("bind to %v: %w", local, err)
		}
		m := &unix.IPMreqn{Ifindex: int32(ifi.Index)}
		opts := []struct {
			name string
			set  func() error
		}{
			{"IP_MULTICAST_IF", func() error { return unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, m) }},
			{"IP_MULTICAST_TTL", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, 255) }},
			{"IP_TTL", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, 255) }},
			{"IP_MULTICAST_LOOP", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0) }},
			{"IP_TOS", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TOS, ipTOSInternetControl) }},
			// Nothing is read from this socket: keep its queue tiny.
			{"SO_RCVBUF", func() error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1) }},
		}
		for _, o := range opts {
			if err := o.set(); err != nil {
				return fmt.Errorf("set %s: %w", o.name, err)
			}
		}
		return nil
	}); err != nil {
		t.rx.Close()
		return nil, fmt.Errorf("vrrp %s: %w", c.Name, err)
	}
	return t, nil
}

func rawSocket(name string, setup func(fd int) error) (*os.File, syscall.RawConn, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, ProtoVRRP)
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

func firstIPv4(ifi *net.Interface) (netip.Addr, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("addresses of %s: %w", ifi.Name, err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP.To4()); ok && n.IP.To4() != nil {
				return ip, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("interface %s has no IPv4 address", ifi.Name)
}

// LocalAddr implements Transport.
func (t *RawTransport) LocalAddr() netip.Addr { return t.local }

// Destinations implements Transport.
func (t *RawTransport) Destinations() []netip.Addr { return t.dsts }

// Send implements Transport.
func (t *RawTransport) Send(dst netip.Addr, msg []byte) error {
	var serr error
	err := t.txRaw.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), msg, 0, &unix.SockaddrInet4{Addr: dst.As4()})
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

// Receive implements Transport.
func (t *RawTransport) Receive() (Packet, error) {
	buf := make([]byte, 1500)
	for {
		var n int
		var rerr error
		err := t.rxRaw.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), buf, 0)
			return !errors.Is(rerr, unix.EAGAIN)
		})
		if err == nil {
			err = rerr
		}
		if errors.Is(err, os.ErrClosed) {
			return Packet{}, ErrClosed
		}
		if err != nil {
			return Packet{}, fmt.Errorf("receive: %w", err)
		}
		if p, ok := parseIPv4(buf[:n]); ok {
			return p, nil
		}
	}
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
	return errors.Join(t.rx.Close(), t.tx.Close())
}

// ipTOSInternetControl is IPTOS_PREC_INTERNETCONTROL, the TOS keepalived
// gives its adverts.
const ipTOSInternetControl = 0xc0
