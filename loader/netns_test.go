package loader

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/vishvananda/netlink"

	"xlb/control/maglev"
	"xlb/lb"
	"xlb/test/testutil"
)

// TestDirectRoutingInNamespaces is the smoke test of the whole data path: a
// client, a director with xlb attached natively to its veth, and two backends
// that accept the VIP in the two ways LVS-DR users do, on one bridge.
func TestDirectRoutingInNamespaces(t *testing.T) {
	testutil.RequirePriv(t)
	lab := testutil.NewDRLab(t, "dr", testutil.DRSpec{Backends: testutil.DRBackends(testutil.AcceptOnLoopback, testutil.AcceptByRedirect)})
	vip, client, director := lab.VIP, lab.Client, lab.Director
	db1, db2 := lab.Backends[0], lab.Backends[1]
	service := ServiceKey{VIP: vip, Port: testutil.DRPort, Proto: lb.TCP}
	pinRoot := testutil.PinRoot(t, "dr")
	open := func() *Dataplane {
		t.Helper()
		dp, err := openIn(director, Options{PinRoot: pinRoot, MaxFlows: 65536})
		if err != nil {
			t.Fatalf("open data plane: %v", err)
		}
		return dp
	}
	dp := open()
	t.Cleanup(func() { dp.Close() })

	weights := map[string]uint32{"db1": 2, "db2": 1}
	if err := dp.SetService(service, Service{ID: 1}); err != nil {
		t.Fatal(err)
	}
	table, err := maglev.Build([]maglev.Backend{{ID: 1, Name: "192.168.1.10:3306", Weight: 2}, {ID: 2, Name: "192.168.1.11:3306", Weight: 1}}, dp.TableSize())
	if err != nil {
		t.Fatal(err)
	}
	if err := dp.WriteMaglev(service, table); err != nil {
		t.Fatal(err)
	}
	for id, h := range map[uint32]*testutil.Host{1: db1, 2: db2} {
		if err := dp.SetBackend(id, Backend{ServiceID: 1, IP: h.Addr.Addr(), MAC: h.MAC, State: BackendActive}); err != nil {
			t.Fatal(err)
		}
	}

	rxBefore := director.Stats(t).RxPackets
	const n = 200
	got := map[string]int{}
	for i := 0; i < n; i++ {
		c, err := testutil.Dial(client, lab.Service(), 20000+i)
		if err != nil {
			t.Fatalf("connection %d of %d through the VIP: %v", i+1, n, err)
		}
		got[c.Backend]++
		c.Close()
	}
	t.Logf("%d connections: %v", n, got)
	for name, w := range weights {
		want := float64(n) * float64(w) / 3
		if d := float64(got[name]) - want; d > 0.1*want || d < -0.1*want {
			t.Errorf("%s got %d connections, want %.0f +- 10%% (weight %d of 3)", name, got[name], want, w)
		}
	}
	svcCount, err := dp.ServiceCounter(1)
	if err != nil {
		t.Fatal(err)
	}
	// Direct server return: every frame the director received was client
	// traffic it forwarded, plus a little ARP. Replies (SYN-ACKs, greetings,
	// FINs: more than n frames) would show up here if they came back through.
	rx := director.Stats(t).RxPackets - rxBefore
	t.Logf("director received %d frames and forwarded %d", rx, svcCount.Packets)
	if svcCount.Packets < 3*n {
		t.Errorf("director forwarded %d frames for %d connections, want >= %d", svcCount.Packets, n, 3*n)
	}
	if extra := rx - svcCount.Packets; rx < svcCount.Packets || extra > 20 {
		t.Errorf("director received %d frames beyond the %d it forwarded: replies are not going direct", extra, svcCount.Packets)
	}

	t.Run("restart keeps established flows", func(t *testing.T) {
		long, err := testutil.Dial(client, lab.Service(), 30000)
		if err != nil {
			t.Fatal(err)
		}
		defer long.Close()
		if err := long.Echo("before"); err != nil {
			t.Fatal(err)
		}
		progBefore := xdpProgID(t, director)
		dp.Close() // the daemon exits: pins keep forwarding
		if err := long.Echo("while-down"); err != nil {
			t.Fatalf("forwarding stopped while no process held the data plane: %v", err)
		}
		dp = open()
		if id := xdpProgID(t, director); id == 0 || id == progBefore {
			t.Fatalf("reopen did not swap a new program into the pinned link (before %d, after %d)", progBefore, id)
		}
		if err := long.Echo("after"); err != nil {
			t.Fatalf("established connection broken by the restart: %v", err)
		}
		if flows, err := dp.FlowCount(); err != nil || flows < n {
			t.Fatalf("flow table after reopen holds %d flows (%v), want >= %d", flows, err, n)
		}
		if _, err := dp.Service(service); err != nil {
			t.Fatalf("service lost across restart: %v", err)
		}
		// What xlbctl sees: the pinned maps, without loading anything.
		view, err := OpenPinned("eth0", pinRoot)
		if err != nil {
			t.Fatal(err)
		}
		defer view.Close()
		if svcs, err := view.Services(); err != nil || svcs[service].ID != 1 {
			t.Fatalf("pinned view services: %v, %v", svcs, err)
		}
		if c, err := view.BackendCounter(1); err != nil || c.Packets == 0 {
			t.Fatalf("pinned view backend counter: %+v, %v", c, err)
		}
		if _, err := OpenPinned("eth9", pinRoot); !errors.Is(err, ErrNotPinned) {
			t.Fatalf("OpenPinned of an interface without xlb: %v, want ErrNotPinned", err)
		}
	})

	t.Run("detach removes everything", func(t *testing.T) {
		if err := dp.Detach(); err != nil {
			t.Fatal(err)
		}
		if id := xdpProgID(t, director); id != 0 {
			t.Fatalf("XDP program %d still attached after detach", id)
		}
		if _, err := os.Stat(filepath.Join(pinRoot, "eth0")); !os.IsNotExist(err) {
			t.Fatalf("pin directory left behind: %v", err)
		}
		if _, err := testutil.Dial(client, lab.Service(), 30001); err == nil {
			t.Fatalf("VIP still reachable through a detached director")
		}
	})
}

