package daemon

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"xlb/control"
	"xlb/control/flowsync"
	"xlb/control/vrrp"
	"xlb/lb"
	"xlb/loader"
	"xlb/test/testutil"
)

// followLink, as xlbd runs it, follows a MAC change, a link down/up and a
// netdev deleted and re-created, from netlink events alone; the flow table
// (a flow written before) is there after all of them.
func TestFollowLink(t *testing.T) {
	testutil.RequirePriv(t)
	ns := testutil.NewNetNS(t, "follow")
	ns.MustRun(t, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "peer0")
	ns.MustRun(t, "ip", "link", "set", "peer0", "up")
	ns.MustRun(t, "ip", "link", "set", "eth0", "address", "02:00:00:00:00:01", "up")
	pinRoot := testutil.PinRoot(t, "follow")
	var dp *loader.Dataplane
	if err := ns.Do(func() (err error) {
		dp, err = loader.Open("eth0", loader.Options{PinRoot: pinRoot, MaxFlows: 1024})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	key := loader.FlowKey{Client: netip.MustParseAddrPort("192.0.2.9:40000"), VIP: netip.MustParseAddrPort("192.0.2.30:3306"), Proto: lb.TCP}
	if err := dp.SetFlow(key, 7); err != nil {
		t.Fatal(err)
	}
	logs := &testutil.SyncBuffer{}
	d := &Daemon{log: slog.New(slog.NewTextHandler(logs, nil))}
	p := &plane{plan: &ifacePlan{name: "eth0"}, dp: dp}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ns.Do(func() error { d.followLink(ctx, p); return nil })
	}()
	defer func() { cancel(); <-done }()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if ok() {
				return
			}
		}
		t.Fatalf("%s: not seen in 5 s; log:\n%s", what, logs.String())
	}
	attachedID := func() uint32 {
		out := ns.MustRun(t, "ip", "-o", "link", "show", "eth0")
		var id uint32
		if i := strings.Index(out, "prog/xdp id "); i >= 0 {
			fmt.Sscan(out[i+len("prog/xdp id "):], &id)
		}
		return id
	}
	flowKept := func() bool {
		found := false
		_ = dp.Flows(func(k loader.FlowKey, b uint32) bool { found = found || k == key && b == 7; return true })
		return found
	}
	// Let the subscription start before the first change.
	time.Sleep(200 * time.Millisecond)

	ns.MustRun(t, "ip", "link", "set", "eth0", "address", "02:00:00:00:00:02")
	waitFor("program reloaded with the new MAC", func() bool {
		return bytes.Equal(dp.MAC(), net.HardwareAddr{2, 0, 0, 0, 0, 2})
	})
	id := attachedID()
	if id == 0 || !flowKept() {
		t.Fatalf("after the MAC change: attached prog %d, flow kept %v", id, flowKept())
	}

	ns.MustRun(t, "ip", "link", "set", "eth0", "down")
	ns.MustRun(t, "ip", "link", "set", "eth0", "up")
	time.Sleep(300 * time.Millisecond)
	if got := attachedID(); got != id || !flowKept() {
		t.Errorf("link down/up changed the program (%d -> %d) or lost the flow (%v)", id, got, flowKept())
	}

	ns.MustRun(t, "ip", "link", "del", "eth0")
	waitFor("the interface reported gone", func() bool { return strings.Contains(logs.String(), "interface gone") })
	ns.MustRun(t, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "peer0")
	ns.MustRun(t, "ip", "link", "set", "peer0", "up")
	ns.MustRun(t, "ip", "link", "set", "eth0", "address", "02:00:00:00:00:02", "up")
	waitFor("program attached to the new netdev", func() bool { return attachedID() != 0 })
	if !flowKept() {
		t.Error("flow lost with the netdev")
	}
}

