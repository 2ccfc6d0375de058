package flowsync

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"xlb/lb"
	"xlb/loader"
	"xlb/test/testutil"
)

var (
	vip     = netip.MustParseAddr("192.168.1.30")
	service = loader.ServiceKey{VIP: vip, Port: 3306, Proto: lb.TCP}
	db1     = netip.MustParseAddr("192.168.1.10")
	db2     = netip.MustParseAddr("192.168.1.11")
	dbMAC   = []net.HardwareAddr{{2, 0, 0, 0, 0, 10}, {2, 0, 0, 0, 0, 11}}

	vip6     = netip.MustParseAddr("fd00:1::30")
	service6 = loader.ServiceKey{VIP: vip6, Port: 3306, Proto: lb.TCP}
	db61     = netip.MustParseAddr("fd00:1::10")
	db62     = netip.MustParseAddr("fd00:1::11")
)

// director loads a data plane whose backend ids start at base, so the
// directors' ids differ and only addresses can match flows up. pick chooses
// the Maglev table's backend for slot i (0 = db1, 1 = db2).
func director(t *testing.T, mac net.HardwareAddr, base uint32, pick func(i int) uint32) *loader.Dataplane {
	t.Helper()
	dp, err := loader.Load(mac, loader.Options{MaxFlows: 4096, FlowEvents: true, FlowInsertsPerCPU: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Close() })
	if err := dp.SetService(service, loader.Service{ID: 1}); err != nil {
		t.Fatal(err)
	}
	table := make([]uint32, dp.TableSize())
	for i := range table {
		table[i] = base + pick(i)
	}
	for i, ip := range []netip.Addr{db1, db2} {
		if err := dp.SetBackend(base+uint32(i), loader.Backend{ServiceID: 1, IP: ip, MAC: dbMAC[i], State: loader.BackendActive}); err != nil {
			t.Fatal(err)
		}
	}
	if err := dp.WriteMaglev(service, table); err != nil {
		t.Fatal(err)
	}
	return dp
}

func alternate(i int) uint32 { return uint32(i % 2) }

// forward runs a SYN and the next segment of client through dp's program
// (the flow is recorded on the second) and returns the MAC the second was
// sent to.
func forward(t *testing.T, dp *loader.Dataplane, mac net.HardwareAddr, client netip.AddrPort) net.HardwareAddr {
	t.Helper()
	var to net.HardwareAddr
	for _, ack := range []bool{false, true} {
		out := make([]byte, 128)
		dst := netip.AddrPortFrom(vip, 3306)
		if client.Addr().Is6() {
			dst = netip.AddrPortFrom(vip6, 3306)
		}
		opts := &ebpf.RunOptions{Data: testutil.TCPFrame(mac, client, dst, ack), DataOut: out}
		if ret, err := dp.Program().Run(opts); err != nil || ret != 3 {
			t.Fatalf("frame through the program: %d %v", ret, err)
		}
		to = net.HardwareAddr(opts.DataOut[0:6])
	}
	return to
}

func clientFlow(c netip.AddrPort) loader.FlowKey {
	return loader.FlowKey{Client: c, VIP: netip.AddrPortFrom(vip, 3306), Proto: lb.TCP}
}

