package vrrp_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"xlb/control/vrrp"
	"xlb/test/keepalived"
	"xlb/test/testutil"
)

// The IPv6 lab is buildLab(t, true): each host has fe80::N and fd00:99::N
// (N the last byte of its IPv4 address). Adverts every 0.1 s (VRRPv3), so
// Master_Down_Interval is ~0.36 s and the tests stay short.
const (
	vip6      = "fd00:99::100"
	vip6Line  = vip6 + "/64 dev eth0"
	ourLL     = "fe80::1"
	kaLL      = "fe80::2"
	cliLL     = "fe80::10"
	fastIntvl = 100 * time.Millisecond
)

func ourConfig6(prio uint8) vrrp.Config {
	c := ourConfig(3, fastIntvl, prio)
	c.VIPs = []vrrp.VIP{{Prefix: netip.MustParsePrefix(vip6 + "/64"), Dev: "eth0"}}
	c.McastGroup = vrrp.Group6
	return c
}

// kaInstance6 leaves the version to keepalived, which speaks 3 for IPv6.
func kaInstance6(prio int, state string) keepalived.Instance {
	return keepalived.Instance{
		Name: "VI_KA6", State: state, Interface: "eth0", VRID: 51, Priority: prio,
		AdvertInt: "0.1", VIPs: []string{vip6Line},
	}
}

func hasVIP6(t *testing.T, ns *testutil.NetNS) bool {
	t.Helper()
	return strings.Contains(ns.MustRun(t, "ip", "-o", "-6", "addr", "show", "dev", "eth0"), " "+vip6+"/64 ")
}

// neighMAC6 is the client's neighbour entry for the IPv6 VIP ("" if none).
func neighMAC6(t *testing.T, cli *testutil.NetNS) string { return lladdr(t, cli, vip6) }

// poke6 makes the client resolve the IPv6 VIP by neighbour solicitation.
func poke6(t *testing.T, cli *testutil.NetNS) { pokeAddr(t, cli, "udp6", vip6) }

// seenNA is one neighbour advertisement for the VIP the client received.
type seenNA struct {
	at       time.Time
	src      netip.Addr
	hopLimit int
	na       *ndp.NeighborAdvertisement
}

// naWatcher records the neighbour advertisements for the VIP that reach
// the client: what "seen on the wire" means here.
type naWatcher struct {
	mu   sync.Mutex
	seen []seenNA
}

