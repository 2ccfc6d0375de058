package testutil

import (
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// Segment is one L2 network for tests: a bridge in a namespace of its own
// (never the root namespace, which must not get a route into a test) and one
// namespace per host, each joined by a veth whose host end is named eth0.
type Segment struct {
	Bridge *NetNS
	hosts  int
}

// Host is a namespace on a Segment.
type Host struct {
	*NetNS
	Addr netip.Prefix
	MAC  net.HardwareAddr
	// Port is the bridge-side end of the host's veth, in Segment.Bridge.
	Port string
}

// NewSegment creates the bridge namespace with bridge br0 up.
func NewSegment(t testing.TB, tag string) *Segment {
	t.Helper()
	s := &Segment{Bridge: NewNetNS(t, tag+"br")}
	s.Bridge.MustRun(t, "ip", "link", "add", "br0", "type", "bridge")
	s.Bridge.MustRun(t, "ip", "link", "set", "br0", "up")
	return s
}

// AddHost creates a host namespace with eth0 = addr and a fixed MAC
// 02:00:00:00:00:<last byte of addr> (readable in tcpdump). With an IPv4
// addr IPv6 is off, so nothing but the test's own traffic crosses the
// segment. With an IPv6 addr the host is IPv6-only: addr is its one address
// (no link-local address of the kernel's making: give fe80::N/64 for a
// link-local-only host), usable at once (no duplicate address detection),
// no router solicitations. TX checksum offload is off, so frames that XDP
// forwards leave with valid checksums.
func (s *Segment) AddHost(t testing.TB, tag string, addr string) *Host {
	t.Helper()
	p := netip.MustParsePrefix(addr)
	b := p.Addr().AsSlice()
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, b[len(b)-1]}
	s.hosts++
	h := &Host{NetNS: NewNetNS(t, tag), Addr: p, MAC: mac, Port: fmt.Sprintf("p%d", s.hosts)}
	sysctls := []string{"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"}
	if p.Addr().Is6() {
		// The defaults are what a netdev created later (eth0) starts with.
		sysctls = []string{"net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.default.router_solicitations=0",
			"net.ipv6.conf.default.addr_gen_mode=1"}
	}
	for _, k := range sysctls {
		h.MustRun(t, "sysctl", "-qw", k)
	}
	s.Plug(t, h)
	return h
}

// Plug creates h's veth: eth0 with h.MAC and h.Addr, its peer h.Port on the
// bridge. AddHost plugs each host; a test that deletes the netdev
// (Unplug) plugs it again.
func (s *Segment) Plug(t testing.TB, h *Host) {
	t.Helper()
	s.Bridge.MustRun(t, "ip", "link", "add", h.Port, "type", "veth", "peer", "name", "eth0", "netns", h.Name)
	s.Bridge.MustRun(t, "ip", "link", "set", h.Port, "master", "br0", "up")
	h.MustRun(t, "ip", "link", "set", "eth0", "address", h.MAC.String(), "up")
	if h.Addr.Addr().Is6() {
		h.MustRun(t, "ip", "addr", "add", h.Addr.String(), "dev", "eth0", "nodad")
	} else {
		h.MustRun(t, "ip", "addr", "add", h.Addr.String(), "dev", "eth0")
	}
	h.MustRun(t, "ethtool", "-K", "eth0", "tx", "off")
}

// Unplug deletes h's veth, both ends.
func (s *Segment) Unplug(t testing.TB, h *Host) {
	t.Helper()
	s.Bridge.MustRun(t, "ip", "link", "del", h.Port)
}

// EnableIPv6 turns IPv6 on for h's eth0 and lo and adds addr (an IPv6
// prefix) to eth0. Duplicate address detection and router solicitations
// stay off: the test's addresses are its own, and nothing on the segment
// routes, so the addresses are usable at once and the segment stays quiet.
func (h *Host) EnableIPv6(t testing.TB, addr string) netip.Prefix {
	t.Helper()
	p := netip.MustParsePrefix(addr)
	for _, k := range []string{"net.ipv6.conf.eth0.accept_dad=0", "net.ipv6.conf.eth0.router_solicitations=0",
		"net.ipv6.conf.eth0.disable_ipv6=0", "net.ipv6.conf.lo.disable_ipv6=0"} {
		h.MustRun(t, "sysctl", "-qw", k)
	}
	h.MustRun(t, "ip", "-6", "addr", "add", addr, "dev", "eth0", "nodad")
	return p
}

