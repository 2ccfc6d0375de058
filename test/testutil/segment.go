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
// 02:00:00:00:00:<last byte of addr> (readable in tcpdump). IPv6 is off, so
// nothing but the test's own traffic crosses the segment, and TX checksum
// offload is off, so frames that XDP forwards leave with valid checksums.
func (s *Segment) AddHost(t testing.TB, tag string, addr string) *Host {
	t.Helper()
	p := netip.MustParsePrefix(addr)
	b := p.Addr().As4()
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, b[3]}
	s.hosts++
	h := &Host{NetNS: NewNetNS(t, tag), Addr: p, MAC: mac, Port: fmt.Sprintf("p%d", s.hosts)}
	for _, k := range []string{"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"} {
		h.MustRun(t, "sysctl", "-qw", k)
	}
	s.Bridge.MustRun(t, "ip", "link", "add", h.Port, "type", "veth", "peer", "name", "eth0", "netns", h.Name)
	s.Bridge.MustRun(t, "ip", "link", "set", h.Port, "master", "br0", "up")
	h.MustRun(t, "ip", "link", "set", "eth0", "address", mac.String(), "up")
	h.MustRun(t, "ip", "addr", "add", addr, "dev", "eth0")
	h.MustRun(t, "ethtool", "-K", "eth0", "tx", "off")
	return h
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
	h.MustRun(t, "ip", "addr", "add", vip.String()+"/32", "dev", "lo")
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