// After the director's netdev is deleted and created again (a new
// ifindex), the neighbour tracker follows the new one: a backend's MAC
// change, seen in the new netdev's neighbour table, reaches the data plane's
// backend entry.
func TestFollowLinkMovesNeighbours(t *testing.T) {
	testutil.RequirePriv(t)
	lab := testutil.NewDRLab(t, "nbr", testutil.DRSpec{Backends: testutil.DRBackends(testutil.AcceptOnLoopback), NoServers: true})
	director, db1 := lab.Director, lab.Backends[0]
	pinRoot := testutil.PinRoot(t, "nbr")
	logs := &testutil.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	var dp *loader.Dataplane
	var neigh *control.Neighbours
	if err := director.Do(func() error {
		var err error
		if dp, err = loader.Open("eth0", loader.Options{PinRoot: pinRoot, MaxFlows: 1024}); err != nil {
			return err
		}
		iface, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		neigh, err = control.OpenNeighbours(iface, log)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loader.DetachPinned("eth0", pinRoot); dp.Close() })
	defer neigh.Close()

	key := loader.ServiceKey{VIP: lab.VIP, Port: testutil.DRPort, Proto: lb.TCP}
	ip := db1.Addr.Addr()
	rec := control.New(dp, log)
	rec.SetHealth(key, ip, control.Health{Up: true, Reason: "test"})
	rec.SetDesired([]control.ServiceSpec{{Key: key, Backends: []control.BackendSpec{{IP: ip, Weight: 1}}}})
	macs := control.NewMACTracker(neigh, control.MACTrackerOptions{Log: log, OnChange: func(ip netip.Addr, mac net.HardwareAddr) {
		rec.SetMAC(ip, mac)
		if err := rec.Apply(); err != nil {
			t.Errorf("apply: %v", err)
		}
	}})
	macs.Track(map[netip.Addr]net.HardwareAddr{ip: nil})
	d := &Daemon{log: log}
	p := &plane{plan: &ifacePlan{name: "eth0"}, dp: dp, rec: rec, neigh: neigh, macs: macs}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); macs.Run(ctx) }()
	go func() { defer wg.Done(); neigh.Watch(ctx, macs.Observe) }()
	go func() {
		defer wg.Done()
		_ = director.Do(func() error { d.followLink(ctx, p); return nil })
	}()
	defer func() { cancel(); wg.Wait() }()

	planeMAC := func() net.HardwareAddr {
		bs, err := dp.Backends()
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bs {
			if b.IP == ip {
				return b.MAC
			}
		}
		return nil
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if ok() {
				return
			}
		}
		t.Fatalf("%s: not seen in 10 s; log:\n%s", what, logs.String())
	}
	waitFor("backend resolved", func() bool { return bytes.Equal(planeMAC(), db1.MAC) })

	lab.Unplug(t, director)
	waitFor("the interface reported gone", func() bool { return strings.Contains(logs.String(), "interface gone") })
	lab.ReplugDirector(t)
	waitFor("program attached to the new netdev", func() bool { return strings.Contains(logs.String(), "re-attached") })

	moved := net.HardwareAddr{0x02, 0, 0, 0, 0xaa, 0x10}
	db1.MustRun(t, "ip", "link", "set", "eth0", "address", moved.String())
	// The director's kernel learns it on the new netdev (as from an ARP
	// reply): the neighbour-table change the tracker must see, as an event
	// or in the table it lists when it moves to the new netdev.
	director.MustRun(t, "ip", "neigh", "replace", ip.String(), "lladdr", moved.String(), "dev", "eth0", "nud", "reachable")
	waitFor("the backend's new MAC in the data plane", func() bool { return bytes.Equal(planeMAC(), moved) })
}

// linkDirector is one director of TestFollowLinkMovesSyncAndVRRP: a data
// plane on its eth0 with one service, flow sync and a VRRP instance.
type linkDirector struct {
	host *testutil.Host
	dp   *loader.Dataplane
	sync *flowsync.Syncer
	vrrp *vrrp.Instance
}

var (
	linkVIP      = netip.MustParseAddrPort("192.168.1.30:3306")
	linkBackends = map[netip.Addr]net.HardwareAddr{
		netip.MustParseAddr("192.168.1.10"): {2, 0, 0, 0, 0, 10},
		netip.MustParseAddr("192.168.1.11"): {2, 0, 0, 0, 0, 11},
	}
)

