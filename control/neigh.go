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
// when it was opened; Reopen moves them to a re-created netdev.
type Neighbours struct {
	log  *slog.Logger
	ns   netns.NsHandle
	nl   *netlink.Handle
	done chan struct{}
	read sync.WaitGroup

	// cur is the interface and its sockets, replaced whole by Reopen.
	cur    atomic.Pointer[nic]
	nicMu  sync.Mutex    // Reopen against Close
	relist chan struct{} // Reopen asks Watch to subscribe and list again

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

// nic is one netdev as Neighbours found it (its index, MAC and MTU) and the
// sockets bound to it.
type nic struct {
	iface *net.Interface
	arp   *arp.Client
	// ndp is the ICMPv6 socket for neighbour solicitations and
	// advertisements; nil (and ndpErr) on a host without IPv6.
	ndp    *ipv6.PacketConn
	ndpErr error
	gone   chan struct{} // closed when replaced or closed: its readers end
}

// openNIC opens iface's sockets and starts their readers.
func (n *Neighbours) openNIC(iface *net.Interface) (*nic, error) {
	c, err := arp.Dial(iface)
	if err != nil {
		return nil, fmt.Errorf("arp on %s: %w", iface.Name, err)
	}
	d := &nic{iface: iface, arp: c, gone: make(chan struct{})}
	d.ndp, d.ndpErr = listenNDP(iface)
	n.read.Add(1)
	go n.readARP(d)
	if d.ndp != nil {
		n.read.Add(1)
		go n.readNDP(d)
	}
	return d, nil
}

// close ends c's readers and closes its sockets.
func (c *nic) close() error {
	close(c.gone)
	err := c.arp.Close()
	if c.ndp != nil {
		c.ndp.Close()
	}
	return err
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
	n := &Neighbours{log: log, ns: ns, nl: nl, done: make(chan struct{}), relist: make(chan struct{}, 1),
		waiters: map[netip.Addr][]chan net.HardwareAddr{}}
	c, err := n.openNIC(iface)
	if err != nil {
		nl.Close()
		ns.Close()
		return nil, err
	}
	n.cur.Store(c)
	return n, nil
}

// Interface is the netdev Neighbours works on, as it was when opened or
// reopened.
func (n *Neighbours) Interface() *net.Interface { return n.cur.Load().iface }

// Reopen moves Neighbours to iface, the same interface with a new index or
// MAC (a netdev deleted and created again, a MAC change): new ARP and NDP
// sockets bound to it, the neighbour table read and watched on its index
// (Watch subscribes again and lists the table). Probes waiting go on with
// the new sockets.
func (n *Neighbours) Reopen(iface *net.Interface) error {
	n.nicMu.Lock()
	defer n.nicMu.Unlock()
	select {
	case <-n.done:
		return errors.New("neighbours: closed")
	default:
	}
	c, err := n.openNIC(iface)
	if err != nil {
		return err
	}
	n.writeMu.Lock() // no request is being sent on the old sockets
	old := n.cur.Swap(c)
	n.writeMu.Unlock()
	old.close()
	select {
	case n.relist <- struct{}{}:
	default: // a relist is pending already
	}
	return nil
}

// Close stops Probe, Watch and the ARP and NDP readers.
func (n *Neighbours) Close() error {
	n.nicMu.Lock()
	close(n.done)
	err := n.cur.Load().close()
	n.nicMu.Unlock()
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
	neighs, err := n.nl.NeighList(n.Interface().Index, family)
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
	if c := n.cur.Load(); !ip.Is4() && c.ndp == nil {
		return nil, fmt.Errorf("%w: %w", ErrNoReply, c.ndpErr)
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
		c := n.cur.Load()
		sendErr = c.request(ip)
		n.writeMu.Unlock()
	wait:
		for {
			select {
			case <-ctx.Done():
				if sendErr != nil {
					return nil, fmt.Errorf("%w: send on %s: %w", ErrNoReply, c.iface.Name, sendErr)
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

// request sends one ARP request (IPv4) or neighbour solicitation (IPv6)
// for ip.
func (c *nic) request(ip netip.Addr) error {
	if ip.Is4() {
		return c.arp.Request(ip)
	}
	if c.ndp == nil {
		return c.ndpErr
	}
	return c.solicit(ip)
}

// closed reports whether a reader's error means Close or Reopen: its loop
// ends then, and goes on after any other error.
func (c *nic) closed(err error) bool {
	select {
	case <-c.gone:
		return true
	default:
	}
	return errors.Is(err, net.ErrClosed)
}

// readARP hands every ARP reply on c to the probes waiting for its sender.
func (n *Neighbours) readARP(c *nic) {
	defer n.read.Done()
	for {
		p, _, err := c.arp.Read()
		if err != nil {
			if c.closed(err) {
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
				n.log.Warn("neighbour table watch (on a lost socket: subscribe again, read the table again)", "interface", n.Interface().Name, "error", err)
			},
		})
		if err != nil {
			n.log.Warn("neighbour table watch: subscribe failed", "interface", n.Interface().Name, "error", err)
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

// follow reads ch until it closes or Reopen asks for a new subscription
// (true), or ctx ends (false).
func (n *Neighbours) follow(ctx context.Context, ch <-chan netlink.NeighUpdate, fn func(NeighEvent)) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-n.relist:
			return true
		case u, ok := <-ch:
			if !ok {
				return true
			}
			if u.LinkIndex != n.Interface().Index {
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
