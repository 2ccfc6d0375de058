package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"xlb/control/config"
)

func init() {
	Register(config.CheckPing, func(_ config.RealServer, target string, _ *slog.Logger) (Checker, error) {
		return NewPing(PingConfig{Addr: target})
	})
}

// PingConfig is keepalived's PING_CHECK: one ICMP echo request (ICMPv6 for
// an IPv6 address, as check_ping.c) with a 128-byte payload (ICMP_BUFSIZE);
// the server is up when the echo reply with the request's sequence number
// arrives within the timeout.
//
// keepalived opens an unprivileged ICMP datagram socket (and widens
// net.ipv4.ping_group_range for it); xlb uses one when the namespace's
// ping_group_range allows it and a raw ICMP socket otherwise (xlbd runs as
// root), without changing the sysctl. On a raw socket every ICMP packet of
// the host arrives, so replies from another address or with another id are
// skipped; a reply with an older sequence number (a late answer) is skipped
// on both, where keepalived would count it a failure.
type PingConfig struct {
	Addr string // IPv4 or IPv6 address [connect_ip]; a port, if given, is ignored
	// Listen opens the ICMP socket; nil means icmp.ListenPacket. Tests and a
	// daemon checking from another namespace choose where it lives.
	Listen func(network, address string) (*icmp.PacketConn, error)
}

// pingPayload is keepalived's ICMP_BUFSIZE.
const pingPayload = 128

// PingChecker implements PingConfig.
type PingChecker struct {
	dst    netip.Addr
	listen func(network, address string) (*icmp.PacketConn, error)
	id     int

	mu  sync.Mutex
	seq int
}

// NewPing validates cfg.
func NewPing(cfg PingConfig) (*PingChecker, error) {
	host := cfg.Addr
	if h, _, err := net.SplitHostPort(cfg.Addr); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return nil, fmt.Errorf("ping check: address %q: want an IPv4 or IPv6 address", cfg.Addr)
	}
	ip = ip.Unmap()
	listen := cfg.Listen
	if listen == nil {
		listen = icmp.ListenPacket
	}
	return &PingChecker{dst: ip, listen: listen, id: 1 + rand.IntN(0xfffe)}, nil
}

// Check sends one echo request and waits for its reply.
func (c *PingChecker) Check(ctx context.Context) Result {
	start := time.Now()
	raw := false
	f := c.family()
	conn, err := c.listen(f.dgram, f.any)
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
		// ping_group_range excludes us: the raw socket needs CAP_NET_RAW.
		raw = true
		conn, err = c.listen(f.raw, f.any)
	}
	if err != nil {
		return failResult(fmt.Errorf("%w: icmp socket: %w", ErrConnect, err))
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	c.mu.Lock()
	c.seq = (c.seq + 1) & 0xffff
	seq := c.seq
	c.mu.Unlock()
	payload := make([]byte, pingPayload)
	for i := range payload {
		payload[i] = byte(i)
	}
	// The kernel computes an ICMPv6 checksum itself (it covers the
	// pseudo-header, which only it knows in full).
	msg := icmp.Message{Type: f.echo, Body: &icmp.Echo{ID: c.id, Seq: seq, Data: payload}}
	wire, err := msg.Marshal(nil)
	if err != nil {
		return failResult(fmt.Errorf("icmp echo: %w", err))
	}
	var to net.Addr = &net.UDPAddr{IP: c.dst.AsSlice()}
	if raw {
		to = &net.IPAddr{IP: c.dst.AsSlice()}
	}
	if _, err := conn.WriteTo(wire, to); err != nil {
		return failResult(fmt.Errorf("%w: send echo request: %w", ErrConnect, err))
	}
	buf := make([]byte, 1500)
	skipped := 0
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				err = fmt.Errorf("no echo reply from %s (%d other ICMP packets skipped): %w", c.dst, skipped, err)
			}
			return failResult(fmt.Errorf("%w: %w", ErrConnect, timeoutOr(ctx, start, err)))
		}
		if !c.mine(buf[:n], from, raw, seq) {
			skipped++
			continue
		}
		return okResult(fmt.Sprintf("echo reply from %s seq %d in %v", c.dst, seq, time.Since(start).Round(time.Microsecond)))
	}
}

// icmpFamily is what differs between ICMP and ICMPv6 echo.
type icmpFamily struct {
	dgram, raw, any string // socket networks and the wildcard address
	proto           int    // IP protocol number, to parse replies
	echo, reply     icmp.Type
}

var (
	icmp4 = icmpFamily{dgram: "udp4", raw: "ip4:icmp", any: "0.0.0.0", proto: 1, echo: ipv4.ICMPTypeEcho, reply: ipv4.ICMPTypeEchoReply}
	icmp6 = icmpFamily{dgram: "udp6", raw: "ip6:ipv6-icmp", any: "::", proto: 58, echo: ipv6.ICMPTypeEchoRequest, reply: ipv6.ICMPTypeEchoReply}
)

func (c *PingChecker) family() icmpFamily {
	if c.dst.Is4() {
		return icmp4
	}
	return icmp6
}

// mine reports whether a received packet is the reply to this request.
func (c *PingChecker) mine(b []byte, from net.Addr, raw bool, seq int) bool {
	var src net.IP
	switch a := from.(type) {
	case *net.UDPAddr:
		src = a.IP
	case *net.IPAddr:
		src = a.IP
	}
	if ip, ok := netip.AddrFromSlice(src); !ok || ip.Unmap() != c.dst {
		return false
	}
	f := c.family()
	m, err := icmp.ParseMessage(f.proto, b)
	if err != nil || m.Type != f.reply {
		return false
	}
	e, ok := m.Body.(*icmp.Echo)
	// The kernel sets and filters the id of a datagram socket itself.
	return ok && e.Seq == seq && (!raw || e.ID == c.id)
}
