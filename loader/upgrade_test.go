package loader

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"xlb/control/maglev"
	"xlb/lb"
	"xlb/test/testutil"
)

// prevBytes is v, a value of the current layout's type typ, in the previous
// build's layout of that type: what the previous build's daemon wrote.
func prevBytes(t *testing.T, cur, prev *ebpf.CollectionSpec, typ string, v any) []byte {
	t.Helper()
	var from, to *btf.Struct
	if err := cur.Types.TypeByName(typ, &from); err != nil {
		t.Fatal(err)
	}
	if err := prev.Types.TypeByName(typ, &to); err != nil {
		t.Fatal(err)
	}
	tr, err := translate(from, to)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, v); err != nil {
		t.Fatal(err)
	}
	out := make([]byte, to.Size)
	if err := tr(out, b.Bytes()); err != nil {
		t.Fatalf("%s %+v in the previous layout: %v", typ, v, err)
	}
	return out
}

// TestUpgradeAcrossABI: a director running the previous build (the last
// IPv4-only layout, see prev_test.go: 4-byte addresses where the union now
// is, backend fields moved, a renamed reason, a 4099-slot Maglev) forwards
// live connections and 100k more flows; the current build opens the same
// pins. Every connection survives (with two backends, a flow not carried or
// carried wrong lands on the other one, which resets it), the services,
// flows, backends and counters are carried as IPv4, and the pins are of the
// new ABI.
func TestUpgradeAcrossABI(t *testing.T) {
	testutil.RequirePriv(t)
	lab := testutil.NewDRLab(t, "up", testutil.DRSpec{})
	vip, client, director := lab.VIP, lab.Client, lab.Director
	service := ServiceKey{VIP: vip, Port: testutil.DRPort, Proto: lb.TCP}
	pinRoot := testutil.PinRoot(t, "up")
	t.Cleanup(func() { DetachPinned("eth0", pinRoot) })
	opts := Options{PinRoot: pinRoot, MaxFlows: 1 << 18}
	open := func(spec *ebpf.CollectionSpec) (*Dataplane, error) {
		var dp *Dataplane
		err := director.Do(func() (err error) {
			dp, err = openSpec("eth0", opts, spec)
			return err
		})
		return dp, err
	}

	// The previous build, configured through its own layout.
	prev := prevSpec(t)
	prevABI := abiOf(prev)
	old, err := open(prev)
	if err != nil {
		t.Fatalf("open the previous build: %v", err)
	}
	defer old.Close()
	// A spec per Open, as the daemon has: Open configures the one it gets.
	current := func() *ebpf.CollectionSpec {
		spec, err := loadXlb()
		if err != nil {
			t.Fatal(err)
		}
		return spec
	}
	cur := current()
	curABI := abiOf(cur)
	// The service as the previous daemon wrote it: owner, entry, then the
	// table in slot 1 and the flip to it.
	rawSvc, err := service.raw()
	if err != nil {
		t.Fatal(err)
	}
	prevSvc := prevBytes(t, cur, prev, "xlb_service_key", rawSvc.k4)
	if len(prevSvc) != 8 {
		t.Fatalf("the previous build's service key is %d bytes, want its IPv4-only 8", len(prevSvc))
	}
	if err := old.objs.XlbServiceKeys.Update(uint32(1), prevSvc, ebpf.UpdateAny); err != nil {
		t.Fatal(err)
	}
	if err := old.objs.XlbServices.Update(prevSvc, xlbXlbService{Id: 1}, ebpf.UpdateAny); err != nil {
		t.Fatal(err)
	}
	table, err := maglev.Build([]maglev.Backend{{ID: 1, Name: "db1", Weight: 1}, {ID: 2, Name: "db2", Weight: 1}}, old.TableSize())
	if err != nil {
		t.Fatal(err)
	}
	if old.TableSize() != 4099 {
		t.Fatalf("previous build has %d Maglev slots, want 4099", old.TableSize())
	}
	inner, err := old.innerTable(1*2 + 1)
	if err != nil {
		t.Fatal(err)
	}
	for slot, id := range table {
		if err := inner.Update(uint32(slot), id, ebpf.UpdateAny); err != nil {
			t.Fatal(err)
		}
	}
	inner.Close()
	if err := old.objs.XlbServices.Update(prevSvc, xlbXlbService{Id: 1, Slot: 1}, ebpf.UpdateAny); err != nil {
		t.Fatal(err)
	}
	hosts := map[uint32]*testutil.Host{1: lab.Backends[0], 2: lab.Backends[1]}
	for id, h := range hosts {
		raw, err := Backend{ServiceID: 1, IP: h.Addr.Addr(), MAC: h.MAC, State: BackendActive}.raw()
		if err != nil {
			t.Fatal(err)
		}
		if err := old.objs.XlbBackends.Update(id, prevBytes(t, cur, prev, "xlb_backend", raw), ebpf.UpdateAny); err != nil {
			t.Fatal(err)
		}
	}

	const nConns = 100
	conns := make([]*testutil.Conn, 0, nConns)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	perBackend := map[string]int{}
	for i := 0; i < nConns; i++ {
		c, err := testutil.Dial(client, lab.Service(), 21000+i)
		if err != nil {
			t.Fatalf("connection %d through the previous build: %v", i, err)
		}
		conns = append(conns, c)
		perBackend[c.Backend]++
		if err := c.Echo("hello"); err != nil {
			t.Fatalf("connection %d through the previous build: %v", i, err)
		}
	}
	if len(perBackend) != 2 {
		t.Fatalf("connections landed on %v, want both backends (else a wrong re-pick goes unseen)", perBackend)
	}

	// 100k more flows, as the previous build stores them.
	const nSynth = 100000
	flows := make([]FlowKey, nSynth)
	keys := make([][16]byte, nSynth)
	vals := make([]xlbXlbFlow, nSynth)
	for i := range keys {
		flows[i] = FlowKey{Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 40000), VIP: lab.Service(), Proto: lb.TCP}
		k, err := flows[i].raw()
		if err != nil {
			t.Fatal(err)
		}
		keys[i], vals[i] = [16]byte(prevBytes(t, cur, prev, "xlb_flow_key", k.k4)), xlbXlbFlow{BackendId: uint32(1 + i%2)}
	}
	if _, err := old.objs.XlbFlows.BatchUpdate(keys, vals, nil); err != nil {
		t.Fatal(err)
	}
	oldSvc, err := old.ServiceCounter(1)
	if err != nil {
		t.Fatal(err)
	}
	// An ARP reply to the director: counted as XLB_PASS_NOT_IPV4 by the
	// previous build, XLB_PASS_NOT_IP by this one.
	arp := serialize([]gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: lab.Backends[0].MAC, DstMAC: director.MAC, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: 2, SourceHwAddress: lab.Backends[0].MAC, SourceProtAddress: lab.Backends[0].Addr.Addr().AsSlice(), DstHwAddress: director.MAC, DstProtAddress: director.Addr.Addr().AsSlice()}})
	if ret, _, err := runXDP(old.Program(), arp); err != nil || ret != xdpPass {
		t.Fatalf("ARP through the previous build: verdict %d, %v", ret, err)
	}
	// The previous build's XLB_PASS_NOT_IPV4 is now XLB_PASS_NOT_IP.
	oldReasons := map[Reason]Counter{}
	for r, prevIndex := range map[Reason]uint32{PassNotIP: 1, PassOtherMAC: 0} {
		if oldReasons[r], err = sumPerCPU(old.objs.XlbReasons, prevIndex); err != nil {
			t.Fatal(err)
		}
	}
	if oldReasons[PassOtherMAC].Packets == 0 || oldReasons[PassNotIP].Packets == 0 {
		t.Fatalf("previous build counted %v: no frame for another MAC (broadcast ARP) or no unicast ARP: the reason translation would go unseen", oldReasons)
	}
	oldFlows := 0
	var k, v []byte
	for it := old.objs.XlbFlows.Iterate(); it.Next(&k, &v); {
		oldFlows++
	}
	if oldFlows < nSynth+nConns {
		t.Fatalf("previous build's flow table holds %d flows, want >= %d", oldFlows, nSynth+nConns)
	}
	old.Close() // the old daemon exits; its pins keep forwarding

	// xlbctl of the new build refuses the old pins by name, not by a missing map.
	if _, err := OpenPinned("eth0", pinRoot); !errors.Is(err, ErrOtherABI) || !strings.Contains(err.Error(), prevABI.String()) {
		t.Fatalf("OpenPinned of the previous build's pins: %v, want ErrOtherABI naming abi %s", err, prevABI)
	}

	// Traffic on every connection while the new build takes over.
	var broken atomic.Int32
	var echoes atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for round := 0; ; round++ {
			for i, c := range conns {
				select {
				case <-stop:
					return
				default:
				}
				if err := c.Echo(fmt.Sprintf("r%d", round)); err != nil {
					t.Errorf("connection %d broken during the upgrade: %v", i, err)
					broken.Add(1)
					return
				}
				echoes.Add(1)
			}
		}
	}()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	dp, err := open(current())
	took := time.Since(start)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	defer dp.Close()
	rep := dp.LastUpgrade()
	if rep == nil {
		t.Fatal("Open adopted the previous build's pins instead of upgrading them")
	}
	t.Logf("upgrade of %d flows took %v (Open %v); carried %v, dropped %v; %d echoes during it", oldFlows, rep.Took, took, rep.Carried, rep.Dropped, echoes.Load())
	if broken.Load() != 0 {
		t.Fatalf("%d connections broken by the upgrade", broken.Load())
	}
	for i, c := range conns {
		if err := c.Echo("after"); err != nil {
			t.Fatalf("connection %d (on %s) broken after the upgrade: %v", i, c.Backend, err)
		}
	}
	if !rep.Resampled || rep.From != prevABI || rep.To != curABI {
		t.Errorf("report %+v: want the Maglev tables resampled, from %s to %s", rep, prevABI, curABI)
	}
	if pinned, ok, err := readPinnedABI(dp.PinDir()); err != nil || !ok || pinned != dp.ABI() {
		t.Fatalf("pinned ABI %s (%t, %v), want %s", pinned, ok, err, dp.ABI())
	}
	if _, err := os.Stat(filepath.Join(dp.PinDir(), stagingDir)); !os.IsNotExist(err) {
		t.Fatalf("staging directory left behind: %v", err)
	}

	if n, err := dp.FlowCount(); err != nil || n < oldFlows {
		t.Fatalf("flow table holds %d flows (%v), want >= %d", n, err, oldFlows)
	}
	for _, i := range []int{0, 1, nSynth - 1} {
		got, ok, err := dp.Flow(flows[i])
		if err != nil || !ok || got != vals[i].BackendId {
			t.Errorf("flow %d: backend %d (%t, %v), want %d", i, got, ok, err, vals[i].BackendId)
		}
	}
	svcs, err := dp.Services()
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) != 1 || svcs[service] != (Service{ID: 1, Flags: 0}) {
		t.Errorf("services carried as %v, want %s id 1", svcs, service)
	}
	backends, err := dp.Backends()
	if err != nil {
		t.Fatal(err)
	}
	for id, h := range hosts {
		b := backends[id]
		if b.IP != h.Addr.Addr() || b.ServiceID != 1 || b.State != BackendActive || b.MAC.String() != h.MAC.String() {
			t.Errorf("backend %d carried as %+v, want %s %s service 1 active", id, b, h.Addr.Addr(), h.MAC)
		}
	}
	if svc, err := dp.ServiceCounter(1); err != nil || svc.Packets < oldSvc.Packets {
		t.Errorf("service counter %+v (%v), want >= %+v", svc, err, oldSvc)
	}
	reasons, err := dp.ReasonCounters()
	if err != nil {
		t.Fatal(err)
	}
	for r, c := range oldReasons {
		if reasons[r].Packets < c.Packets {
			t.Errorf("%s: %d after the upgrade, %d before (a renumbered reason not carried by name)", r, reasons[r].Packets, c.Packets)
		}
	}
	// New connections use the resampled table and the translated backends.
	for i := 0; i < 10; i++ {
		c, err := testutil.Dial(client, lab.Service(), 22000+i)
		if err != nil {
			t.Fatalf("new connection %d after the upgrade: %v", i, err)
		}
		c.Close()
	}
	// The IPv6 maps the upgrade created take IPv6 services and flows.
	svc6 := ServiceKey{VIP: netip.MustParseAddr("fd00:1::30"), Port: 3306, Proto: lb.TCP}
	flow6 := FlowKey{Client: netip.MustParseAddrPort("[fd00:1::100]:40000"), VIP: netip.AddrPortFrom(svc6.VIP, 3306), Proto: lb.TCP}
	if err := dp.SetService(svc6, Service{ID: 2}); err != nil {
		t.Fatalf("an IPv6 service after the upgrade: %v", err)
	}
	if err := dp.SetFlow(flow6, 3); err != nil {
		t.Fatalf("an IPv6 flow after the upgrade: %v", err)
	}
	if got, ok, err := dp.Flow(flow6); err != nil || !ok || got != 3 {
		t.Fatalf("IPv6 flow after the upgrade: backend %d (%t, %v), want 3", got, ok, err)
	}
	if err := dp.DeleteService(svc6); err != nil {
		t.Fatal(err)
	}
	// The daemon's first reconcile writes tables of the new size.
	full, err := maglev.Build([]maglev.Backend{{ID: 1, Name: "db1", Weight: 1}, {ID: 2, Name: "db2", Weight: 1}}, dp.TableSize())
	if err != nil {
		t.Fatal(err)
	}
	if err := dp.WriteMaglev(service, full); err != nil {
		t.Fatalf("write a Maglev table after the upgrade: %v", err)
	}
	view, err := OpenPinned("eth0", pinRoot)
	if err != nil {
		t.Fatalf("OpenPinned after the upgrade: %v", err)
	}
	view.Close()

	// A restart of the same build adopts: no second upgrade.
	dp.Close()
	again, err := open(current())
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.LastUpgrade() != nil {
		t.Fatalf("same-ABI restart upgraded: %+v", again.LastUpgrade())
	}
	if err := conns[0].Echo("adopted"); err != nil {
		t.Fatal(err)
	}

	// Same ABI, another --max-flows: the flows move to a table of the new
	// size (this used to refuse to start).
	again.Close()
	opts.MaxFlows = 1 << 19
	resized, err := open(current())
	if err != nil {
		t.Fatalf("open with another flow-table size: %v", err)
	}
	defer resized.Close()
	if r := resized.LastUpgrade(); r == nil || r.From != curABI || r.Carried["xlb_flows"] < oldFlows {
		t.Fatalf("resize report %+v, want an upgrade within abi %s carrying >= %d flows", r, curABI, oldFlows)
	}
	if resized.MaxFlows() != 1<<19 {
		t.Fatalf("flow table holds %d, want %d", resized.MaxFlows(), 1<<19)
	}
	for i, c := range conns {
		if err := c.Echo("resized"); err != nil {
			t.Fatalf("connection %d broken by the resize: %v", i, err)
		}
	}
	again = resized
	if err := again.Detach(); err != nil {
		t.Fatalf("detach after an upgrade: %v", err)
	}
}