// startLinkDirector opens h's director: its data plane (backends up, MACs
// known), flow sync accepting peer, and a VRRP v3 instance at prio (100 ms
// adverts), all running until ctx ends.
func startLinkDirector(t *testing.T, ctx context.Context, wg *sync.WaitGroup, h *testutil.Host, keys []string, peer netip.Addr, prio uint8, log *slog.Logger) *linkDirector {
	t.Helper()
	pinRoot := testutil.PinRoot(t, h.Name)
	ring, err := flowsync.LoadKeyring(keys)
	if err != nil {
		t.Fatal(err)
	}
	d := &linkDirector{host: h}
	cfg := vrrp.Config{Name: "VI_1", Interface: "eth0", VRID: 51, Priority: prio, Version: 3, AdvertInterval: 100 * time.Millisecond,
		InitialState: vrrp.StateBackup, VIPs: []vrrp.VIP{{Prefix: netip.PrefixFrom(linkVIP.Addr(), 32), Dev: "eth0"}}, McastGroup: vrrp.Group,
		GARPMasterDelay: 5 * time.Second, GARPMasterRepeat: 1, GARPMasterRefreshRepeat: 1}
	if err := h.Do(func() error {
		if d.dp, err = loader.Open("eth0", loader.Options{PinRoot: pinRoot, MaxFlows: 4096, FlowEvents: true}); err != nil {
			return err
		}
		iface, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		if d.sync, err = flowsync.New(d.dp, iface, flowsync.Options{Keys: ring, Peers: []netip.Addr{peer}, Log: log}); err != nil {
			return err
		}
		wait, err := d.sync.Start(ctx)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() { defer wg.Done(); wait() }()
		d.vrrp, err = vrrp.New(cfg, vrrp.Options{Logger: log.With("director", h.Name)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loader.DetachPinned("eth0", pinRoot); d.dp.Close() })
	wg.Add(1)
	go func() { defer wg.Done(); _ = d.vrrp.Run(ctx) }()

	key := loader.ServiceKey{VIP: linkVIP.Addr(), Port: linkVIP.Port(), Proto: lb.TCP}
	rec := control.New(d.dp, log)
	var backends []control.BackendSpec
	for ip, mac := range linkBackends {
		rec.SetHealth(key, ip, control.Health{Up: true, Reason: "test"})
		rec.SetMAC(ip, mac)
		backends = append(backends, control.BackendSpec{IP: ip, Weight: 1})
	}
	rec.SetDesired([]control.ServiceSpec{{Key: key, Backends: backends}})
	if err := rec.Apply(); err != nil {
		t.Fatal(err)
	}
	return d
}

// forward runs a new client's SYN and next segment through d's program:
// the program records the flow and reports it to flow sync.
func (d *linkDirector) forward(t *testing.T, client netip.AddrPort) loader.FlowKey {
	t.Helper()
	for _, ack := range []bool{false, true} {
		if ret, err := d.dp.Program().Run(&ebpf.RunOptions{Data: testutil.TCPFrame(d.host.MAC, client, linkVIP, ack)}); err != nil || ret != 3 {
			t.Fatalf("frame through %s's program: %d %v", d.host.Name, ret, err)
		}
	}
	return loader.FlowKey{Client: client, VIP: linkVIP, Proto: lb.TCP}
}

// A director's netdev deleted and created again (a new ifindex): flow sync
// and VRRP follow it with what they had. Flows the other director records
// reach its table again within a bound, its flow-sync counters go on, its
// VRRP instance hears the other's adverts and, the higher priority, takes
// the VIP back with adverts the other hears; never both masters for good.
func TestFollowLinkMovesSyncAndVRRP(t *testing.T) {
	testutil.RequirePriv(t)
	seg := testutil.NewSegment(t, "mv")
	h1 := seg.AddHost(t, "mv1", "192.168.1.20/24")
	h2 := seg.AddHost(t, "mv2", "192.168.1.21/24")
	logs := &testutil.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	key := filepath.Join(t.TempDir(), "flowsync.key")
	if err := os.WriteFile(key, []byte("follow-link-key-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	lvs1 := startLinkDirector(t, ctx, &wg, h1, []string{key}, h2.Addr.Addr(), 100, log)
	lvs2 := startLinkDirector(t, ctx, &wg, h2, []string{key}, h1.Addr.Addr(), 150, log)
	d := &Daemon{log: log}
	p := &plane{plan: &ifacePlan{name: "eth0"}, dp: lvs2.dp, sync: lvs2.sync}
	wg.Add(1)
	go func() { defer wg.Done(); _ = h2.Do(func() error { d.followLink(ctx, p); return nil }) }()

	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})
	state := func(d *linkDirector) vrrp.State { return d.vrrp.Status().State }
	roles := func(m, b *linkDirector) func() bool {
		return func() bool { return state(m) == vrrp.StateMaster && state(b) == vrrp.StateBackup }
	}
	port := uint16(40000)
	// synced forwards a new client on lvs1 every 100 ms until one reaches
	// lvs2's table.
	synced := func() bool {
		port++
		f := lvs1.forward(t, netip.AddrPortFrom(netip.MustParseAddr("192.168.1.100"), port))
		for range 5 {
			if _, ok, _ := lvs2.dp.Flow(f); ok {
				return true
			}
			time.Sleep(20 * time.Millisecond)
		}
		return false
	}
	testutil.WaitFor(t, "lvs2 master, lvs1 backup", 5*time.Second, roles(lvs2, lvs1))
	testutil.WaitFor(t, "a flow of lvs1 in lvs2's table", 5*time.Second, synced)
	before := lvs2.sync.Status()
	sentBefore, heardBefore := lvs2.vrrp.Status().Counters.AdvertsSent, lvs1.vrrp.Status().Counters.AdvertsReceived

	seg.Unplug(t, h2)
	testutil.WaitFor(t, "lvs2's interface reported gone", 5*time.Second, func() bool { return strings.Contains(logs.String(), "interface gone") })
	testutil.WaitFor(t, "lvs1 master while lvs2 is unplugged", 5*time.Second, func() bool { return state(lvs1) == vrrp.StateMaster })
	heard2 := lvs2.vrrp.Status().Counters.AdvertsReceived
	seg.Plug(t, h2)
	took := testutil.WaitFor(t, "a new flow of lvs1 in the re-created netdev's director", 5*time.Second, synced)
	t.Logf("flow sync heard again %v after the netdev came back", took.Round(time.Millisecond))
	// lvs2, the higher priority, hears lvs1's adverts and preempts with
	// adverts lvs1 hears: without them both would stay master.
	took = testutil.WaitFor(t, "lvs2 master again, lvs1 backup", 5*time.Second, roles(lvs2, lvs1))
	t.Logf("VRRP roles restored %v after that", took.Round(time.Millisecond))
	after, v2, v1 := lvs2.sync.Status(), lvs2.vrrp.Status(), lvs1.vrrp.Status()
	if after.Applied <= before.Applied || after.Received <= before.Received || len(after.Dropped) != 0 {
		t.Errorf("flow sync counters did not go on: applied %d -> %d, received %d -> %d, dropped %v",
			before.Applied, after.Applied, before.Received, after.Received, after.Dropped)
	}
	if v2.Counters.AdvertsSent <= sentBefore || v1.Counters.AdvertsReceived <= heardBefore {
		t.Errorf("adverts: lvs2 sent %d -> %d, lvs1 heard %d -> %d", sentBefore, v2.Counters.AdvertsSent, heardBefore, v1.Counters.AdvertsReceived)
	}
	if v2.Counters.AdvertsReceived <= heard2 {
		t.Errorf("lvs2 heard no advert of lvs1's on the new netdev (%d before, %d after)", heard2, v2.Counters.AdvertsReceived)
	}
}
