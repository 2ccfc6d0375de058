package control

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"

	"xlb/test/testutil"
)

// dropNeighbourAdverts makes h send no neighbour advertisements until the
// returned function is called.
func dropNeighbourAdverts(t *testing.T, h *testutil.Host) (restore func()) {
	t.Helper()
	h.MustRun(t, "nft", "add table ip6 xlbt { chain out { type filter hook output priority 0; policy accept; icmpv6 type nd-neighbor-advert counter drop; }; }")
	var once sync.Once
	restore = func() { once.Do(func() { h.MustRun(t, "nft", "delete table ip6 xlbt") }) }
	t.Cleanup(restore)
	return restore
}

func TestNeighboursIPv6(t *testing.T) {
	testutil.RequirePriv(t)
	seg := testutil.NewSegment(t, "n6")
	director := seg.AddHost(t, "lvs", "192.168.1.20/24")
	director.EnableIPv6(t, "fd00:1::20/64")
	backend := seg.AddHost(t, "db", "192.168.1.10/24")
	dbIP := backend.EnableIPv6(t, "fd00:1::10/64").Addr()
	director.MustRun(t, "ip", "-6", "neigh", "add", "fd00:1::50", "lladdr", "02:aa:bb:cc:dd:ee", "dev", "eth0", "nud", "permanent")
	n := openNeighbours(t, director, slog.New(slog.DiscardHandler))
	all := func(net.HardwareAddr) bool { return true }

	if mac, ok := n.Lookup(netip.MustParseAddr("fd00:1::50")); !ok || mac.String() != "02:aa:bb:cc:dd:ee" {
		t.Errorf("lookup in the IPv6 neighbour table: %s, %v", mac, ok)
	}
	if mac, ok := n.Lookup(dbIP); ok {
		t.Errorf("lookup of an address never resolved: %s", mac)
	}
	// The IPv4 table does not answer for an IPv6 address, nor the reverse.
	director.MustRun(t, "ip", "neigh", "add", "192.168.1.50", "lladdr", "02:aa:bb:cc:dd:ef", "dev", "eth0", "nud", "permanent")
	if mac, ok := n.Lookup(netip.MustParseAddr("192.168.1.50")); !ok || mac.String() != "02:aa:bb:cc:dd:ef" {
		t.Errorf("IPv4 lookup beside IPv6 entries: %s, %v", mac, ok)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	mac, err := n.Probe(ctx, dbIP, all)
	cancel()
	if err != nil || mac.String() != backend.MAC.String() {
		t.Errorf("probe by neighbour solicitation: %s, %v; want %s", mac, err, backend.MAC)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 500*time.Millisecond)
	_, err = n.Probe(ctx, netip.MustParseAddr("fd00:1::77"), all)
	cancel()
	if !errors.Is(err, ErrNoReply) {
		t.Errorf("probe of an address nobody has: %v, want ErrNoReply", err)
	}

	var iface *net.Interface
	if err := director.Do(func() (err error) { iface, err = net.InterfaceByName("eth0"); return err }); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ip   string
		want error
	}{
		{"fd00:1::11", nil},
		{"fd00:2::11", ErrNotOnLink},
		{"fe80::1", ErrNotOnLink}, // link-local: every interface has fe80::/64
		{"::ffff:192.168.1.11", nil},
	} {
		err := director.Do(func() error { return OnLink(iface, netip.MustParseAddr(tc.ip)) })
		if !errors.Is(err, tc.want) {
			t.Errorf("OnLink(%s) = %v, want %v", tc.ip, err, tc.want)
		}
	}
}

