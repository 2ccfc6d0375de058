package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"xlb/control/script"
)

// notifyTimeout bounds one notify script, so a hung script cannot hold back
// the ones queued after it for long.
const notifyTimeout = 30 * time.Second

var broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// NetActions adds and removes VIPs with netlink, sends gratuitous ARP from
// a packet socket for IPv4 VIPs and unsolicited neighbour advertisements with
// mdlayher/ndp for IPv6 ones, and queues notify scripts on a script.Queue
// keyed by the instance's name: they run in order, in the background, and
// outlive the NetActions (closing it never waits for a script).
type NetActions struct {
	cfg    Config
	log    *slog.Logger
	nl     *netlink.Handle
	arp    map[string]*arpSender // by device, IPv4 instances
	ndp    map[string]*ndpSender // by device, IPv6 instances
	index  map[string]int        // by device: the netdev its socket is bound to
	ns     netns.NsHandle        // where the sockets are opened, Rebind's too
	notify *script.Queue
	once   sync.Once
}

// arpSender sends gratuitous ARPs on one device.
type arpSender struct {
	conn *packet.Conn
	ifi  *net.Interface
}

// ndpSender sends unsolicited neighbour advertisements on one device.
type ndpSender struct {
	conn *ndp.Conn
	ifi  *net.Interface
}

// NewNetActions opens its netlink and packet sockets in the calling thread's
// network namespace. Notify scripts go to q (nil: a queue of its own).
func NewNetActions(cfg Config, q *script.Queue, log *slog.Logger) (*NetActions, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := cfg
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	nl, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("vrrp %s: netlink: %w", c.Name, err)
	}
	if q == nil {
		q = script.NewQueue(log)
	}
	ns, err := netns.Get()
	if err != nil {
		nl.Close()
		return nil, fmt.Errorf("vrrp %s: current network namespace: %w", c.Name, err)
	}
	a := &NetActions{cfg: c, log: log, nl: nl, arp: map[string]*arpSender{}, ndp: map[string]*ndpSender{}, index: map[string]int{}, ns: ns, notify: q}
	for _, v := range append(slices.Clip(c.VIPs), c.ExcludedVIPs...) {
		if _, ok := a.index[v.Dev]; ok {
			continue
		}
		ifi, err := net.InterfaceByName(v.Dev)
		if err != nil {
			a.closeSockets()
			return nil, fmt.Errorf("vrrp %s: VIP device: %w", c.Name, err)
		}
		if err := a.openDev(ifi); err != nil {
			a.closeSockets()
			return nil, fmt.Errorf("vrrp %s: %w", c.Name, err)
		}
	}
	return a, nil
}

// openDev opens the socket that announces VIPs on ifi (ARP for an IPv4
// instance, neighbour discovery for an IPv6 one), replacing the one it had.
func (a *NetActions) openDev(ifi *net.Interface) error {
	if a.cfg.IPv6() {
		s, err := newNDPSender(ifi)
		if err != nil {
			return fmt.Errorf("neighbour discovery socket on %s: %w", ifi.Name, err)
		}
		if old := a.ndp[ifi.Name]; old != nil {
			old.conn.Close()
		}
		a.ndp[ifi.Name] = s
	} else {
		s, err := newARPSender(ifi)
		if err != nil {
			return fmt.Errorf("arp socket on %s: %w", ifi.Name, err)
		}
		if old := a.arp[ifi.Name]; old != nil {
			old.conn.Close()
		}
		a.arp[ifi.Name] = s
	}
	a.index[ifi.Name] = ifi.Index
	return nil
}

// Rebind reopens the announcing socket of every VIP device deleted and
// created again (a new index: the old socket sends nothing any more);
// moved is false when none was. It runs on the instance's goroutine, as
// SendGARP does.
func (a *NetActions) Rebind() (moved bool, err error) {
	err = inNamespace(a.ns, func() error {
		var errs []error
		for dev, index := range a.index {
			ifi, err := net.InterfaceByName(dev)
			if err != nil {
				errs = append(errs, fmt.Errorf("VIP device: %w", err))
				continue
			}
			if ifi.Index == index {
				continue
			}
			if err := a.openDev(ifi); err != nil {
				errs = append(errs, err)
				continue
			}
			moved = true
		}
		return errors.Join(errs...)
	})
	return moved, err
}

