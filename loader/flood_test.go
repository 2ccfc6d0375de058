package loader

import (
	"bytes"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestHashSeed: with a seed of its own the program picks as the Go twin
// predicts for that seed, and not as the public default seed would.
func TestHashSeed(t *testing.T) {
	const seed = 0x5eed1234
	f := newFixtureWith(t, Options{MaxFlows: 4096, HashSeed: seed})
	def := newFixture(t)
	for _, c := range []struct {
		svc ServiceKey
		syn func(sport uint16) pkt
	}{
		{mysqlSvc, func(sport uint16) pkt { return synTo(3306, sport) }},
		// IPv6: the client address differs in each of its four hashed words.
		{mysql6Svc, func(sport uint16) pkt {
			p := syn6(3306, sport)
			a := p.src.As16()
			a[4*(sport%4)+3] ^= byte(sport >> 2)
			p.src = netip.AddrFrom16(a)
			return p
		}},
	} {
		differ := 0
		seeded, deflt := f.picker(c.svc), def.picker(c.svc)
		for sport := uint16(30000); sport < 30200; sport++ {
			p := c.syn(sport)
			want := seeded(p.flow())
			ret, out := f.run(p.build())
			if ret != xdpTX || !bytes.Equal(out, forwarded(p.build(), f.backends[want].mac)) {
				t.Fatalf("%s port %d: verdict %d to %x, the Go twin with seed %#x predicts backend %d", c.svc, sport, ret, out[:6], seed, want)
			}
			if want != deflt(p.flow()) {
				differ++
			}
		}
		// Two backends: about half of the flows move with another seed.
		if differ < 50 {
			t.Fatalf("%s: only %d of 200 flows picked differently from the default seed: the seed is not used", c.svc, differ)
		}
	}
}

// pinToOneCPU keeps the calling goroutine on one CPU, so that every test run
// spends the same per-CPU insert budget.
func pinToOneCPU(t *testing.T) {
	t.Helper()
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	var one unix.CPUSet
	for cpu := 0; cpu < 1024; cpu++ {
		if set.IsSet(cpu) {
			one.Set(cpu)
			break
		}
	}
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.SchedSetaffinity(0, &set) })
}

// floodSource is the i-th forged client: a distinct address and port.
func floodSource(i int) pkt {
	p := synTo(3306, uint16(1024+i%50000))
	p.src = netip.AddrFrom4([4]byte{172, 16 + byte(i/50000), byte(i >> 8), byte(i)})
	return p
}

// TestFloodKeepsEstablishedFlows: 100 established connections sit on
// backends that are not their Maglev pick (as after a backend failed and came
// back). A SYN flood from random sources writes nothing to the flow table;
// a flood of SYN+ACK pairs (which a forger can send blind) adds at most the
// per-CPU insert budget per second. Every established connection keeps its
// backend throughout.
func TestFloodKeepsEstablishedFlows(t *testing.T) {
	const (
		established = 100
		synFlood    = 20000
		pairFlood   = 3000
		budget      = 50
	)
	f := newFixtureWith(t, Options{MaxFlows: 4096, FlowInsertsPerCPU: budget})
	pinToOneCPU(t)
	conns := make([]pkt, established)
	onBackend := make([]uint32, established)
	pick := f.picker(mysqlSvc)
	for i := range conns {
		conns[i] = ackTo(3306, uint16(30000+i))
		onBackend[i] = 3 - pick(conns[i].flow()) // the other of backends 1 and 2
		if err := f.dp.SetFlow(conns[i].flow(), onBackend[i]); err != nil {
			t.Fatal(err)
		}
	}
	checkEstablished := func(when string) {
		t.Helper()
		for i, p := range conns {
			ret, out := f.run(p.build())
			if want := forwarded(p.build(), f.backends[onBackend[i]].mac); ret != xdpTX || !bytes.Equal(out, want) {
				t.Fatalf("%s: connection %d (verdict %d) reached %x, not its backend %d: broken", when, i, ret, out[:6], onBackend[i])
			}
		}
	}
	stats := func() map[FlowStat]Counter {
		t.Helper()
		c, err := f.dp.FlowCounters()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	count := func() int {
		t.Helper()
		n, err := f.dp.FlowCount()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	checkEstablished("before the flood")

	before := count()
	for i := 0; i < synFlood; i++ {
		if ret, _ := f.run(floodSource(i).build()); ret != xdpTX {
			t.Fatalf("flood SYN %d: verdict %d", i, ret)
		}
	}
	if n := count(); n != before {
		t.Fatalf("a SYN flood of %d changed the flow table from %d to %d entries", synFlood, before, n)
	}
	if got := stats()[FlowOpened].Packets; got != synFlood {
		t.Fatalf("opened %d flows, want %d", got, synFlood)
	}
	checkEstablished("after a SYN flood")

	start := time.Now()
	for i := synFlood; i < synFlood+pairFlood; i++ {
		syn := floodSource(i)
		ack := syn
		ack.ack = true
		f.run(syn.build())
		f.run(ack.build())
	}
	windows := int(time.Since(start)/time.Second) + 1
	s := stats()
	if s[FlowRecorded].Packets+s[FlowLimited].Packets != pairFlood {
		t.Fatalf("%d recorded + %d limited, want %d ACKs of opened flows", s[FlowRecorded].Packets, s[FlowLimited].Packets, pairFlood)
	}
	if max := uint64(budget * (windows + 1)); s[FlowRecorded].Packets > max {
		t.Fatalf("%d flows recorded in %d windows of a %d-insert budget", s[FlowRecorded].Packets, windows, budget)
	}
	if n := count(); n > before+budget*(windows+1) {
		t.Fatalf("flow table grew from %d to %d", before, n)
	}
	t.Logf("SYN+ACK flood of %d in %d window(s): %d recorded, %d refused", pairFlood, windows, s[FlowRecorded].Packets, s[FlowLimited].Packets)
	checkEstablished("after a SYN+ACK flood")
}