func watchNA(t *testing.T, cli *testutil.NetNS) *naWatcher {
	t.Helper()
	w := &naWatcher{}
	var conn *ndp.Conn
	err := cli.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		if conn, _, err = ndp.Listen(ifi, ndp.Unspecified); err != nil {
			return err
		}
		return conn.SetControlMessage(ipv6.FlagHopLimit, true)
	})
	if err != nil {
		t.Fatalf("listen for neighbour advertisements: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, cm, from, err := conn.ReadFrom()
			if err != nil {
				return
			}
			na, ok := m.(*ndp.NeighborAdvertisement)
			if !ok || na.TargetAddress != netip.MustParseAddr(vip6) || cm == nil {
				continue
			}
			w.mu.Lock()
			w.seen = append(w.seen, seenNA{at: time.Now(), src: from.WithZone(""), hopLimit: cm.HopLimit, na: na})
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return w
}

// unsolicited returns the unsolicited advertisements (solicited flag clear)
// seen since since.
func (w *naWatcher) unsolicited(since time.Time) []seenNA {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []seenNA
	for _, s := range w.seen {
		if !s.at.Before(since) && !s.na.Solicited {
			out = append(out, s)
		}
	}
	return out
}

// checkNA holds what the client saw since since to keepalived's
// unsolicited NA: from the VIP, hop limit 255, override set, the new
// master's MAC as target link-layer address, at least n of them.
func checkNA(t *testing.T, w *naWatcher, since time.Time, mac string, n int) {
	t.Helper()
	var got []seenNA
	waitUntil(t, fmt.Sprintf("%d unsolicited neighbour advertisements", n), 3*time.Second, func() bool {
		got = w.unsolicited(since)
		return len(got) >= n
	})
	for _, s := range got {
		var tlla string
		for _, o := range s.na.Options {
			if l, ok := o.(*ndp.LinkLayerAddress); ok && l.Direction == ndp.Target {
				tlla = l.Addr.String()
			}
		}
		if s.src != netip.MustParseAddr(vip6) || s.hopLimit != 255 || !s.na.Override || tlla != mac {
			t.Fatalf("neighbour advertisement from %v, hop limit %d, override %v, target MAC %q: want from the VIP, 255, set, %s",
				s.src, s.hopLimit, s.na.Override, tlla, mac)
		}
	}
}

// TestInterop6KeepalivedMasterOursBackup: keepalived (priority 150) is the
// IPv6 master, we follow; SIGKILL (no adverts) and SIGTERM (priority 0) make
// us take over within Master_Down_Interval and Skew_Time, our unsolicited
// NAs reach the client and move its neighbour entry to our MAC.
func TestInterop6KeepalivedMasterOursBackup(t *testing.T) {
	t.Parallel()
	l := buildLab(t, true)
	w := watchNA(t, l.cli)
	ka := keepalived.Start(t, l.ka, kaInstance6(150, "MASTER"))
	waitUntil(t, "keepalived master", 10*time.Second, func() bool { return hasVIP6(t, l.ka) })
	o := startOurs(t, l.ours, ourConfig6(100))
	waitUntil(t, "our backup follows keepalived", 5*time.Second, func() bool {
		st := o.in.Status()
		return st.State == vrrp.StateBackup && st.MasterAddr == kaLL && st.MasterPriority == 150
	})
	time.Sleep(5 * fastIntvl)
	if st := o.in.Status(); st.State != vrrp.StateBackup || hasVIP6(t, l.ours) || st.Counters.AdvertsReceived < 3 || st.Counters.Drops["checksum"] != 0 {
		t.Fatalf("not a quiet backup: %+v", st)
	}
	poke6(t, l.cli)
	if m := neighMAC6(t, l.cli); m != kaMAC {
		t.Fatalf("client neighbour for the VIP %q, want keepalived's %s", m, kaMAC)
	}

	killed := time.Now()
	ka.Signal(syscall.SIGKILL)
	mdi := masterDown(3, 100, fastIntvl)
	waitUntil(t, "takeover after SIGKILL", mdi+slack, func() bool { return o.state() == vrrp.StateMaster })
	at := o.waitEntered(t, vrrp.StateMaster, killed)
	took := at.Sub(killed)
	t.Logf("IPv6 v3 0.1s SIGKILL failover to xlb: %v (Master_Down_Interval %v)", took, mdi)
	if took < mdi-fastIntvl-50*time.Millisecond {
		t.Fatalf("took over after %v, before Master_Down_Interval %v minus one interval", took, mdi)
	}
	if !hasVIP6(t, l.ours) {
		t.Fatal("master without the VIP")
	}
	checkNA(t, w, killed, ourMAC, 5)
	waitUntil(t, "client neighbour moves to our MAC", 3*time.Second, func() bool { return neighMAC6(t, l.cli) == ourMAC })

	// keepalived comes back with the higher priority and preempts us.
	ka = keepalived.Start(t, l.ka, kaInstance6(150, "BACKUP"))
	waitUntil(t, "keepalived preempts", 10*time.Second, func() bool { return o.state() == vrrp.StateBackup && hasVIP6(t, l.ka) })
	waitUntil(t, "our VIP removed", time.Second, func() bool { return !hasVIP6(t, l.ours) })
	waitUntil(t, "client neighbour back at keepalived's MAC", 3*time.Second, func() bool { return neighMAC6(t, l.cli) == kaMAC })

	termed := time.Now()
	ka.Signal(syscall.SIGTERM)
	sk := skew(3, 100, fastIntvl)
	waitUntil(t, "takeover after SIGTERM", sk+slack, func() bool { return o.state() == vrrp.StateMaster })
	at = o.waitEntered(t, vrrp.StateMaster, termed)
	t.Logf("IPv6 v3 0.1s SIGTERM failover to xlb: %v (Skew_Time %v)", at.Sub(termed), sk)
	if o.in.Status().Counters.PriorityZeroReceived == 0 {
		t.Fatal("no priority-0 advert counted")
	}
}

// TestInterop6OursMasterKeepalivedBackup: the reverse roles. keepalived
// follows our IPv6 adverts; when our link goes down (no priority 0 gets out)
// it takes over within Master_Down_Interval; we preempt it back; when we
// shut down (priority 0) it takes over within Skew_Time.
func TestInterop6OursMasterKeepalivedBackup(t *testing.T) {
	t.Parallel()
	l := buildLab(t, true)
	w := watchNA(t, l.cli)
	o := startOurs(t, l.ours, ourConfig6(150))
	waitUntil(t, "we become master alone", 10*time.Second, func() bool { return o.state() == vrrp.StateMaster })
	checkNA(t, w, time.Time{}, ourMAC, 5)
	ka := keepalived.Start(t, l.ka, kaInstance6(100, "BACKUP"))
	waitUntil(t, "keepalived backup", 10*time.Second, func() bool { return ka.Entered("BACKUP") > 0 })

	// Steady state: exactly one master (us) for 20 Master_Down_Intervals.
	sentBefore := o.in.Status().Counters.AdvertsSent
	const steady = 2 * time.Second
	end := time.Now().Add(steady)
	for time.Now().Before(end) {
		if o.state() != vrrp.StateMaster || ka.Entered("MASTER") != 0 || hasVIP6(t, l.ka) {
			t.Fatalf("steady state broken: ours %v, keepalived log:\n%s", o.state(), ka.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := o.in.Status().Counters.AdvertsSent - sentBefore; n < uint64(steady/fastIntvl)*3/4 {
		t.Fatalf("sent %d adverts in %v, want about %d", n, steady, steady/fastIntvl)
	}

	// Our link goes down: the adverts stop and no priority 0 gets out.
	l.ours.MustRun(t, "ip", "link", "set", "eth0", "down")
	down := time.Now() // the link is down by now: what follows is at most the real delay
	mdi := masterDown(3, 100, fastIntvl)
	waitUntil(t, "keepalived takes over after our link went down", mdi+slack, func() bool { return ka.Entered("MASTER") > 0 })
	t.Logf("IPv6 v3 0.1s keepalived takeover after xlb's link went down: <= %v (Master_Down_Interval %v)", time.Since(down), mdi)
	waitUntil(t, "keepalived holds the VIP", time.Second, func() bool { return hasVIP6(t, l.ka) })

	l.ours.MustRun(t, "ip", "link", "set", "eth0", "up")
	waitUntil(t, "we preempt keepalived back", 5*time.Second, func() bool {
		return o.state() == vrrp.StateMaster && hasVIP6(t, l.ours) && !hasVIP6(t, l.ka)
	})

	left := time.Now()
	o.stop(t)
	if hasVIP6(t, l.ours) {
		t.Fatal("VIP left behind after shutdown")
	}
	sk := skew(3, 100, fastIntvl)
	waitUntil(t, "keepalived takes over after our priority 0", sk+slack, func() bool { return ka.Entered("MASTER") > 1 })
	t.Logf("IPv6 v3 0.1s keepalived takeover after xlb's shutdown: <= %v (Skew_Time %v)", time.Since(left), sk)
}

// TestInterop6Unicast: IPv6 unicast_src_ip/unicast_peer (ULAs, not
// link-local) on both sides; keepalived follows us and takes over when we
// leave.
func TestInterop6Unicast(t *testing.T) {
	t.Parallel()
	l := buildLab(t, true)
	cfg := ourConfig6(150)
	cfg.UnicastSrc = netip.MustParseAddr("fd00:99::1")
	cfg.UnicastPeers = []netip.Addr{netip.MustParseAddr("fd00:99::2")}
	o := startOurs(t, l.ours, cfg)
	waitUntil(t, "we become master", 10*time.Second, func() bool { return o.state() == vrrp.StateMaster })
	k := kaInstance6(100, "BACKUP")
	k.UnicastSrc, k.UnicastPeers = "fd00:99::2", []string{"fd00:99::1"}
	ka := keepalived.Start(t, l.ka, k)
	waitUntil(t, "keepalived backup", 10*time.Second, func() bool { return ka.Entered("BACKUP") > 0 })
	time.Sleep(time.Second)
	if ka.Entered("MASTER") != 0 || o.state() != vrrp.StateMaster {
		t.Fatalf("keepalived did not follow our unicast adverts")
	}
	left := time.Now()
	o.stop(t)
	waitUntil(t, "keepalived takes over", skew(3, 100, fastIntvl)+slack, func() bool { return ka.Entered("MASTER") > 0 })
	t.Logf("IPv6 unicast keepalived takeover after xlb's shutdown: <= %v", time.Since(left))
}

// TestTwoXLBDirectors6: two of our IPv6 instances: the VIP and the client's
// neighbour entry (by our NAs) move on failover, both ways, and an abrupt
// loss of the master is noticed within Master_Down_Interval.
func TestTwoXLBDirectors6(t *testing.T) {
	t.Parallel()
	l := buildLab(t, true)
	a := startOurs(t, l.ours, ourConfig6(150))
	waitUntil(t, "a master", 10*time.Second, func() bool { return a.state() == vrrp.StateMaster })
	bcfg := ourConfig6(100)
	bcfg.Name = "VI_XLB_B"
	b := startOurs(t, l.ka, bcfg)
	waitUntil(t, "b follows a", 5*time.Second, func() bool { return b.in.Status().MasterAddr == ourLL })
	poke6(t, l.cli)
	if m := neighMAC6(t, l.cli); m != ourMAC {
		t.Fatalf("client resolved the VIP to %q, want %s", m, ourMAC)
	}
	// a's link goes down: b takes over when a's adverts stop.
	l.ours.MustRun(t, "ip", "link", "set", "eth0", "down")
	down := time.Now() // the link is down by now: what follows is at most the real delay
	mdi := masterDown(3, 100, fastIntvl)
	waitUntil(t, "b takes over", mdi+slack, func() bool { return b.state() == vrrp.StateMaster })
	at := b.waitEntered(t, vrrp.StateMaster, down)
	t.Logf("IPv6 xlb to xlb takeover after the master's link went down: %v (Master_Down_Interval %v)", at.Sub(down), mdi)
	// a's last advert left up to one interval before the link went down,
	// and the command returns a little after it did.
	if took := at.Sub(down); took < mdi-fastIntvl-100*time.Millisecond {
		t.Fatalf("took over after %v, before Master_Down_Interval %v minus one interval", took, mdi)
	}
	waitUntil(t, "client follows to b", 3*time.Second, func() bool { return neighMAC6(t, l.cli) == kaMAC })
	l.ours.MustRun(t, "ip", "link", "set", "eth0", "up")
	waitUntil(t, "a preempts back", 5*time.Second, func() bool {
		return a.state() == vrrp.StateMaster && b.state() == vrrp.StateBackup && hasVIP6(t, l.ours) && !hasVIP6(t, l.ka)
	})
	waitUntil(t, "client follows back to a", 3*time.Second, func() bool { return neighMAC6(t, l.cli) == ourMAC })
	left := time.Now()
	a.stop(t)
	waitUntil(t, "b takes over after a's priority 0", skew(3, 100, fastIntvl)+slack, func() bool { return b.state() == vrrp.StateMaster })
	at = b.waitEntered(t, vrrp.StateMaster, left)
	t.Logf("IPv6 xlb to xlb takeover after the master's shutdown: %v (Skew_Time %v)", at.Sub(left), skew(3, 100, fastIntvl))
}

// forger sends hand-made IPv6 VRRP adverts from the client's namespace.
type forger struct {
	t  *testing.T
	ns *testutil.NetNS
}

// send sends an advert for VRID 51 with the VIP, priority 254, from src to
// dst with the given hop limit, sealed correctly for that source and
// destination, three times.
func (f forger) send(version uint8, src, dst string, hops int) {
	f.t.Helper()
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	a := vrrp.Advert{Version: version, Type: vrrp.TypeAdvertisement, VRID: 51, Priority: 254, Count: 1,
		Interval: 10, Addrs: []netip.Addr{netip.MustParseAddr(vip6)}}
	msg := a.Seal(s, d)
	err := f.ns.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, vrrp.ProtoVRRP)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		errs := []error{
			unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifi.Index),
			unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, hops),
			unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, hops),
			unix.Bind(fd, &unix.SockaddrInet6{Addr: s.As16(), ZoneId: uint32(ifi.Index)}),
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		for range 3 {
			if err := unix.Sendto(fd, msg, 0, &unix.SockaddrInet6{Addr: d.As16(), ZoneId: uint32(ifi.Index)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		f.t.Fatalf("forge advert %s -> %s hop limit %d: %v", src, dst, hops, err)
	}
}

// TestForgedAdverts6: adverts that would win (priority 254) but arrive with
// hop limit 64, to another group or as VRRPv2 are refused and counted under
// their reason while our master holds; the same advert done right then
// wins, so the refusals were the checks'. It comes from a global address,
// as keepalived sends with a global mcast_src_ip: that must be heard.
func TestForgedAdverts6(t *testing.T) {
	t.Parallel()
	l := buildLab(t, true)
	o := startOurs(t, l.ours, ourConfig6(100))
	waitUntil(t, "we become master", 10*time.Second, func() bool { return o.state() == vrrp.StateMaster })
	f := forger{t, l.cli}
	for _, tc := range []struct {
		name      string
		version   uint8
		src, dst  string
		hops      int
		reason    string
		wantCount uint64
	}{
		{"hop limit 64", 3, cliLL, "ff02::12", 64, "ttl", 3},
		{"all-nodes group", 3, cliLL, "ff02::1", 255, "dest", 3},
		{"unicast to us in multicast mode", 3, cliLL, ourLL, 255, "dest", 6},
		{"VRRPv2 over IPv6", 2, cliLL, "ff02::12", 255, "version", 3},
	} {
		f.send(tc.version, tc.src, tc.dst, tc.hops)
		waitUntil(t, tc.name+" counted", 2*time.Second, func() bool {
			return o.in.Status().Counters.Drops[tc.reason] >= tc.wantCount
		})
		if st := o.in.Status(); st.State != vrrp.StateMaster || st.Counters.AdvertsReceived != 0 {
			t.Fatalf("%s: a forged advert was used: %+v", tc.name, st)
		}
		t.Logf("%s: refused and counted as %q", tc.name, tc.reason)
	}
	f.send(3, "fd00:99::10", "ff02::12", 255)
	waitUntil(t, "the well-formed advert from a global source wins", 2*time.Second, func() bool {
		st := o.in.Status()
		return st.State == vrrp.StateBackup && st.MasterAddr == "fd00:99::10" && st.MasterPriority == 254
	})
}