// writeKey writes a key file the way an operator must: 0600, root's.
func writeKey(t testing.TB, secret string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "flowsync.key")
	if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func keyring(t testing.TB, secrets ...string) *Keyring {
	t.Helper()
	var paths []string
	for _, s := range secrets {
		paths = append(paths, writeKey(t, s))
	}
	r, err := LoadKeyring(paths)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// start runs a syncer for dp on h's eth0 until the test ends (or stop).
func start(t testing.TB, h *testutil.Host, dp *loader.Dataplane, opts Options) (s *Syncer, stop func()) {
	t.Helper()
	opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	var wait func()
	err := h.Do(func() error {
		iface, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		if s, err = New(dp, iface, opts); err != nil {
			return err
		}
		wait, err = s.Start(ctx)
		return err
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			wait()
		}
	}
	t.Cleanup(stop)
	return s, stop
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func flowTable(t testing.TB, dp *loader.Dataplane) map[loader.FlowKey]uint32 {
	t.Helper()
	m := map[loader.FlowKey]uint32{}
	if err := dp.Flows(func(k loader.FlowKey, id uint32) bool { m[k] = id; return true }); err != nil {
		t.Fatal(err)
	}
	return m
}

// A flow recorded by one director's program appears in the other's flow
// table, on the same backend address under the other's own id, both ways,
// while the two hold their keys in opposite order (mid-rotation): over
// IPv4, and on an IPv6-only segment (link-local addresses, the IPv6 group)
// with IPv6 flows.
func TestSyncBetweenDirectors(t *testing.T) {
	testutil.RequirePriv(t)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) { testSyncBetweenDirectors(t, tr) })
	}
}

func testSyncBetweenDirectors(t *testing.T, tr transport) {
	hs := tr.hosts(t, "fs", false)
	h1, h2 := hs[0], hs[1]
	dp1 := director(t, h1.MAC, 1, alternate)
	dp2 := director(t, h2.MAC, 101, alternate)
	client, flow := netip.MustParseAddr("192.168.1.100"), clientFlow
	if tr.group.Addr().Is6() {
		addService6(t, dp1, 1)
		addService6(t, dp2, 101)
		client, flow = netip.MustParseAddr("fd00:1::100"), clientFlow6
	}
	s1, _ := start(t, h1, dp1, Options{Group: tr.group, Keys: keyring(t, keyA, keyB), Peers: []netip.Addr{h2.Addr.Addr()}})
	s2, _ := start(t, h2, dp2, Options{Group: tr.group, Keys: keyring(t, keyB, keyA), Peers: []netip.Addr{h1.Addr.Addr()}})
	time.Sleep(200 * time.Millisecond) // multicast joins settle
	if src := s1.Status().Source; src != h1.Addr.Addr().String() {
		t.Fatalf("lvs1 sends from %s, want %s", src, h1.Addr.Addr())
	}

	for _, d := range []struct {
		name     string
		from, to *loader.Dataplane
		mac      net.HardwareAddr
		offset   int64
		port     uint16
		receiver *Syncer
	}{{"lvs1 to lvs2", dp1, dp2, h1.MAC, 100, 40000, s2}, {"lvs2 to lvs1", dp2, dp1, h2.MAC, -100, 41000, s1}} {
		for i := range 2 {
			c := netip.AddrPortFrom(client, d.port+uint16(i))
			forward(t, d.from, d.mac, c)
			want, ok, _ := d.from.Flow(flow(c))
			if !ok {
				t.Fatalf("%s: the program recorded no flow for %v", d.name, c)
			}
			waitUntil(t, d.name+": flow "+c.String(), func() bool {
				_, ok, _ := d.to.Flow(flow(c))
				return ok
			})
			if got, _, _ := d.to.Flow(flow(c)); int64(got) != int64(want)+d.offset {
				t.Fatalf("%s: flow %v on backend id %d, want %d (the same address)", d.name, c, got, int64(want)+d.offset)
			}
		}
		if st := d.receiver.Status(); len(st.Dropped) != 0 {
			t.Fatalf("%s: drops between genuine peers: %v", d.name, st.Dropped)
		}
	}
}

// transport is one family of flow sync's transport in the namespace tests:
// the hosts' addresses (IPv6: an IPv6-only segment, link-local addresses
// only), the group, and a source only a program on the receiver itself has.
type transport struct {
	name             string
	group            netip.AddrPort
	lvs1, lvs2, evil string
	local            netip.Addr
}

