package daemon

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"xlb/control"
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
