package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdlayher/arp"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// ErrNoReply is a Probe that heard no acceptable reply.
var ErrNoReply = errors.New("no acceptable reply")

// arpResend is the gap between ARP requests (or neighbour solicitations)
// within one Probe: a single lost request or reply must not fail the attempt.
const arpResend = 300 * time.Millisecond

// usableNUD are the neighbour states whose link-layer address the kernel
// itself would send to.
const usableNUD = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY | netlink.NUD_PROBE | netlink.NUD_PERMANENT

// Neighbours finds MAC addresses on one interface: in the kernel's
// neighbour tables (IPv4 and IPv6), by ARP or by IPv6 neighbour
// solicitation, and by following the tables' changes. It holds its sockets
// from OpenNeighbours to Close, in the network namespace that was current
// when it was opened.
type Neighbours struct {
	iface *net.Interface
	log   *slog.Logger
	ns    netns.NsHandle
	nl    *netlink.Handle
	arp   *arp.Client
	done  chan struct{}
	read  sync.WaitGroup

	// ndp is the ICMPv6 socket for neighbour solicitations and
	// advertisements; nil (and ndpErr) on a host without IPv6.
	ndp    *ipv6.PacketConn
	ndpErr error

	writeMu sync.Mutex
	mu      sync.Mutex
	waiters map[netip.Addr][]chan net.HardwareAddr
	own     []net.HardwareAddr
	ownAt   time.Time

	// watchRcvBuf sets the watch socket's receive buffer (0: the
	// default); tests make it tiny to force ENOBUFS.
	watchRcvBuf  int
	malformed    atomic.Uint64
	resubscribed atomic.Uint64
}

// OpenNeighbours opens the netlink and ARP sockets for iface.
func OpenNeighbours(iface *net.Interface, log *slog.Logger) (*Neighbours, error) {
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("current network namespace: %w", err)
	}
	nl, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("netlink: %w", err)
	}
	c, err := arp.Dial(iface)
	if err != nil {
		nl.Close()
		ns.Close()
		return nil, fmt.Errorf("arp on %s: %w", iface.Name, err)
	}
	n := &Neighbours{iface: iface, log: log, ns: ns, nl: nl, arp: c, done: make(chan struct{}), waiters: map[netip.Addr][]chan net.HardwareAddr{}}
	n.ndp, n.ndpErr = listenNDP(iface)
	n.read.Add(1)
	go n.readARP()
	if n.ndp != nil {
		n.read.Add(1)
		go n.readNDP()
	}
	return n, nil
}

// Close stops Probe, Watch and the ARP and NDP readers.
func (n *Neighbours) Close() error {
	close(n.done)
	err := n.arp.Close()
	if n.ndp != nil {
		n.ndp.Close()
	}
	n.read.Wait()
	n.nl.Close()
	n.ns.Close()
	return err
}

// ErrNotOnLink is returned for an address outside the interface's subnets:
// direct routing can only reach backends on the same L2 segment.
var ErrNotOnLink = errors.New("not on a subnet of the interface")

// OnLink checks that ip is inside one of iface's subnets of its family
// (not counting host routes: a /32 or /128 says nothing about the segment).
func OnLink(iface *net.Interface, ip netip.Addr) error {
	addrs, err := iface.Addrs()
	if err != nil {
		return fmt.Errorf("addresses of %s: %w", iface.Name, err)
	}
	ip = ip.Unmap()
	var subnets []string
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		p, err := netip.ParsePrefix(n.String())
		if err != nil || p.Addr().Is4() != ip.Is4() || p.Addr().IsLinkLocalUnicast() {
			continue
		}
		if p.Masked().Contains(ip) && p.Bits() < p.Addr().BitLen() {
			return nil
		}
		subnets = append(subnets, p.Masked().String())
	}
	return fmt.Errorf("backend %s: %w %s (%v)", ip, ErrNotOnLink, iface.Name, subnets)
}

// neighFamily is the netlink family of ip's neighbour table.
func neighFamily(ip netip.Addr) int {
	if ip.Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

// neighAddr reads a neighbour entry's address as its family writes it.
func neighAddr(family int, ip net.IP) (netip.Addr, bool) {
	switch family {
	case netlink.FAMILY_V4:
		return netip.AddrFromSlice(ip.To4())
	case netlink.FAMILY_V6:
		a, ok := netip.AddrFromSlice(ip.To16())
		return a, ok && !a.Is4In6()
	}
	return netip.Addr{}, false
}

// Lookup reads ip's usable entry from the kernel's neighbour table of ip's
// family.
func (n *Neighbours) Lookup(ip netip.Addr) (net.HardwareAddr, bool) {
	family := neighFamily(ip)
	neighs, err := n.nl.NeighList(n.iface.Index, family)
	if err != nil {
		return nil, false
	}
	for _, e := range neighs {
		if e.State&usableNUD == 0 || len(e.HardwareAddr) != 6 {
			continue
		}
		if a, ok := neighAddr(family, e.IP); ok && a == ip {
			return e.HardwareAddr, true
		}
	}
	return nil, false
}

// Probe asks for ip every arpResend (an ARP request for IPv4, a neighbour
// solicitation for IPv6) until accept takes a reply or ctx ends. Refused
// replies do not end the wait: a forged reply racing the real one must not
// win, nor make the attempt fail.
func (n *Neighbours) Probe(ctx context.Context, ip netip.Addr, accept func(net.HardwareAddr) bool) (net.HardwareAddr, error) {
	request := n.arp.Request
	if !ip.Is4() {
		if n.ndp == nil {
			return nil, fmt.Errorf("%w: %w", ErrNoReply, n.ndpErr)
		}
		request = n.solicit
	}
	ch := make(chan net.HardwareAddr, 16)
	n.mu.Lock()
	n.waiters[ip] = append(n.waiters[ip], ch)
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		n.waiters[ip] = slices.DeleteFunc(n.waiters[ip], func(c chan net.HardwareAddr) bool { return c == ch })
		if len(n.waiters[ip]) == 0 {
			delete(n.waiters, ip)
		}
		n.mu.Unlock()
	}()
	resend := time.NewTicker(arpResend)
	defer resend.Stop()
	var sendErr error
	for {
		n.writeMu.Lock()
		sendErr = request(ip)
		n.writeMu.Unlock()
	wait:
		for {
			select {
			case <-ctx.Done():
				if sendErr != nil {
					return nil, fmt.Errorf("%w: send on %s: %w", ErrNoReply, n.iface.Name, sendErr)
				}
				return nil, ErrNoReply
			case <-n.done:
				return nil, fmt.Errorf("%w: closed", ErrNoReply)
			case mac := <-ch:
				if accept(mac) {
					return mac, nil
				}
			case <-resend.C:
				break wait
			}
		}
	}
}