var transports = []transport{
	{"ipv4", DefaultGroup, "192.168.1.20/24", "192.168.1.21/24", "192.168.1.66/24", netip.MustParseAddr("127.0.0.2")},
	{"ipv6", DefaultGroup6, "fe80::20/64", "fe80::21/64", "fe80::66/64", netip.IPv6Loopback()},
}

// hosts puts lvs1, lvs2 and, with evil, a third host on a new segment.
func (tr transport) hosts(t *testing.T, tag string, evil bool) []*testutil.Host {
	t.Helper()
	seg := testutil.NewSegment(t, tag)
	hs := []*testutil.Host{seg.AddHost(t, "lvs1", tr.lvs1), seg.AddHost(t, "lvs2", tr.lvs2)}
	if evil {
		hs = append(hs, seg.AddHost(t, "evil", tr.evil))
	}
	return hs
}

// sendFrom sends datagrams from src (any address: bound non-locally) in h's
// namespace, out of eth0, with TTL or hop limit ttl.
func sendFrom(t *testing.T, h *testutil.Host, src netip.Addr, ttl int, dst netip.AddrPort, datagrams ...[]byte) {
	t.Helper()
	network, level := "udp4", unix.IPPROTO_IP
	opts := [][2]int{{unix.IP_FREEBIND, 1}, {unix.IP_TTL, ttl}, {unix.IP_MULTICAST_TTL, ttl}}
	if src.Is6() {
		network, level = "udp6", unix.IPPROTO_IPV6
		opts = [][2]int{{unix.IPV6_FREEBIND, 1}, {unix.IPV6_UNICAST_HOPS, ttl}, {unix.IPV6_MULTICAST_HOPS, ttl}}
	}
	err := h.Do(func() error {
		iface, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		mcastIf := dst.Addr().IsMulticast() && !src.IsLoopback()
		if mcastIf && src.Is6() {
			opts = append(opts, [2]int{unix.IPV6_MULTICAST_IF, iface.Index})
		}
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var errs []error
			err := c.Control(func(fd uintptr) {
				for _, o := range opts {
					errs = append(errs, unix.SetsockoptInt(int(fd), level, o[0], o[1]))
				}
				if mcastIf && src.Is4() {
					errs = append(errs, unix.SetsockoptIPMreqn(int(fd), level, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(iface.Index)}))
				}
			})
			return errors.Join(append(errs, err)...)
		}}
		bind := src
		if src.IsLinkLocalUnicast() {
			bind = src.WithZone("eth0")
		}
		pc, err := lc.ListenPacket(context.Background(), network, netip.AddrPortFrom(bind, 0).String())
		if err != nil {
			return err
		}
		defer pc.Close()
		to := net.UDPAddrFromAddrPort(dst)
		if dst.Addr().Is6() && (dst.Addr().IsLinkLocalUnicast() || dst.Addr().IsLinkLocalMulticast()) {
			to.Zone = "eth0"
		}
		for _, d := range datagrams {
			if _, err := pc.WriteTo(d, to); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Forged datagrams sent over the wire to a director whose only peer is lvs1,
// over each family's transport: each is refused and counted under its
// reason, and the director's flow table (with an established flow on db1
// that every forgery tries to move to db2) is left exactly as it was.
func TestForgedDatagramsRefused(t *testing.T) {
	testutil.RequirePriv(t)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) { testForgedDatagramsRefused(t, tr) })
	}
}

