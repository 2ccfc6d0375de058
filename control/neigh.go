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
	"golang.org/x/sys/unix"
)

// ErrNoReply is a Probe that heard no acceptable reply.
var ErrNoReply = errors.New("no acceptable ARP reply")

// arpResend is the gap between ARP requests within one Probe: a single lost
// request or reply must not fail the attempt.
const arpResend = 300 * time.Millisecond

// usableNUD are the neighbour states whose link-layer address the kernel
// itself would send to.
const usableNUD = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY | netlink.NUD_PROBE | netlink.NUD_PERMANENT

// Neighbours finds MAC addresses on one interface: in the kernel's
// neighbour table, by ARP, and by following the table's changes. It holds
// its sockets from OpenNeighbours to Close, in the network namespace that
// was current when it was opened.
type Neighbours struct {
	iface *net.Interface
	log   *slog.Logger
	ns    netns.NsHandle
	nl    *netlink.Handle
	arp   *arp.Client
	done  chan struct{}
	read  sync.WaitGroup

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
	n.read.Add(1)
	go n.readARP()
	return n, nil
}

// Close stops Probe, Watch and the ARP reader.
func (n *Neighbours) Close() error {
	close(n.done)
	err := n.arp.Close()
	n.read.Wait()
	n.nl.Close()
	n.ns.Close()
	return err
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

// Lookup reads ip's usable entry from the kernel's neighbour table.
func (n *Neighbours) Lookup(ip netip.Addr) (net.HardwareAddr, bool) {
	neighs, err := n.nl.NeighList(n.iface.Index, netlink.FAMILY_V4)
	if err != nil {
		return nil, false
	}
	for _, e := range neighs {
		if e.State&usableNUD == 0 || len(e.HardwareAddr) != 6 {
			continue
		}
		if a, ok := netip.AddrFromSlice(e.IP.To4()); ok && a == ip {
			return e.HardwareAddr, true
		}
	}
	return nil, false
}

// Probe sends ARP requests for ip every arpResend until accept takes a
// reply or ctx ends. Refused replies do not end the wait: a forged reply
// racing the real one must not win, nor make the attempt fail.
func (n *Neighbours) Probe(ctx context.Context, ip netip.Addr, accept func(net.HardwareAddr) bool) (net.HardwareAddr, error) {
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
		sendErr = n.arp.Request(ip)
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

// readARP hands every ARP reply to the probes waiting for its sender.
func (n *Neighbours) readARP() {
	defer n.read.Done()
	for {
		p, _, err := n.arp.Read()
		if err != nil {
			select {
			case <-n.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
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
		n.mu.Lock()
		for _, ch := range n.waiters[p.SenderIP] {
			select {
			case ch <- slices.Clone(p.SenderHardwareAddr):
			default: // a flood of replies: the probe has enough to read
			}
		}
		n.mu.Unlock()
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

// Watch calls fn for every change of the interface's IPv4 neighbour entries
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
			if u.LinkIndex != n.iface.Index || u.Family != netlink.FAMILY_V4 {
				continue
			}
			ip, ok := netip.AddrFromSlice(u.IP.To4())
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

// Counters: ARP frames that did not parse, and watch resubscriptions.
func (n *Neighbours) Counters() (malformed, resubscribed uint64) {
	return n.malformed.Load(), n.resubscribed.Load()
}