// newARPSender opens a packet socket for ARP frames on ifi that only
// sends: its filter drops every incoming frame. Unlike mdlayher/arp's
// Client it needs no IPv4 address on ifi: a gratuitous ARP's sender and
// target are the VIP (keepalived's vrrp_arp.c also sends from a bare
// packet socket), and a VIP's device may have no address of its own.
func newARPSender(ifi *net.Interface) (*arpSender, error) {
	conn, err := packet.Listen(ifi, packet.Raw, int(ethernet.EtherTypeARP), nil)
	if err != nil {
		return nil, err
	}
	drop, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
	if err == nil {
		err = conn.SetBPF(drop)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("socket filter: %w", err)
	}
	return &arpSender{conn: conn, ifi: ifi}, nil
}

// send writes p in an Ethernet frame from ifi's MAC to dst.
func (s *arpSender) send(p *arp.Packet, dst net.HardwareAddr) error {
	pb, err := p.MarshalBinary()
	if err != nil {
		return err
	}
	f := &ethernet.Frame{Destination: dst, Source: s.ifi.HardwareAddr, EtherType: ethernet.EtherTypeARP, Payload: pb}
	fb, err := f.MarshalBinary()
	if err != nil {
		return err
	}
	_, err = s.conn.WriteTo(fb, &packet.Addr{HardwareAddr: dst})
	return err
}

// newNDPSender opens an ICMPv6 socket on ifi that only sends: its filter
// blocks every incoming message, so nothing queues up unread.
func newNDPSender(ifi *net.Interface) (*ndpSender, error) {
	// ndp addresses each message to the zone named ifi.Name, and Go turns a
	// zone name into an index in the network namespace of the thread that
	// sends: not the instance's when the daemon runs it from elsewhere (the
	// kernel then refuses the mismatched interfaces with EINVAL). A numeric
	// zone is taken as the index itself.
	byIndex := *ifi
	byIndex.Name = strconv.Itoa(ifi.Index)
	conn, _, err := ndp.Listen(&byIndex, ndp.Unspecified)
	if err != nil {
		return nil, err
	}
	var f ipv6.ICMPFilter
	f.SetAll(true)
	if err := conn.SetICMPFilter(&f); err != nil {
		conn.Close()
		return nil, fmt.Errorf("icmp filter: %w", err)
	}
	return &ndpSender{conn: conn, ifi: ifi}, nil
}

// allNodes is ff02::1, where unsolicited neighbour advertisements go (RFC
// 4861 7.2.6).
var allNodes = netip.MustParseAddr("ff02::1")

// vipAddr is the netlink address for v. IPv6 VIPs are added without
// duplicate address detection, so they are usable at once and a brief
// split brain cannot leave them "dadfailed" for good, and a /128 is
// deprecated (preferred lifetime 0) so the host never picks it as a source
// address: both as keepalived's netlink_ipaddress does.
func vipAddr(v VIP) *netlink.Addr {
	ip := v.Prefix.Addr()
	n := &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(v.Prefix.Bits(), ip.BitLen())}, Label: v.Label}
	if ip.Is6() {
		n.Flags = unix.IFA_F_NODAD
		if v.Prefix.Bits() == 128 {
			n.PreferedLft, n.ValidLft = 0, math.MaxUint32 // valid forever
		}
	}
	return n
}

// AddVIPs implements Actions; an address already present is fine.
func (a *NetActions) AddVIPs(vips []VIP) error {
	var errs []error
	for _, v := range vips {
		link, err := a.nl.LinkByName(v.Dev)
		if err == nil {
			err = a.nl.AddrAdd(link, vipAddr(v))
		}
		if err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("add %v dev %s: %w", v.Prefix, v.Dev, err))
		}
	}
	return errors.Join(errs...)
}

// RemoveVIPs implements Actions; an address already gone is fine.
func (a *NetActions) RemoveVIPs(vips []VIP) error {
	var errs []error
	for _, v := range vips {
		link, err := a.nl.LinkByName(v.Dev)
		if err == nil {
			err = a.nl.AddrDel(link, &netlink.Addr{IPNet: vipAddr(v).IPNet})
		}
		if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			errs = append(errs, fmt.Errorf("remove %v dev %s: %w", v.Prefix, v.Dev, err))
		}
	}
	return errors.Join(errs...)
}