func testForgedDatagramsRefused(t *testing.T, tr transport) {
	hs := tr.hosts(t, "ff", true)
	h1, h2, h3 := hs[0], hs[1], hs[2]
	lvs1, lvs2, other := h1.Addr.Addr(), h2.Addr.Addr(), h3.Addr.Addr()
	dp2 := director(t, h2.MAC, 101, func(int) uint32 { return 0 })
	s2, _ := start(t, h2, dp2, Options{Group: tr.group, Keys: keyring(t, keyA), Peers: []netip.Addr{lvs1}})
	time.Sleep(200 * time.Millisecond)

	established := netip.MustParseAddrPort("192.168.1.100:40000")
	forward(t, dp2, h2.MAC, established)
	before := flowTable(t, dp2)
	if before[clientFlow(established)] != 101 {
		t.Fatalf("established flow not on db1: %v", before)
	}
	attack := []Entry{{Flow: clientFlow(established), Backend: db2}, flowTo(40001, db2)}
	now := time.Now()
	genuine := &peerSender{key: testKey(t, keyA), sender: lvs1, epoch: uint64(now.UnixNano())}
	wrong := &peerSender{key: testKey(t, keyB), sender: lvs1, epoch: 1}
	v1 := append([]byte("XLBS\x01\x01\x00\x00"), make([]byte, entryLen)...)
	g := tr.group

	sendFrom(t, h1, lvs1, 255, g, wrong.seal(t, now, attack...))
	sendFrom(t, h1, lvs1, 255, g, v1)
	sendFrom(t, h1, lvs1, 64, g, genuine.seal(t, now, attack...))
	sendFrom(t, h1, lvs1, 255, netip.AddrPortFrom(lvs2, g.Port()), genuine.seal(t, now, attack...))
	stolen := &peerSender{key: testKey(t, keyA), sender: other, epoch: 1}
	sendFrom(t, h3, other, 255, g, stolen.seal(t, now, attack...))
	sendFrom(t, h2, tr.local, 255, netip.AddrPortFrom(lvs2, g.Port()), genuine.seal(t, now, attack...))
	// A genuine datagram (a flow db1 already has here: no change), then the
	// same bytes again.
	real := genuine.seal(t, now, Entry{Flow: clientFlow(established), Backend: db1})
	sendFrom(t, h1, lvs1, 255, g, real, real)

	want := map[string]uint64{ReasonAuth: 1, ReasonMalformed: 1, ReasonTTL: 1, ReasonNotGroup: 1, ReasonNotPeer: 2, ReasonReplay: 1}
	waitUntil(t, "every forgery counted", func() bool {
		if maps.Equal(s2.Status().Dropped, want) {
			return true
		}
		t.Logf("dropped %v", s2.Status().Dropped)
		return false
	})
	if st := s2.Status(); st.Applied != 0 || st.Unchanged != 1 {
		t.Fatalf("genuine datagram: %+v", st)
	}
	if after := flowTable(t, dp2); !maps.Equal(before, after) {
		t.Fatalf("flow table changed: before %v, after %v", before, after)
	}
}