func pinnedID(t *testing.T, path string) ebpf.MapID {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(path, nil)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer m.Close()
	info, err := m.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	return id
}

func pinNewMap(t *testing.T, path string, typ ebpf.MapType) ebpf.MapID {
	t.Helper()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: typ, KeySize: 4, ValueSize: 4, MaxEntries: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Pin(path); err != nil {
		t.Fatal(err)
	}
	return pinnedID(t, path)
}

// TestFinishUpgrade: a crash during an upgrade leaves one consistent set.
// Staged but not committed (no ABI in the staging directory): the old pins
// stay and the stage goes. Committed: the staged pins replace the old ones,
// the ABI last, and a map the new build dropped is unpinned.
func TestFinishUpgrade(t *testing.T) {
	testutil.RequirePriv(t)
	spec, err := loadXlb()
	if err != nil {
		t.Fatal(err)
	}
	for _, committed := range []bool{false, true} {
		t.Run(fmt.Sprintf("committed=%t", committed), func(t *testing.T) {
			dir := testutil.PinRoot(t, "finish")
			stage := filepath.Join(dir, stagingDir)
			if err := os.MkdirAll(stage, 0o700); err != nil {
				t.Fatal(err)
			}
			oldID := pinNewMap(t, filepath.Join(dir, "xlb_flows"), ebpf.Hash)
			goneID := pinNewMap(t, filepath.Join(dir, "xlb_gone"), ebpf.Hash)
			newID := pinNewMap(t, filepath.Join(stage, "xlb_flows"), ebpf.Hash)
			if committed {
				if err := pinABI(filepath.Join(stage, abiPin), abiOf(spec), spec); err != nil {
					t.Fatal(err)
				}
			}
			if err := finishUpgrade(dir); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(stage); !os.IsNotExist(err) {
				t.Fatalf("staging directory left: %v", err)
			}
			want := oldID
			if committed {
				want = newID
			}
			if got := pinnedID(t, filepath.Join(dir, "xlb_flows")); got != want {
				t.Fatalf("xlb_flows pinned is map %d, want %d (old %d, staged %d)", got, want, oldID, newID)
			}
			_, statErr := os.Stat(filepath.Join(dir, "xlb_gone"))
			if committed && !os.IsNotExist(statErr) {
				t.Fatalf("a map the new build dropped is still pinned: %v", statErr)
			}
			if !committed && pinnedID(t, filepath.Join(dir, "xlb_gone")) != goneID {
				t.Fatal("an uncommitted upgrade touched the old pins")
			}
			h, ok, err := readPinnedABI(dir)
			if err != nil || ok != committed || (committed && h != abiOf(spec)) {
				t.Fatalf("pinned ABI %s, %t, %v; want present=%t", h, ok, err, committed)
			}
		})
	}
}