// AddRoutes implements Actions.
func (a *NetActions) AddRoutes(routes []Route, rules []Rule) error {
	return SetRoutes(a.nl, routes, rules, true)
}

// RemoveRoutes implements Actions.
func (a *NetActions) RemoveRoutes(routes []Route, rules []Rule) error {
	return SetRoutes(a.nl, routes, rules, false)
}

// SetRoutes adds (routes, then rules) or removes (rules, then routes) with
// h; an entry already there, or already gone, is fine. static_routes and
// static_rules use it too.
func SetRoutes(h *netlink.Handle, routes []Route, rules []Rule, add bool) error {
	var errs []error
	if !add {
		errs = append(errs, setRules(h, rules, false)...)
	}
	for _, r := range routes {
		nr, err := nlRoute(h, r)
		if err == nil {
			if add {
				err = h.RouteReplace(nr)
			} else if err = h.RouteDel(nr); errors.Is(err, unix.ESRCH) {
				err = nil
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("route %s: %w", r, err))
		}
	}
	if add {
		errs = append(errs, setRules(h, rules, true)...)
	}
	return errors.Join(errs...)
}

func setRules(h *netlink.Handle, rules []Rule, add bool) []error {
	var errs []error
	for _, r := range rules {
		nr := nlRule(r)
		var err error
		if add {
			if err = h.RuleAdd(nr); errors.Is(err, unix.EEXIST) {
				err = nil
			}
		} else if err = h.RuleDel(nr); errors.Is(err, unix.ENOENT) {
			err = nil
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %s: %w", r, err))
		}
	}
	return errs
}

func prefixNet(p netip.Prefix) *net.IPNet {
	if !p.IsValid() {
		return nil
	}
	return &net.IPNet{IP: p.Masked().Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func ipOf(a netip.Addr) net.IP {
	if !a.IsValid() {
		return nil
	}
	return a.AsSlice()
}

func nlRoute(h *netlink.Handle, r Route) (*netlink.Route, error) {
	nr := &netlink.Route{Dst: prefixNet(r.Dst), Src: ipOf(r.Src), Gw: ipOf(r.Gateway), Table: r.Table, Priority: r.Metric,
		Family: netlink.FAMILY_V4}
	if r.Dst.Addr().Is6() {
		nr.Family = netlink.FAMILY_V6
	}
	if r.Dev != "" {
		l, err := h.LinkByName(r.Dev)
		if err != nil {
			return nil, err
		}
		nr.LinkIndex = l.Attrs().Index
	}
	switch r.Type {
	case "blackhole":
		nr.Type = unix.RTN_BLACKHOLE
	case "unreachable":
		nr.Type = unix.RTN_UNREACHABLE
	case "prohibit":
		nr.Type = unix.RTN_PROHIBIT
	}
	switch r.Scope {
	case "link":
		nr.Scope = netlink.SCOPE_LINK
	case "host":
		nr.Scope = netlink.SCOPE_HOST
	}
	return nr, nil
}

func nlRule(r Rule) *netlink.Rule {
	nr := netlink.NewRule()
	nr.Family = netlink.FAMILY_V4
	if r.From.IsValid() && r.From.Addr().Is6() || r.To.IsValid() && r.To.Addr().Is6() {
		nr.Family = netlink.FAMILY_V6
	}
	nr.Src, nr.Dst = prefixNet(r.From), prefixNet(r.To)
	nr.IifName, nr.OifName = r.IIF, r.OIF
	nr.Table = r.Table
	if r.Priority != 0 {
		nr.Priority = r.Priority
	}
	return nr
}

// SendGARP implements Actions: for an IPv4 VIP an ARP request from the VIP
// for the VIP to the broadcast address, for an IPv6 VIP an unsolicited
// neighbour advertisement, as keepalived sends them.
func (a *NetActions) SendGARP(vips []VIP) error {
	var errs []error
	for _, v := range vips {
		if v.Prefix.Addr().Is6() {
			if err := a.sendNA(v); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		s := a.arp[v.Dev]
		if s == nil {
			errs = append(errs, fmt.Errorf("no arp socket for %s", v.Dev))
			continue
		}
		ip := v.Prefix.Addr()
		p, err := arp.NewPacket(arp.OperationRequest, s.ifi.HardwareAddr, ip, broadcastMAC, ip)
		if err == nil {
			err = s.send(p, broadcastMAC)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("gratuitous arp for %v on %s: %w", ip, v.Dev, err))
		}
	}
	return errors.Join(errs...)
}

// sendNA sends one unsolicited neighbour advertisement for v, as
// keepalived's ndisc_send_unsolicited_na_immediate builds it: from the VIP to
// all nodes, hop limit 255, override set so every cache takes our MAC,
// solicited clear, router set when the device forwards IPv6 (a neighbour
// that sees it cleared drops us as a router, RFC 4861 7.2.5), and our MAC as
// the target link-layer address.
func (a *NetActions) sendNA(v VIP) error {
	s := a.ndp[v.Dev]
	if s == nil {
		return fmt.Errorf("no neighbour discovery socket for %s", v.Dev)
	}
	ip := v.Prefix.Addr()
	na := &ndp.NeighborAdvertisement{
		Router:        forwardsIPv6(v.Dev),
		Override:      true,
		TargetAddress: ip,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: s.ifi.HardwareAddr}},
	}
	cm := &ipv6.ControlMessage{HopLimit: ndp.HopLimit, Src: ip.AsSlice(), IfIndex: s.ifi.Index}
	if err := s.conn.WriteTo(na, cm, allNodes); err != nil {
		return fmt.Errorf("unsolicited neighbour advertisement for %v on %s: %w", ip, v.Dev, err)
	}
	return nil
}