// NewXDPPass loads a program that passes every frame. A veth drops frames
// that its peer sends with XDP_TX in native mode unless this end has an XDP
// program too (lab-facts.md): bridge ports facing a director get this one.
func NewXDPPass() (*ebpf.Program, error) {
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.XDP,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2 /* XDP_PASS */), asm.Return()},
	})
}

// AttachPassToPort attaches NewXDPPass to the host's bridge-side veth end.
func (s *Segment) AttachPassToPort(t testing.TB, h *Host) {
	t.Helper()
	prog, err := NewXDPPass()
	if err != nil {
		t.Fatalf("load XDP_PASS program: %v", err)
	}
	t.Cleanup(func() { prog.Close() })
	err = s.Bridge.Do(func() error {
		iface, err := net.InterfaceByName(h.Port)
		if err != nil {
			return err
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: iface.Index})
		if err != nil {
			return err
		}
		t.Cleanup(func() { l.Close() })
		return nil
	})
	if err != nil {
		t.Fatalf("attach XDP_PASS to bridge port %s: %v", h.Port, err)
	}
}

// AcceptVIPOnLoopback makes h accept traffic for vip the way LVS-DR real
// servers traditionally do: the VIP on lo, and ARP tuned so h never answers
// or announces it.
func (h *Host) AcceptVIPOnLoopback(t testing.TB, vip netip.Addr) {
	t.Helper()
	for _, k := range []string{"net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2",
		"net.ipv4.conf.eth0.arp_ignore=1", "net.ipv4.conf.eth0.arp_announce=2"} {
		h.MustRun(t, "sysctl", "-qw", k)
	}
	h.MustRun(t, "ip", "addr", "add", hostPrefix(vip), "dev", "lo")
}

// hostPrefix is vip as a one-address prefix (/32, or /128 for IPv6).
func hostPrefix(vip netip.Addr) string {
	return netip.PrefixFrom(vip, vip.BitLen()).String()
}

// AcceptVIPByRedirect makes h accept traffic for vip with the iptables rule
// of the keepalived setup xlb replaces.
func (h *Host) AcceptVIPByRedirect(t testing.TB, vip netip.Addr) {
	t.Helper()
	h.MustRun(t, "iptables", "-t", "nat", "-A", "PREROUTING", "-d", vip.String(), "-j", "REDIRECT")
}

// Stats reads the counters of h's eth0 (through netlink: /sys in a
// namespace entered with nsenter still shows the root namespace).
func (h *Host) Stats(t testing.TB) netlink.LinkStatistics {
	t.Helper()
	var st netlink.LinkStatistics
	err := h.Do(func() error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		st = *l.Attrs().Statistics
		return nil
	})
	if err != nil {
		t.Fatalf("read eth0 counters in %s: %v", h.Name, err)
	}
	return st
}

// Accept is how a direct-routing backend accepts traffic for a VIP it does
// not own.
type Accept int

const (
	// AcceptOnLoopback: the VIP on lo, ARP tuned (Host.AcceptVIPOnLoopback).
	AcceptOnLoopback Accept = iota
	// AcceptByRedirect: an iptables REDIRECT rule (Host.AcceptVIPByRedirect).
	AcceptByRedirect
)

// DRBackend is one backend of a DRLab.
type DRBackend struct {
	// Name tags the backend's namespace and is what its Server greets with.
	Name   string
	Addr   netip.Prefix
	Accept Accept
}

// DRSpec describes a DRLab. The zero value is the usual lab: VIP
// 192.168.1.30, client 192.168.1.100/24, director 192.168.1.20/24, and
// backends db1 (192.168.1.10/24) and db2 (192.168.1.11/24) accepting the
// VIP on loopback (DRBackends). Every address carries its family, so a lab
// of another family is a spec of other addresses (IPv6 also needs AddHost
// to stop disabling it and AcceptVIPOnLoopback to tune NDP, not ARP).
type DRSpec struct {
	VIP      netip.Addr
	Client   netip.Prefix
	Director netip.Prefix
	Backends []DRBackend
	// NoDirectorVIP leaves the VIP off the director, for a test whose
	// announcer (VRRP) adds it.
	NoDirectorVIP bool
	// NoServers starts no Server, for a test that starts and kills them
	// itself.
	NoServers bool
}