// With IPv6 off on the interface the probe fails with a reason (and IPv4
// keeps working); once IPv6 comes up, the next probe succeeds.
func TestNeighboursIPv6Off(t *testing.T) {
	testutil.RequirePriv(t)
	seg := testutil.NewSegment(t, "n6off")
	director := seg.AddHost(t, "lvs", "192.168.1.20/24")
	backend := seg.AddHost(t, "db", "192.168.1.10/24")
	dbIP := backend.EnableIPv6(t, "fd00:1::10/64").Addr()
	n := openNeighbours(t, director, slog.New(slog.DiscardHandler))
	all := func(net.HardwareAddr) bool { return true }
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := n.Probe(ctx, dbIP, all)
	cancel()
	if !errors.Is(err, ErrNoReply) {
		t.Fatalf("IPv6 probe with IPv6 off: %v, want ErrNoReply with a reason", err)
	}
	t.Logf("IPv6 off: %v", err)
	ctx, cancel = context.WithTimeout(context.Background(), time.Second)
	if mac, err := n.Probe(ctx, backend.Addr.Addr(), all); err != nil || !slices.Equal(mac, backend.MAC) {
		t.Errorf("IPv4 probe beside: %s, %v", mac, err)
	}
	cancel()
	director.EnableIPv6(t, "fd00:1::20/64")
	ctx, cancel = context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if mac, err := n.Probe(ctx, dbIP, all); err != nil || !slices.Equal(mac, backend.MAC) {
		t.Errorf("IPv6 probe after IPv6 came up: %s, %v", mac, err)
	}
}