// A director that was away (its syncer stopped, as in an xlbd restart; its
// pinned table kept) asks for the table when it comes back, and a flow
// created meanwhile whose backend is not its own Maglev pick survives a
// failover to it: its program sends that flow to the peer's backend.
func TestBulkSyncAfterRestart(t *testing.T) {
	testutil.RequirePriv(t)
	seg := testutil.NewSegment(t, "fb")
	h1 := seg.AddHost(t, "lvs1", "192.168.1.20/24")
	h2 := seg.AddHost(t, "lvs2", "192.168.1.21/24")
	dp1 := director(t, h1.MAC, 1, func(int) uint32 { return 1 })   // lvs1 picks db2 (after a fail-back, say)
	dp2 := director(t, h2.MAC, 101, func(int) uint32 { return 0 }) // lvs2's table picks db1
	s1, _ := start(t, h1, dp1, Options{Keys: keyring(t, keyA), Peers: []netip.Addr{lvs2}, BulkCooldown: 100 * time.Millisecond})
	first, stop := start(t, h2, dp2, Options{Keys: keyring(t, keyA), Peers: []netip.Addr{lvs1}})
	waitUntil(t, "first start synced", func() bool { return first.Status().Synced })
	stop()

	var clients []netip.AddrPort
	for i := range 150 { // more than two datagrams' worth
		c := netip.AddrPortFrom(netip.MustParseAddr("192.168.2.1"), uint16(30000+i))
		forward(t, dp1, h1.MAC, c)
		clients = append(clients, c)
	}
	for _, c := range clients[:3] {
		if _, ok, _ := dp2.Flow(clientFlow(c)); ok {
			t.Fatalf("flow %v reached lvs2 while its syncer was stopped", c)
		}
	}

	s2, _ := start(t, h2, dp2, Options{Keys: keyring(t, keyA), Peers: []netip.Addr{lvs1}})
	select {
	case <-s2.Synced():
	case <-time.After(10 * time.Second):
		t.Fatalf("not synced after 10s: lvs2 %+v, lvs1 %+v", s2.Status(), s1.Status())
	}
	for _, c := range clients {
		if id, ok, _ := dp2.Flow(clientFlow(c)); !ok || id != 102 {
			t.Fatalf("flow %v after the bulk sync: backend id %d (%v), want 102 (db2)", c, id, ok)
		}
	}
	if st := s1.Status(); st.BulkDumps < 2 || st.BulkFlowsSent < uint64(len(clients)) {
		t.Fatalf("lvs1 dumps: %+v", st)
	}
	// Failover: lvs2 now forwards the client's next packet, to db2, not to
	// its own table's pick db1.
	if mac := forward(t, dp2, h2.MAC, clients[0]); mac.String() != dbMAC[1].String() {
		t.Fatalf("after failover the flow went to %s, want db2 %s", mac, dbMAC[1])
	}
}

// bigTable loads a director's data plane with n flows already in its table.
func bigTable(t testing.TB, mac net.HardwareAddr, base uint32, n int) *loader.Dataplane {
	t.Helper()
	return sizedTable(t, mac, base, n, max(65536, n))
}

// sizedTable is bigTable with a flow table of size entries.
func sizedTable(t testing.TB, mac net.HardwareAddr, base uint32, n, size int) *loader.Dataplane {
	t.Helper()
	dp, err := loader.Load(mac, loader.Options{MaxFlows: uint32(size), FlowEvents: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Close() })
	if err := dp.SetService(service, loader.Service{ID: 1}); err != nil {
		t.Fatal(err)
	}
	for i, ip := range []netip.Addr{db1, db2} {
		if err := dp.SetBackend(base+uint32(i), loader.Backend{ServiceID: 1, IP: ip, MAC: dbMAC[i], State: loader.BackendActive}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1 + byte(i>>16), byte(i >> 8), byte(i)}), 40000)
		if err := dp.SetFlow(clientFlow(c), base+uint32(i%2)); err != nil {
			t.Fatal(err)
		}
	}
	return dp
}

// A table dump of 50,000 flows arrives whole: its pace stays under the
// receiver's rate limit, so no datagram of it is refused, and it takes at
// least the time the pace allows. The test logs the rate reached.
func TestBulkSyncLargeTable(t *testing.T) {
	testutil.RequirePriv(t)
	const n = 50000
	seg := testutil.NewSegment(t, "fl")
	h1 := seg.AddHost(t, "lvs1", "192.168.1.20/24")
	h2 := seg.AddHost(t, "lvs2", "192.168.1.21/24")
	dp1, dp2 := bigTable(t, h1.MAC, 1, n), bigTable(t, h2.MAC, 101, 0)
	s1, _ := start(t, h1, dp1, Options{Keys: keyring(t, keyA)})
	began := time.Now()
	s2, _ := start(t, h2, dp2, Options{Keys: keyring(t, keyA)})
	select {
	case <-s2.Synced():
	case <-time.After(30 * time.Second):
		t.Fatalf("not synced after 30s: lvs2 %+v, lvs1 %+v", s2.Status(), s1.Status())
	}
	took := time.Since(began)
	st := s2.Status()
	if got := len(flowTable(t, dp2)); got != n || st.Applied != n || st.Dropped[ReasonRate] != 0 {
		t.Fatalf("after the dump lvs2 holds %d flows (applied %d, dropped %v), want %d", got, st.Applied, st.Dropped, n)
	}
	datagrams := (n + MaxEntries - 1) / MaxEntries
	t.Logf("%d flows (%d datagrams) synced in %s: %.0f flows/s; the pace allows %.0f datagrams/s; %d requests, %d datagrams lost",
		n, datagrams, took.Round(time.Millisecond), float64(n)/took.Seconds(), s2.opts.BulkRate, st.BulkRequests, st.BulkLost)
	if floor := time.Duration(float64(datagrams-16) / s2.opts.BulkRate * float64(time.Second)); took < floor {
		t.Fatalf("dump took %s, faster than its pace allows (%s): not paced", took, floor)
	}
}