// DRPort is the port each backend's Server listens on: MySQL's.
const DRPort = 3306

// DRLab is the direct-routing setup most data-path tests need, on one
// Segment: a client, a director ready for xlb (the VIP on its eth0, so it
// answers ARP for it as a VRRP master does, and XDP_PASS on its bridge port,
// so xlb can run natively on its eth0), and backends that accept the VIP,
// each serving a Server named after it on DRPort.
type DRLab struct {
	*Segment
	VIP      netip.Addr
	Client   *Host
	Director *Host
	Backends []*Host
	// Servers are the backends' Servers, in the order of Backends (nil
	// with NoServers).
	Servers []*Server
	spec    DRSpec
}

// NewDRLab builds the lab of spec; tag names its namespaces.
func NewDRLab(t testing.TB, tag string, spec DRSpec) *DRLab {
	t.Helper()
	spec = spec.withDefaults()
	l := &DRLab{Segment: NewSegment(t, tag), VIP: spec.VIP, spec: spec}
	l.Client = l.AddHost(t, "cl", spec.Client.String())
	l.Director = l.AddHost(t, "lvs", spec.Director.String())
	for _, b := range spec.Backends {
		h := l.AddHost(t, b.Name, b.Addr.String())
		switch b.Accept {
		case AcceptOnLoopback:
			h.AcceptVIPOnLoopback(t, spec.VIP)
		case AcceptByRedirect:
			h.AcceptVIPByRedirect(t, spec.VIP)
		default:
			t.Fatalf("backend %s: unknown Accept %d", b.Name, b.Accept)
		}
		l.Backends = append(l.Backends, h)
	}
	l.readyDirector(t)
	if !spec.NoServers {
		for i, h := range l.Backends {
			l.Servers = append(l.Servers, Serve(t, h, DRPort, spec.Backends[i].Name))
		}
	}
	return l
}

func (s DRSpec) withDefaults() DRSpec {
	if !s.VIP.IsValid() {
		s.VIP = netip.MustParseAddr("192.168.1.30")
	}
	if !s.Client.IsValid() {
		s.Client = netip.MustParsePrefix("192.168.1.100/24")
	}
	if !s.Director.IsValid() {
		s.Director = netip.MustParsePrefix("192.168.1.20/24")
	}
	if s.Backends == nil {
		s.Backends = DRBackends(AcceptOnLoopback, AcceptOnLoopback)
	}
	return s
}

// DRBackends is one backend per accept: db1 at 192.168.1.10/24, db2 at
// 192.168.1.11/24, and so on.
func DRBackends(accept ...Accept) []DRBackend {
	var bs []DRBackend
	addr := netip.MustParseAddr("192.168.1.10")
	for i, a := range accept {
		bs = append(bs, DRBackend{Name: fmt.Sprintf("db%d", i+1), Addr: netip.PrefixFrom(addr, 24), Accept: a})
		addr = addr.Next()
	}
	return bs
}

// readyDirector gives the director's netdev what NewDRLab promises.
func (l *DRLab) readyDirector(t testing.TB) {
	t.Helper()
	l.AttachPassToPort(t, l.Director)
	if !l.spec.NoDirectorVIP {
		l.Director.MustRun(t, "ip", "addr", "add", hostPrefix(l.VIP), "dev", "eth0")
	}
}

// ReplugDirector creates the director's netdev again after Unplug, set up
// as NewDRLab set it up, with the MAC in Director.MAC.
func (l *DRLab) ReplugDirector(t testing.TB) {
	t.Helper()
	l.Plug(t, l.Director)
	l.readyDirector(t)
}

// Backend is the backend of that DRBackend.Name, nil if none.
func (l *DRLab) Backend(name string) *Host {
	for i, b := range l.spec.Backends {
		if b.Name == name {
			return l.Backends[i]
		}
	}
	return nil
}

// Service is the VIP at DRPort.
func (l *DRLab) Service() netip.AddrPort { return netip.AddrPortFrom(l.VIP, DRPort) }
