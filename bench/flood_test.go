package bench

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"xlb/control/maglev"
	"xlb/lb"
	"xlb/loader"
	"xlb/test/testutil"
)

// TestSYNFloodKeepsConnections is issue 12's flood in namespaces: 100 live
// connections reach db2 while db1 is down; db1 returns, so about half of
// them are no longer their Maglev pick and live only by their flow-table
// entries; then the client floods SYNs from forged addresses at the live-frames
// generator's full rate for 10 s. Not one of the 100 may break.
func TestSYNFloodKeepsConnections(t *testing.T) {
	testutil.RequirePriv(t)
	const (
		conns     = 100
		floodFor  = 10 * time.Second
		perRound  = 100_000
		floodPort = 3306
	)
	lab := testutil.NewDRLab(t, "syn", testutil.DRSpec{})
	vip, client, director, db1, db2 := lab.VIP, lab.Client, lab.Director, lab.Backends[0], lab.Backends[1]
	// The generator transmits by XDP_TX too.
	lab.AttachPassToPort(t, client)

	dp, err := loader.Load(director.MAC, loader.Options{MaxFlows: 65536, HashSeed: 0x5eed5eed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Close() })
	svc := loader.ServiceKey{VIP: vip, Port: 3306, Proto: lb.TCP}
	if err := dp.SetService(svc, loader.Service{ID: 1}); err != nil {
		t.Fatal(err)
	}
	hosts := map[uint32]*testutil.Host{1: db1, 2: db2}
	var table []uint32
	// setUp makes the given backends the live ones, table first, as the
	// reconciler does.
	setUp := func(up ...uint32) {
		t.Helper()
		var mb []maglev.Backend
		for _, id := range up {
			mb = append(mb, maglev.Backend{ID: id, Name: hosts[id].Addr.Addr().String(), Weight: 1})
		}
		table, err = maglev.Build(mb, dp.TableSize())
		if err != nil {
			t.Fatal(err)
		}
		if err := dp.WriteMaglev(svc, table); err != nil {
			t.Fatal(err)
		}
		for id, h := range hosts {
			state := loader.BackendDown
			for _, u := range up {
				if u == id {
					state = loader.BackendActive
				}
			}
			if err := dp.SetBackend(id, loader.Backend{ServiceID: 1, IP: h.Addr.Addr(), MAC: h.MAC, State: state}); err != nil {
				t.Fatal(err)
			}
		}
	}
	setUp(1, 2)
	attachXDP(t, director.NetNS, "eth0", dp.Program())

	setUp(2) // db1 fails: every new connection goes to db2
	live := make([]*testutil.Conn, conns)
	for i := range live {
		c, err := testutil.Dial(client, netip.AddrPortFrom(vip, 3306), 32000+i)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
		if c.Backend != "db2" {
			t.Fatalf("connection %d reached %s while db1 was down", i, c.Backend)
		}
		if err := c.Echo("hello"); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		live[i] = c
	}
	setUp(1, 2) // db1 returns
	offPick := 0
	for i := range live {
		flow := loader.FlowKey{Client: netip.AddrPortFrom(client.Addr.Addr(), uint16(32000+i)), VIP: netip.AddrPortFrom(vip, 3306), Proto: lb.TCP}
		slot, err := dp.TableSlot(flow, 0)
		if err != nil {
			t.Fatal(err)
		}
		if table[slot] != 2 {
			offPick++
		}
	}
	if offPick < conns/5 {
		t.Fatalf("only %d of %d connections are off their Maglev pick: the flood would prove little", offPick, conns)
	}

	spec, err := loadTraffic()
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{"gen_flows": uint32(60000), "gen_base_port": uint16(1024), "gen_spoof": uint8(1)} {
		if err := spec.Variables[name].Set(v); err != nil {
			t.Fatalf("set %s: %v", name, err)
		}
	}
	var gen trafficObjects
	if err := spec.LoadAndAssign(&gen, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gen.Close() })
	syn := tcpFrameFlags(client.MAC, director.MAC, client.Addr.Addr(), vip, 1024, floodPort, 0x02)
	var ifindex int
	if err := client.Do(func() error {
		iface, err := net.InterfaceByName("eth0")
		if err == nil {
			ifindex = iface.Index
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	before, err := dp.FlowCounters()
	if err != nil {
		t.Fatal(err)
	}
	opened := func() uint64 {
		t.Helper()
		c, err := dp.FlowCounters()
		if err != nil {
			t.Fatal(err)
		}
		return c[loader.FlowOpened].Packets - before[loader.FlowOpened].Packets
	}
	// At least floodFor, and until the new-flow table (65536 here, as big as
	// the flow table) turned over twice: without the split, such a flood
	// would have replaced the flow table too. A busy machine slows the
	// generator; the bound keeps the test finite.
	const turnover = 2 * 65536
	start := time.Now()
	for time.Since(start) < floodFor || opened() < turnover {
		if time.Since(start) > 6*floodFor {
			t.Fatalf("only %d SYNs reached the director in %v: not a flood that turns the tables over", opened(), time.Since(start))
		}
		err := client.Do(func() error {
			_, err := gen.TrafficGen.Run(&ebpf.RunOptions{
				Data:      syn,
				Context:   xdpMD{DataEnd: uint32(len(syn)), IngressIfindex: uint32(ifindex)},
				Repeat:    perRound,
				Flags:     unix.BPF_F_TEST_XDP_LIVE_FRAMES,
				BatchSize: 64,
			})
			return err
		})
		if err != nil {
			t.Fatalf("flood: %v", err)
		}
	}
	elapsed := time.Since(start)
	n := opened()
	t.Logf("flood: %d SYNs from forged sources reached xlb in %v (%.0f/s); %d of %d connections off their pick",
		n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), offPick, conns)

	broken := 0
	for i, c := range live {
		if err := c.Echo("after the flood"); err != nil {
			t.Errorf("connection %d (from port %d) broken: %v", i, 32000+i, err)
			broken++
		}
	}
	if broken != 0 {
		t.Fatalf("%d of %d connections broken by the flood", broken, conns)
	}
}