// TestUpgradeRefused: pins that cannot be carried (here a flow table that
// is an array) are refused with ErrUpgradeRefused and what to do, and
// nothing pinned changes, nothing is attached.
func TestUpgradeRefused(t *testing.T) {
	testutil.RequirePriv(t)
	seg := testutil.NewSegment(t, "uref")
	director := seg.AddHost(t, "lvs", "192.168.1.20/24")
	pinRoot := testutil.PinRoot(t, "refuse")
	dir := filepath.Join(pinRoot, "eth0")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	oldID := pinNewMap(t, filepath.Join(dir, "xlb_flows"), ebpf.Array)
	dp, err := openIn(director, Options{PinRoot: pinRoot, MaxFlows: 1024})
	if err == nil {
		dp.Close()
	}
	if !errors.Is(err, ErrUpgradeRefused) || !strings.Contains(err.Error(), "xlbd detach") || !strings.Contains(err.Error(), "xlb_flows") {
		t.Fatalf("Open over an array flow table: %v; want ErrUpgradeRefused naming the map and `xlbd detach`", err)
	}
	if got := pinnedID(t, filepath.Join(dir, "xlb_flows")); got != oldID {
		t.Fatalf("refused upgrade replaced the pinned map (%d, was %d)", got, oldID)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("refused upgrade left pins behind: %v", entries)
	}
	if id := xdpProgID(t, director); id != 0 {
		t.Fatalf("refused upgrade attached program %d", id)
	}
}