// A host answers every solicitation for the backend with a forged
// advertisement naming the director's own MAC: refused and counted, the
// backend stays unresolved while that is the only answer. Then the backend
// answers: taken; then its advertisements are lost and the neighbour table
// flushed: the MAC is kept; and a peer director's MAC is never a backend's.
func TestMACTrackerIPv6(t *testing.T) {
	testutil.RequirePriv(t)
	seg := testutil.NewSegment(t, "t6")
	director := seg.AddHost(t, "lvs", "192.168.1.20/24")
	director.EnableIPv6(t, "fd00:1::20/64")
	db := seg.AddHost(t, "db", "192.168.1.10/24")
	dbIP := db.EnableIPv6(t, "fd00:1::10/64").Addr()
	peer := seg.AddHost(t, "lvs2", "192.168.1.21/24")
	peerIP := peer.EnableIPv6(t, "fd00:1::21/64").Addr()
	attacker := seg.AddHost(t, "atk", "192.168.1.66/24")
	attacker.EnableIPv6(t, "fd00:1::66/64")

	// The forger hears solicitations for the backend and answers each
	// with an advertisement naming the director's own MAC.
	var forger *ipv6.PacketConn
	err := attacker.Do(func() error {
		iface, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		pc, err := net.ListenPacket("ip6:ipv6-icmp", "::")
		if err != nil {
			return err
		}
		forger = ipv6.NewPacketConn(pc)
		var f ipv6.ICMPFilter
		f.SetAll(true)
		f.Accept(ipv6.ICMPTypeNeighborSolicitation)
		group, _ := ndp.SolicitedNodeMulticast(dbIP)
		return errors.Join(forger.SetICMPFilter(&f), forger.SetHopLimit(ndp.HopLimit),
			forger.JoinGroup(iface, &net.IPAddr{IP: group.AsSlice()}))
	})
	if err != nil {
		t.Fatal(err)
	}
	atkIndex := attackerIndex(t, attacker)
	var forged atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			k, _, from, err := forger.ReadFrom(buf)
			select {
			case <-stop:
				return
			default:
			}
			if err != nil {
				continue
			}
			m, err := ndp.ParseMessage(buf[:k])
			ns, ok := m.(*ndp.NeighborSolicitation)
			if err != nil || !ok || ns.TargetAddress != dbIP {
				continue
			}
			b, _ := ndp.MarshalMessage(&ndp.NeighborAdvertisement{Solicited: true, Override: true, TargetAddress: dbIP,
				Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: director.MAC}}})
			// No zone: the interface goes by index (see listenNDP).
			dst := &net.IPAddr{IP: from.(*net.IPAddr).IP}
			if _, err := forger.WriteTo(b, &ipv6.ControlMessage{HopLimit: ndp.HopLimit, IfIndex: atkIndex}, dst); err == nil {
				forged.Add(1)
			}
		}
	}()
	t.Cleanup(func() { close(stop); forger.Close(); wg.Wait() })

	restore := dropNeighbourAdverts(t, db)
	n := openNeighbours(t, director, slog.New(slog.DiscardHandler))
	var mu sync.Mutex
	var seen []string
	tr := startTracker(t, n, MACTrackerOptions{ProbeTimeout: 300 * time.Millisecond, RetryMin: 100 * time.Millisecond, RetryMax: 400 * time.Millisecond,
		Log: slog.New(slog.DiscardHandler), OnChange: func(_ netip.Addr, mac net.HardwareAddr) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, mac.String())
		}})
	tr.Track(map[netip.Addr]net.HardwareAddr{dbIP: nil})
	refused := func(r Refusal) uint64 { _, st := tr.Status(); return st.Refused[r.String()] }
	waitFor(t, 5*time.Second, "a forged advertisement refused", func() bool { return refused(RefusedOwn) >= 3 })
	if mac := tr.MAC(dbIP); mac != nil {
		t.Fatalf("with only forged advertisements the backend resolved to %s", mac)
	}
	restore()
	d := waitFor(t, 5*time.Second, "the backend's own advertisement taken", func() bool { return slices.Equal(tr.MAC(dbIP), db.MAC) })
	t.Logf("forged advertisements sent %d, refused %d; real MAC taken %s after the backend answered", forged.Load(), refused(RefusedOwn), d.Round(time.Millisecond))
	list, _ := tr.Status()
	if list[0].Source != SourceNDP && list[0].Source != SourceEvent && list[0].Source != SourceTable {
		t.Errorf("source %q", list[0].Source)
	}

	// A connection attempt (refused) gives the kernel an entry, as the
	// health checks do in xlbd, so that the flush deletes one.
	err = director.Do(func() error {
		c, err := net.DialTimeout("tcp6", netip.AddrPortFrom(dbIP, 9).String(), time.Second)
		if err == nil {
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := n.Lookup(dbIP); !ok {
		t.Fatalf("no kernel neighbour entry for %s after connecting", dbIP)
	}
	dropNeighbourAdverts(t, db)
	director.MustRun(t, "ip", "-6", "neigh", "flush", "dev", "eth0")
	waitFor(t, 5*time.Second, "failed attempts", func() bool { l, _ := tr.Status(); return l[0].Failures >= 2 })
	if got := tr.MAC(dbIP); !slices.Equal(got, db.MAC) {
		t.Fatalf("lost advertisements and a flush: MAC %s, want %s kept", got, db.MAC)
	}

	// The peer's address resolves to the peer's MAC; a backend entry with
	// that MAC is then dropped and refused.
	tr.SetPeers([]netip.Addr{peerIP})
	waitFor(t, 5*time.Second, "the peer resolved", func() bool {
		l, _ := tr.Status()
		return len(l) == 2 && slices.Equal(l[1].MAC, peer.MAC)
	})
	director.MustRun(t, "ip", "-6", "neigh", "replace", dbIP.String(), "lladdr", peer.MAC.String(), "dev", "eth0", "nud", "reachable")
	waitFor(t, 5*time.Second, "the peer's MAC refused for a backend", func() bool { return refused(RefusedPeer) >= 1 })
	if got := tr.MAC(dbIP); !slices.Equal(got, db.MAC) {
		t.Errorf("after a neighbour entry with the peer's MAC: %s, want %s kept", got, db.MAC)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(seen, []string{db.MAC.String()}) {
		t.Errorf("MACs handed on: %v, want only %s", seen, db.MAC)
	}
}

func attackerIndex(t *testing.T, h *testutil.Host) int {
	var idx int
	if err := h.Do(func() error {
		iface, err := net.InterfaceByName("eth0")
		if err == nil {
			idx = iface.Index
		}
		return err
	}); err != nil {
		t.Error(err)
	}
	return idx
}