// forwardsIPv6 reads whether dev forwards IPv6, as keepalived's
// set_ipv6_forwarding does.
func forwardsIPv6(dev string) bool {
	b, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + dev + "/forwarding")
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

// Notify implements Actions: queues the scripts behind the instance's
// earlier ones and returns at once.
func (a *NetActions) Notify(n Notification) {
	for _, c := range notifyCommands(a.cfg, n) {
		a.notify.Add(a.cfg.Name, n.State.String()+" "+c.Argv[0], func(ctx context.Context) {
			runNotify(ctx, a.cfg.ScriptPolicy, c, a.log.With("state", n.State, "script", c.Argv))
		})
	}
}

// runNotify runs one notify script, as its own user and group, to its end,
// its timeout or the end of ctx (the queue stopped).
func runNotify(ctx context.Context, p script.Policy, c script.Command, log *slog.Logger) {
	cmd, warning, err := p.Prepare(script.Cmd{Argv: c.Argv, Timeout: notifyTimeout}, c.User, c.Group)
	if err != nil {
		log.Error("notify script not run", "error", err)
		return
	}
	if warning != nil {
		log.Warn("notify script runs though insecure (enable_script_security is off)", "reason", warning)
	}
	if r := script.Run(ctx, cmd); r.Err != nil {
		log.Warn("notify script failed", "exit", r.Exit, "error", r.Err, "output", r.Summary())
	}
}

// notifyCommands lists the scripts keepalived would run for n: the state's
// own script, then the generic one with "INSTANCE" NAME STATE PRIORITY.
func notifyCommands(c Config, n Notification) []script.Command {
	var cmds []script.Command
	var own script.Command
	switch n.State {
	case StateMaster:
		own = c.NotifyMaster
	case StateBackup:
		own = c.NotifyBackup
	case StateFault:
		own = c.NotifyFault
	case StateStop:
		own = c.NotifyStop
	}
	if !own.IsZero() {
		cmds = append(cmds, own)
	}
	if !c.Notify.IsZero() {
		cmd := c.Notify
		cmd.Argv = append(append([]string(nil), c.Notify.Argv...), "INSTANCE", n.Instance, n.State.String(), strconv.Itoa(int(n.Priority)))
		cmds = append(cmds, cmd)
	}
	return cmds
}

func (a *NetActions) closeSockets() {
	for _, s := range a.arp {
		s.conn.Close()
	}
	for _, s := range a.ndp {
		s.conn.Close()
	}
	a.nl.Close()
	a.ns.Close()
}