// openIn opens the data plane on eth0 in h's namespace.
func openIn(h *testutil.Host, opts Options) (*Dataplane, error) {
	var dp *Dataplane
	err := h.Do(func() (err error) {
		dp, err = Open("eth0", opts)
		return err
	})
	return dp, err
}

func xdpProgID(t *testing.T, h *testutil.Host) uint32 {
	t.Helper()
	var id uint32
	err := h.Do(func() error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		if x := l.Attrs().Xdp; x != nil && x.Attached {
			id = x.ProgId
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestDualStackInNamespaces: one program forwards an IPv4 and an IPv6
// service at once, in real kernels: the client finds the IPv6 VIP on the
// director by neighbour discovery, the director's XDP sends each connection
// to a backend holding the VIP on lo (IPv6 answers neighbour solicitations
// only for addresses of the receiving interface, so the backends need no
// arp_ignore equivalent), and the replies go direct.
func TestDualStackInNamespaces(t *testing.T) {
	testutil.RequirePriv(t)
	lab := testutil.NewDRLab(t, "ds", testutil.DRSpec{})
	client, director := lab.Client, lab.Director
	vip6 := netip.MustParseAddr("fd00:1::30")
	hosts6 := map[*testutil.Host]string{client: "fd00:1::100/64", director: "fd00:1::20/64",
		lab.Backends[0]: "fd00:1::10/64", lab.Backends[1]: "fd00:1::11/64"}
	ip6 := map[*testutil.Host]netip.Addr{}
	for h, a := range hosts6 {
		ip6[h] = h.EnableIPv6(t, a).Addr()
	}
	director.MustRun(t, "ip", "-6", "addr", "add", vip6.String()+"/128", "dev", "eth0", "nodad")
	for _, h := range lab.Backends {
		h.MustRun(t, "ip", "-6", "addr", "add", vip6.String()+"/128", "dev", "lo")
	}
	dp, err := openIn(director, Options{PinRoot: testutil.PinRoot(t, "ds"), MaxFlows: 65536})
	if err != nil {
		t.Fatalf("open data plane: %v", err)
	}
	t.Cleanup(func() { dp.Detach() })

	svc4 := ServiceKey{VIP: lab.VIP, Port: testutil.DRPort, Proto: lb.TCP}
	svc6 := ServiceKey{VIP: vip6, Port: testutil.DRPort, Proto: lb.TCP}
	for i, svc := range []ServiceKey{svc4, svc6} {
		id := uint32(i + 1)
		if err := dp.SetService(svc, Service{ID: id}); err != nil {
			t.Fatal(err)
		}
		a, b := 2*id-1, 2*id
		table, err := maglev.Build([]maglev.Backend{{ID: a, Name: "db1", Weight: 1}, {ID: b, Name: "db2", Weight: 1}}, dp.TableSize())
		if err != nil {
			t.Fatal(err)
		}
		if err := dp.WriteMaglev(svc, table); err != nil {
			t.Fatal(err)
		}
		for j, bid := range []uint32{a, b} {
			h := lab.Backends[j]
			ip := h.Addr.Addr()
			if svc.VIP.Is6() {
				ip = ip6[h]
			}
			if err := dp.SetBackend(bid, Backend{ServiceID: id, IP: ip, MAC: h.MAC, State: BackendActive}); err != nil {
				t.Fatal(err)
			}
		}
	}

	rxBefore := director.Stats(t).RxPackets
	const n = 100
	got := map[ServiceKey]map[string]int{svc4: {}, svc6: {}}
	for i := 0; i < n; i++ {
		for _, svc := range []ServiceKey{svc6, svc4} {
			c, err := testutil.Dial(client, netip.AddrPortFrom(svc.VIP, svc.Port), 21000+i)
			if err != nil {
				t.Fatalf("connection %d to %s: %v", i, svc, err)
			}
			if err := c.Echo("dual"); err != nil {
				t.Fatalf("connection %d to %s: %v", i, svc, err)
			}
			got[svc][c.Backend]++
			c.Close()
		}
	}
	t.Logf("%d connections per service: %v", n, got)
	for svc, per := range got {
		if per["db1"] < n/4 || per["db2"] < n/4 {
			t.Errorf("%s: connections per backend %v, want both backends used", svc, per)
		}
	}
	// Direct server return for both families: the director received the
	// clients' frames it forwarded and little else (ARP, neighbour
	// discovery).
	var forwarded uint64
	for id := uint32(1); id <= 2; id++ {
		c, err := dp.ServiceCounter(id)
		if err != nil {
			t.Fatal(err)
		}
		if c.Packets < 3*n {
			t.Errorf("service %d forwarded %d frames for %d connections, want >= %d", id, c.Packets, n, 3*n)
		}
		forwarded += c.Packets
	}
	rx := director.Stats(t).RxPackets - rxBefore
	if extra := rx - forwarded; rx < forwarded || extra > 40 {
		t.Errorf("director received %d frames beyond the %d it forwarded: replies are not going direct", extra, forwarded)
	}
	v6flows := 0
	if err := dp.Flows(func(k FlowKey, _ uint32) bool {
		if k.VIP.Addr() == vip6 {
			v6flows++
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if v6flows < n {
		t.Errorf("flow table holds %d IPv6 flows, want >= %d", v6flows, n)
	}
}