// closed reports whether a reader's error means Close: its loop ends then,
// and goes on after any other error.
func (n *Neighbours) closed(err error) bool {
	select {
	case <-n.done:
		return true
	default:
	}
	return errors.Is(err, net.ErrClosed)
}

// readARP hands every ARP reply to the probes waiting for its sender.
func (n *Neighbours) readARP() {
	defer n.read.Done()
	for {
		p, _, err := n.arp.Read()
		if err != nil {
			if n.closed(err) {
				return
			}
			// A frame with the ARP ethertype that does not parse: counted,
			// never fatal (anyone on the segment can send one).
			n.malformed.Add(1)
			continue
		}
		if p.Operation != arp.OperationReply {
			continue
		}
		n.hand(p.SenderIP, p.SenderHardwareAddr)
	}
}

// hand gives a reply's MAC to every probe waiting for ip.
func (n *Neighbours) hand(ip netip.Addr, mac net.HardwareAddr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ch := range n.waiters[ip] {
		select {
		case ch <- slices.Clone(mac):
		default: // a flood of replies: the probe has enough to read
		}
	}
}

// OwnMACs are the MACs of every interface in the namespace, read at most
// once a second.
func (n *Neighbours) OwnMACs() []net.HardwareAddr {
	n.mu.Lock()
	defer n.mu.Unlock()
	if time.Since(n.ownAt) < time.Second {
		return n.own
	}
	links, err := n.nl.LinkList()
	if err != nil {
		return n.own // the last list beats none
	}
	// A new slice each time: callers read the last one without the lock.
	var own []net.HardwareAddr
	for _, l := range links {
		if mac := l.Attrs().HardwareAddr; len(mac) == 6 {
			own = append(own, slices.Clone(mac))
		}
	}
	n.own, n.ownAt = own, time.Now()
	return own
}

// Watch calls fn for every change of the interface's neighbour entries
// until ctx ends. Each (re)subscription first lists the whole table, so
// changes lost when the socket overflowed (ENOBUFS) or failed are read
// again.
func (n *Neighbours) Watch(ctx context.Context, fn func(NeighEvent)) {
	for first := true; ; first = false {
		if !first {
			n.resubscribed.Add(1)
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond): // no busy loop if the kernel keeps refusing
			}
		}
		ch := make(chan netlink.NeighUpdate, 256)
		stop := make(chan struct{})
		err := netlink.NeighSubscribeWithOptions(ch, stop, netlink.NeighSubscribeOptions{
			Namespace: &n.ns, ListExisting: true, ReceiveBufferSize: n.watchRcvBuf,
			ErrorCallback: func(err error) {
				n.log.Warn("neighbour table watch (on a lost socket: subscribe again, read the table again)", "interface", n.iface.Name, "error", err)
			},
		})
		if err != nil {
			n.log.Warn("neighbour table watch: subscribe failed", "interface", n.iface.Name, "error", err)
			close(stop)
			continue
		}
		if !n.follow(ctx, ch, fn) {
			close(stop)
			for range ch { // the subscription's goroutine ends when it can send
			}
			return
		}
		close(stop)
	}
}

// follow reads ch until it closes (true) or ctx ends (false).
func (n *Neighbours) follow(ctx context.Context, ch <-chan netlink.NeighUpdate, fn func(NeighEvent)) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case u, ok := <-ch:
			if !ok {
				return true
			}
			if u.LinkIndex != n.iface.Index {
				continue
			}
			ip, ok := neighAddr(u.Family, u.IP)
			if !ok {
				continue
			}
			ev := NeighEvent{IP: ip}
			if u.Type == unix.RTM_NEWNEIGH && u.State&usableNUD != 0 && len(u.HardwareAddr) == 6 {
				ev.MAC = slices.Clone(u.HardwareAddr)
			}
			fn(ev)
		}
	}
}

// Counters: ARP frames and neighbour advertisements that did not parse, and watch resubscriptions.
func (n *Neighbours) Counters() (malformed, resubscribed uint64) {
	return n.malformed.Load(), n.resubscribed.Load()
}