// Close closes the sockets. Queued notify scripts still run, in order: a
// reload or shutdown never waits on a script.
func (a *NetActions) Close() error {
	a.once.Do(a.closeSockets)
	return nil
}

// NetlinkWatcher reports link state changes through netlink, for the
// namespace that was current when it was made.
type NetlinkWatcher struct {
	ns netns.NsHandle
	// sub subscribes to link updates (nil: netlink in ns); it closes the
	// channel when the subscription ends. Tests end it early.
	sub func(chan<- netlink.LinkUpdate, <-chan struct{}) error
}

// NewNetlinkWatcher remembers the calling thread's network namespace.
func NewNetlinkWatcher() (*NetlinkWatcher, error) {
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("current netns: %w", err)
	}
	return &NetlinkWatcher{ns: ns}, nil
}

// Close releases the namespace handle.
func (w *NetlinkWatcher) Close() error { return w.ns.Close() }

func linkUp(l netlink.Link) bool {
	at := l.Attrs()
	return at.Flags&net.FlagUp != 0 && (at.OperState == netlink.OperUp || at.OperState == netlink.OperUnknown)
}

// resubscribeDelay paces link subscriptions after one failed.
const resubscribeDelay = time.Second

// Watch implements LinkWatcher. A link that does not exist is down. A
// subscription that fails (ENOBUFS after a burst of events) is replaced and
// every link re-read, so no change is missed for good.
func (w *NetlinkWatcher) Watch(names []string, done <-chan struct{}) (<-chan LinkEvent, error) {
	sub, err := w.subscribe(done)
	if err != nil {
		return nil, err
	}
	out := make(chan LinkEvent, len(names)+64)
	if err := w.readAll(names, out, done); err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	go func() {
		defer close(out)
		for {
			for u := range sub.updates {
				name := u.Attrs().Name
				if !want[name] {
					continue
				}
				ev := LinkEvent{Name: name, Up: u.Header.Type != unix.RTM_DELLINK && linkUp(u.Link)}
				select {
				case out <- ev:
				case <-done:
					return
				}
			}
			// The subscription ended: done, or an error.
			for {
				select {
				case <-done:
					return
				case <-time.After(resubscribeDelay):
				}
				if sub, err = w.subscribe(done); err == nil {
					if err = w.readAll(names, out, done); err == nil {
						break
					}
				}
			}
		}
	}()
	return out, nil
}

type subscription struct{ updates chan netlink.LinkUpdate }

func (w *NetlinkWatcher) subscribe(done <-chan struct{}) (*subscription, error) {
	s := &subscription{updates: make(chan netlink.LinkUpdate, 64)}
	sub := w.sub
	if sub == nil {
		sub = func(ch chan<- netlink.LinkUpdate, done <-chan struct{}) error {
			return netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{Namespace: &w.ns})
		}
	}
	if err := sub(s.updates, done); err != nil {
		return nil, fmt.Errorf("subscribe to links: %w", err)
	}
	return s, nil
}

// readAll reports the current state of every named link.
func (w *NetlinkWatcher) readAll(names []string, out chan<- LinkEvent, done <-chan struct{}) error {
	h, err := netlink.NewHandleAt(w.ns)
	if err != nil {
		return fmt.Errorf("netlink handle: %w", err)
	}
	defer h.Close()
	for _, n := range names {
		l, err := h.LinkByName(n)
		ev := LinkEvent{Name: n, Up: err == nil && linkUp(l)}
		select {
		case out <- ev:
		case <-done:
			return nil
		}
	}
	return nil
}

// SetStatic adds (addresses, routes, rules) or removes (in reverse) what
// keepalived's static_ipaddress, static_routes and static_rules list, in the
// calling thread's network namespace; what is already there, or gone, is
// fine.
func SetStatic(addrs []VIP, routes []Route, rules []Rule, add bool) error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	a := &NetActions{nl: h}
	if add {
		return errors.Join(a.AddVIPs(addrs), SetRoutes(h, routes, rules, true))
	}
	return errors.Join(SetRoutes(h, routes, rules, false), a.RemoveVIPs(addrs))
}
