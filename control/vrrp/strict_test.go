package vrrp_test

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"xlb/control/vrrp"
	"xlb/test/keepalived"
	"xlb/test/testutil"
)

// offLink is an address no host of the lab has: what a routed attacker
// sends from.
const offLink = "198.51.100.7"

// forge sends one hand-made IPv4 datagram of protocol 112 from ns out of its
// eth0, with any source, destination and TTL (IP_HDRINCL): the packets of
// issue 12 that a real VRRP stack never sends.
func forge(t *testing.T, ns *testutil.NetNS, src, dst string, ttl uint8, a vrrp.Advert) {
	t.Helper()
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	ip := &layers.IPv4{
		Version: 4, TTL: ttl, TOS: 0xc0, Protocol: vrrp.ProtoVRRP,
		SrcIP: net.IP(s.AsSlice()), DstIP: net.IP(d.AsSlice()),
	}
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ip, gopacket.Payload(a.Seal(s, d)))
	if err != nil {
		t.Fatalf("build packet: %v", err)
	}
	err = ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		// Bound to eth0, a multicast destination needs no route.
		if err := unix.BindToDevice(fd, "eth0"); err != nil {
			return err
		}
		return unix.Sendto(fd, buf.Bytes(), 0, &unix.SockaddrInet4{Addr: d.As4()})
	})
	if err != nil {
		t.Fatalf("forge %s -> %s ttl %d: %v", src, dst, ttl, err)
	}
}

// advert is what a peer configured like cfg would send at prio; mod changes
// it before sealing.
func advert(cfg vrrp.Config, prio uint8, mod func(*vrrp.Advert)) vrrp.Advert {
	unit := time.Second
	if cfg.Version == 3 {
		unit = 10 * time.Millisecond
	}
	a := vrrp.Advert{
		Version: cfg.Version, Type: vrrp.TypeAdvertisement, VRID: cfg.VRID, Priority: prio,
		Interval: uint16(cfg.AdvertInterval / unit),
	}
	for _, v := range cfg.VIPs {
		a.Addrs = append(a.Addrs, v.Prefix.Addr())
	}
	if mod != nil {
		mod(&a)
	}
	a.Count = uint8(len(a.Addrs))
	return a
}

type forgery struct {
	name     string
	src, dst string
	ttl      uint8
	adv      func(cfg vrrp.Config) vrrp.Advert
	drop     string // the drop counter it must raise, "" if none
	mismatch string // the mismatch counter it must raise, "" if none
	stepDown bool   // only the control case: a correct advert is obeyed
}

// runForgeries starts our instance with cfg as master in a fresh lab, then
// sends each forgery twice from the client namespace and checks what it
// did: the counters say why, the master stays master.
func runForgeries(t *testing.T, cfg vrrp.Config, setup func(l *lab), cases []forgery) {
	l := newLab(t)
	// A director with a default route accepts packets from any source under
	// strict or loose rp_filter; this lab has none, so let the off-link
	// source in as a real network would.
	l.ours.MustRun(t, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.eth0.rp_filter=0")
	if setup != nil {
		setup(l)
	}
	o := startOurs(t, l.ours, cfg)
	waitUntil(t, "we become master", 10*time.Second, func() bool { return o.state() == vrrp.StateMaster })
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := o.in.Status()
			if before.State != vrrp.StateMaster {
				t.Fatalf("not master before the forgery: %v", before.State)
			}
			const sent = 2
			for range sent {
				forge(t, l.cli, tc.src, tc.dst, tc.ttl, tc.adv(cfg))
			}
			if tc.stepDown {
				waitUntil(t, "a correct advert is obeyed", 3*time.Second, func() bool { return o.state() == vrrp.StateBackup })
				return
			}
			counted := func(st vrrp.Status) bool {
				return (tc.drop == "" || st.Counters.Drops[tc.drop]-before.Counters.Drops[tc.drop] == sent) &&
					(tc.mismatch == "" || st.Counters.Mismatches[tc.mismatch]-before.Counters.Mismatches[tc.mismatch] == sent)
			}
			waitUntil(t, fmt.Sprintf("%d forgeries counted as drop %q, mismatch %q", sent, tc.drop, tc.mismatch), 3*time.Second,
				func() bool { return counted(o.in.Status()) })
			// Give a wrongly accepted advert time to show: the master would
			// step down at once, or its backups' timers would be fed.
			time.Sleep(300 * time.Millisecond)
			after := o.in.Status()
			if after.State != vrrp.StateMaster || !after.Since.Equal(before.Since) {
				t.Fatalf("master disturbed: %v since %v", after.State, after.Since)
			}
			for r, n := range after.Counters.Drops {
				if r != tc.drop && n != before.Counters.Drops[r] {
					t.Errorf("drop %q also moved: %d -> %d", r, before.Counters.Drops[r], n)
				}
			}
			if tc.drop != "" && after.Counters.AdvertsReceived != before.Counters.AdvertsReceived {
				t.Errorf("a refused advert was used: received %d -> %d", before.Counters.AdvertsReceived, after.Counters.AdvertsReceived)
			}
			if tc.mismatch != "" {
				var found bool
				for _, m := range after.Mismatches {
					found = found || (m.Reason == tc.mismatch && m.LastFrom == tc.src)
				}
				if !found {
					t.Errorf("mismatch %q not reported as coming from %s: %+v", tc.mismatch, tc.src, after.Mismatches)
				}
			}
		})
	}
}