// A joiner that cannot take a dump in as fast as it comes (here: a tiny
// socket buffer, and dumps asked at full speed) sees datagrams lost, asks
// again at a pace it can take, and ends up with the whole table.
func TestBulkSyncSlowReceiver(t *testing.T) {
	testutil.RequirePriv(t)
	const n = 20000
	seg := testutil.NewSegment(t, "fw")
	h1 := seg.AddHost(t, "lvs1", "192.168.1.20/24")
	h2 := seg.AddHost(t, "lvs2", "192.168.1.21/24")
	dp1, dp2 := bigTable(t, h1.MAC, 1, n), bigTable(t, h2.MAC, 101, 0)
	s1, _ := start(t, h1, dp1, Options{Keys: keyring(t, keyA), BulkRate: 1e6, BulkCooldown: 10 * time.Millisecond})
	s2, _ := start(t, h2, dp2, Options{Keys: keyring(t, keyA), BulkRate: 1e6, ReadBuffer: 64 << 10})
	select {
	case <-s2.Synced():
	case <-time.After(40 * time.Second):
		t.Fatalf("not synced after 40s: lvs2 %+v, lvs1 %+v", s2.Status(), s1.Status())
	}
	st := s2.Status()
	t.Logf("lvs2: %d requests, %d dump datagrams lost, %d flows applied; lvs1 sent %d dumps", st.BulkRequests, st.BulkLost, st.Applied, s1.Status().BulkDumps)
	if st.BulkLost == 0 || st.BulkRequests < 2 {
		t.Fatalf("the tiny buffer lost nothing (lost %d, requests %d): the test did not test a loss", st.BulkLost, st.BulkRequests)
	}
	if got := len(flowTable(t, dp2)); got != n {
		t.Fatalf("after the retries lvs2 holds %d flows, want %d", got, n)
	}
}

// A joiner asks for the tables only once its data plane can take them
// (Options.Ready): a dump that arrived while its backends were not usable
// yet (a fresh director resolving their MACs) would be dropped entry by
// entry, and the director would announce without the flows.
func TestBulkSyncWaitsForReady(t *testing.T) {
	testutil.RequirePriv(t)
	const n = 500
	seg := testutil.NewSegment(t, "fy")
	h1 := seg.AddHost(t, "lvs1", "192.168.1.20/24")
	h2 := seg.AddHost(t, "lvs2", "192.168.1.21/24")
	dp1, dp2 := bigTable(t, h1.MAC, 1, n), bigTable(t, h2.MAC, 101, 0)
	setState := func(st loader.BackendState) {
		for i, ip := range []netip.Addr{db1, db2} {
			if err := dp2.SetBackend(101+uint32(i), loader.Backend{ServiceID: 1, IP: ip, MAC: dbMAC[i], State: st}); err != nil {
				t.Fatal(err)
			}
		}
	}
	setState(loader.BackendDown)
	var ready atomic.Bool
	start(t, h1, dp1, Options{Keys: keyring(t, keyA)})
	s2, _ := start(t, h2, dp2, Options{Keys: keyring(t, keyA), Ready: ready.Load})
	time.Sleep(300 * time.Millisecond)
	if st := s2.Status(); st.BulkRequests != 0 || st.Synced {
		t.Fatalf("asked for the tables before the data plane was ready: %+v", st)
	}
	setState(loader.BackendActive)
	ready.Store(true)
	select {
	case <-s2.Synced():
	case <-time.After(10 * time.Second):
		t.Fatalf("not synced 10s after ready: %+v", s2.Status())
	}
	if got, st := len(flowTable(t, dp2)), s2.Status(); got != n || st.Applied != n {
		t.Fatalf("after the dump lvs2 holds %d flows (applied %d, dropped %v), want %d", got, st.Applied, st.Dropped, n)
	}
}

