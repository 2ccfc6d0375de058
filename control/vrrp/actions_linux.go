package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/mdlayher/arp"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// notifyTimeout bounds one notify script, so a hung script cannot hold back
// the ones queued after it.
const notifyTimeout = 30 * time.Second

var broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// NetActions adds and removes VIPs with netlink, sends gratuitous ARP with
// mdlayher/arp and runs notify scripts one after another in the background.
type NetActions struct {
	cfg    Config
	log    *slog.Logger
	nl     *netlink.Handle
	arp    map[string]*arp.Client // by device
	notify chan Notification
	wg     sync.WaitGroup
	once   sync.Once
}

// NewNetActions opens its netlink and packet sockets in the calling thread's
// network namespace.
func NewNetActions(cfg Config, log *slog.Logger) (*NetActions, error) {
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
	a := &NetActions{cfg: c, log: log, nl: nl, arp: map[string]*arp.Client{}, notify: make(chan Notification, 64)}
	for _, v := range c.VIPs {
		if a.arp[v.Dev] != nil {
			continue
		}
		ifi, err := net.InterfaceByName(v.Dev)
		if err != nil {
			a.closeSockets()
			return nil, fmt.Errorf("vrrp %s: VIP device: %w", c.Name, err)
		}
		cl, err := arp.Dial(ifi)
		if err != nil {
			a.closeSockets()
			return nil, fmt.Errorf("vrrp %s: arp socket on %s: %w", c.Name, v.Dev, err)
		}
		a.arp[v.Dev] = cl
	}
	a.wg.Add(1)
	go a.runNotify()
	return a, nil
}

func ipNet(v VIP) *net.IPNet {
	return &net.IPNet{IP: v.Prefix.Addr().AsSlice(), Mask: net.CIDRMask(v.Prefix.Bits(), 32)}
}

// AddVIPs implements Actions; an address already present is fine.
func (a *NetActions) AddVIPs(vips []VIP) error {
	var errs []error
	for _, v := range vips {
		link, err := a.nl.LinkByName(v.Dev)
		if err == nil {
			err = a.nl.AddrAdd(link, &netlink.Addr{IPNet: ipNet(v), Label: v.Label})
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
			err = a.nl.AddrDel(link, &netlink.Addr{IPNet: ipNet(v)})
		}
		if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			errs = append(errs, fmt.Errorf("remove %v dev %s: %w", v.Prefix, v.Dev, err))
		}
	}
	return errors.Join(errs...)
}

// SendGARP implements Actions: an ARP request from the VIP for the VIP to
// the broadcast address, as keepalived sends it.
func (a *NetActions) SendGARP(vips []VIP) error {
	var errs []error
	for _, v := range vips {
		cl := a.arp[v.Dev]
		if cl == nil {
			errs = append(errs, fmt.Errorf("no arp socket for %s", v.Dev))
			continue
		}
		ip := v.Prefix.Addr()
		p, err := arp.NewPacket(arp.OperationRequest, cl.HardwareAddr(), ip, broadcastMAC, ip)
		if err == nil {
			err = cl.WriteTo(p, broadcastMAC)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("gratuitous arp for %v on %s: %w", ip, v.Dev, err))
		}
	}
	return errors.Join(errs...)
}

// Notify implements Actions: queues the scripts; if the queue is full the
// notification is logged and dropped rather than stalling VRRP.
func (a *NetActions) Notify(n Notification) {
	select {
	case a.notify <- n:
	default:
		a.log.Error("notify queue full, dropping", "state", n.State)
	}
}

func (a *NetActions) runNotify() {
	defer a.wg.Done()
	for n := range a.notify {
		for _, argv := range notifyCommands(a.cfg, n) {
			ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
			out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
			cancel()
			if err != nil {
				a.log.Warn("notify script failed", "script", argv, "err", err, "output", string(out))
			}
		}
	}
}

// notifyCommands lists the argvs keepalived would run for n: the state's
// own script, then the generic one with "INSTANCE" NAME STATE PRIORITY.
func notifyCommands(c Config, n Notification) [][]string {
	var cmds [][]string
	var own []string
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
	if len(own) > 0 {
		cmds = append(cmds, own)
	}
	if len(c.Notify) > 0 {
		cmd := append(append([]string(nil), c.Notify...), "INSTANCE", n.Instance, n.State.String(), strconv.Itoa(int(n.Priority)))
		cmds = append(cmds, cmd)
	}
	return cmds
}

func (a *NetActions) closeSockets() {
	for _, cl := range a.arp {
		cl.Close()
	}
	a.nl.Close()
}

// Close waits for queued notify scripts, then closes the sockets.
func (a *NetActions) Close() error {
	a.once.Do(func() {
		close(a.notify)
		a.wg.Wait()
		a.closeSockets()
	})
	return nil
}

// NetlinkWatcher reports link state changes through netlink, for the
// namespace that was current when it was made.
type NetlinkWatcher struct {
	ns netns.NsHandle
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

// Watch implements LinkWatcher. A link that does not exist is down.
func (w *NetlinkWatcher) Watch(names []string, done <-chan struct{}) (<-chan LinkEvent, error) {
	updates := make(chan netlink.LinkUpdate, 64)
	if err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{Namespace: &w.ns}); err != nil {
		return nil, fmt.Errorf("subscribe to links: %w", err)
	}
	h, err := netlink.NewHandleAt(w.ns)
	if err != nil {
		return nil, fmt.Errorf("netlink handle: %w", err)
	}
	defer h.Close()
	out := make(chan LinkEvent, len(names)+64)
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
		l, err := h.LinkByName(n)
		out <- LinkEvent{Name: n, Up: err == nil && linkUp(l)}
	}
	go func() {
		defer close(out)
		for u := range updates {
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
	}()
	return out, nil
}