// TestStrictReceiveMulticast: a v3 master in multicast mode refuses every
// forged advert of priority 254, counts each under its reason, and reports
// peers configured differently; a correct advert, last, still works.
func TestStrictReceiveMulticast(t *testing.T) {
	t.Parallel()
	cfg := ourConfig(3, 100*time.Millisecond, 150)
	group2 := "224.0.0.19"
	same := func(c vrrp.Config) vrrp.Advert { return advert(c, 254, nil) }
	runForgeries(t, cfg, func(l *lab) { joinGroup(t, l, group2) }, []forgery{
		{name: "issue 12: unicast to us, TTL 64, off-link", src: offLink, dst: ourAddr, ttl: 64, adv: same, drop: "ttl"},
		{name: "unicast to us, TTL 255, on-link", src: cliAddr, dst: ourAddr, ttl: 255, adv: same, drop: "dest"},
		{name: "to the group, TTL 254 (routed)", src: offLink, dst: vrrp.Group.String(), ttl: 254, adv: same, drop: "ttl"},
		{name: "to another group", src: cliAddr, dst: group2, ttl: 255, adv: same, drop: "dest"},
		{name: "VRRPv2 on our VRID", src: cliAddr, dst: vrrp.Group.String(), ttl: 255, adv: func(c vrrp.Config) vrrp.Advert {
			c.Version, c.AdvertInterval = 2, time.Second
			return advert(c, 254, nil)
		}, drop: "version", mismatch: "version"},
		{name: "other VIP set", src: cliAddr, dst: vrrp.Group.String(), ttl: 255, adv: func(c vrrp.Config) vrrp.Advert {
			return advert(c, 254, func(a *vrrp.Advert) { a.Addrs = []netip.Addr{netip.MustParseAddr("10.99.0.101")} })
		}, drop: "addr_list", mismatch: "vips"},
		// RFC 5798: a v3 backup adopts the master's interval, so the advert
		// is used; lower priority, so the master asserts itself.
		{name: "other interval, lower priority", src: cliAddr, dst: vrrp.Group.String(), ttl: 255, adv: func(c vrrp.Config) vrrp.Advert {
			c.AdvertInterval = time.Second
			return advert(c, 100, nil)
		}, mismatch: "interval"},
		{name: "control: a correct advert", src: cliAddr, dst: vrrp.Group.String(), ttl: 255, adv: same, stepDown: true},
	})
}

// joinGroup makes something on our host listen on group: the kernel then
// delivers that group's VRRP packets to our raw socket too.
func joinGroup(t *testing.T, l *lab, group string) {
	err := l.ours.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		c, err := net.ListenMulticastUDP("udp4", ifi, &net.UDPAddr{IP: net.ParseIP(group), Port: 9999})
		if err != nil {
			return err
		}
		t.Cleanup(func() { c.Close() })
		return nil
	})
	if err != nil {
		t.Fatalf("join %s: %v", group, err)
	}
}

// TestStrictReceiveUnicast: in unicast mode only the configured peer is
// heard, only with TTL 255, and only by unicast.
func TestStrictReceiveUnicast(t *testing.T) {
	t.Parallel()
	cfg := ourConfig(3, 100*time.Millisecond, 150)
	cfg.UnicastSrc = netip.MustParseAddr(ourAddr)
	cfg.UnicastPeers = []netip.Addr{netip.MustParseAddr(kaAddr)}
	same := func(c vrrp.Config) vrrp.Advert { return advert(c, 254, nil) }
	runForgeries(t, cfg, func(l *lab) { joinGroup(t, l, vrrp.Group.String()) }, []forgery{
		{name: "from a non-peer on the link", src: cliAddr, dst: ourAddr, ttl: 255, adv: same, drop: "peer"},
		{name: "peer's address, to the group", src: kaAddr, dst: vrrp.Group.String(), ttl: 255, adv: same, drop: "dest"},
		{name: "from an off-link non-peer", src: offLink, dst: ourAddr, ttl: 255, adv: same, drop: "peer"},
		{name: "peer's address, TTL 64", src: kaAddr, dst: ourAddr, ttl: 64, adv: same, drop: "ttl"},
		{name: "control: the peer's address, TTL 255", src: kaAddr, dst: ourAddr, ttl: 255, adv: same, stepDown: true},
	})
}

// TestInteropVersionMismatchIsVisible: keepalived speaking v2 and we v3 on
// one VRID do not see each other (both hold the VIP, as two keepalived
// would), and our status and log name keepalived and the difference.
func TestInteropVersionMismatchIsVisible(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	keepalived.Start(t, l.ka, kaInstance(2, "1", 150, "MASTER"))
	waitUntil(t, "keepalived master", 10*time.Second, func() bool { return hasVIP(t, l.ka) })
	o := startOurs(t, l.ours, ourConfig(3, time.Second, 100))
	waitUntil(t, "we become master too: split brain", masterDown(3, 100, time.Second)+slack+time.Second,
		func() bool { return o.state() == vrrp.StateMaster })
	waitUntil(t, "the version mismatch is reported", 3*time.Second, func() bool {
		for _, m := range o.in.Status().Mismatches {
			if m.Reason == "version" && m.LastFrom == kaAddr && m.Count >= 3 && strings.Contains(m.LastDetail, "VRRPv2") {
				return true
			}
		}
		return false
	})
	o.mu.Lock()
	logs := o.logs.String()
	o.mu.Unlock()
	if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "from="+kaAddr) || !strings.Contains(logs, "reason=version") {
		t.Fatalf("no warning naming keepalived in our log:\n%s", logs)
	}
	if !hasVIP(t, l.ka) || !hasVIP(t, l.ours) {
		t.Fatal("want both holding the VIP: v2 and v3 do not see each other")
	}
}