// A director that starts alone (no peer up) counts itself synced once no
// peer answered within AnswerWait, not after the whole BulkWait.
func TestJoinAlone(t *testing.T) {
	testutil.RequirePriv(t)
	seg := testutil.NewSegment(t, "fa")
	h := seg.AddHost(t, "lvs1", "192.168.1.20/24")
	dp := director(t, h.MAC, 1, alternate)
	s, _ := start(t, h, dp, Options{Keys: keyring(t, keyA), AnswerWait: 300 * time.Millisecond})
	if s.Status().Synced {
		t.Fatal("synced before anyone could answer")
	}
	select {
	case <-s.Synced():
	case <-time.After(5 * time.Second):
		t.Fatalf("alone and not synced after 5s (AnswerWait 300ms): %+v", s.Status())
	}
	if st := s.Status(); st.BulkRequests == 0 || !st.Synced {
		t.Fatalf("status: %+v", st)
	}
}

// BenchmarkBulkSync1M: a director joins a peer whose table holds 1M flows;
// the time until it counts itself synced (every dump datagram received and
// applied), at the default pace (BulkRate 2000 datagrams/s). The pace is the
// bound by design: a dump must not starve the peer's forwarding or overflow
// the joiner's socket. Reports the seconds, flows/s and the flows the
// joiner's table holds after it.
func BenchmarkBulkSync1M(b *testing.B) {
	testutil.RequirePriv(b)
	const n = 1000000
	seg := testutil.NewSegment(b, "fm")
	h1 := seg.AddHost(b, "lvs1", "192.168.1.20/24")
	h2 := seg.AddHost(b, "lvs2", "192.168.1.21/24")
	dp1 := bigTable(b, h1.MAC, 1, n)
	// The LRU table may evict a few entries while it is filled to its size:
	// what the peer holds is what there is to sync.
	peer := len(flowTable(b, dp1))
	start(b, h1, dp1, Options{Keys: keyring(b, keyA)})
	var took time.Duration
	var held, requests, lost int
	for range b.N {
		dp2 := sizedTable(b, h2.MAC, 101, 0, n)
		began := time.Now()
		s2, stop := start(b, h2, dp2, Options{Keys: keyring(b, keyA), AnswerWait: 10 * time.Second})
		select {
		case <-s2.Synced():
		case <-time.After(5 * time.Minute):
			b.Fatalf("not synced after 5 min: %+v", s2.Status())
		}
		took = time.Since(began)
		st := s2.Status()
		held, requests, lost = len(flowTable(b, dp2)), int(st.BulkRequests), int(st.BulkLost)
		b.Logf("joiner: %+v", st)
		stop()
		if held < peer*99/100 {
			b.Fatalf("joiner holds %d of the peer's %d flows after the sync: %+v", held, peer, s2.Status())
		}
	}
	b.ReportMetric(took.Seconds(), "sync-s")
	b.ReportMetric(float64(held)/took.Seconds(), "flows/s")
	b.ReportMetric(float64(held), "flows-held")
	b.ReportMetric(float64(peer), "peer-flows")
	b.ReportMetric(float64(requests), "requests")
	b.ReportMetric(float64(lost), "datagrams-lost")
}
