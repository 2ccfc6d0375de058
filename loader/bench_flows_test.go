package loader

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"xlb/lb"
)

// flowFrames builds frames of one template that differ in client address and
// port only: one per call of a one-by-one run, without a gopacket build each.
type flowFrames struct{ tmpl []byte }

func newFlowFrames(p pkt) flowFrames {
	p.dstMAC = benchMAC
	return flowFrames{tmpl: p.build()}
}

// frame is the template from client k (its IPv4 address and port); xlb
// never reads checksums, so they are left as the template's.
func (ff flowFrames) frame(k FlowKey) []byte {
	f := append([]byte(nil), ff.tmpl...)
	a := k.Client.Addr().As4()
	copy(f[14+12:14+16], a[:])
	binary.BigEndian.PutUint16(f[14+20:], k.Client.Port())
	return f
}

// benchClient is the i-th distinct client of the benchmarks' flows.
func benchClient(i int) FlowKey {
	return FlowKey{
		Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), uint16(1024+i%50000)),
		VIP:    netip.AddrPortFrom(vip, 3306), Proto: lb.TCP,
	}
}

// fillFlows records n distinct flows in d's flow table.
func fillFlows(b *testing.B, d *Dataplane, n int) {
	b.Helper()
	keys := make([]xlbXlbFlowKey, n)
	vals := make([]xlbXlbFlow, n)
	for i := range keys {
		keys[i] = rawFlow(benchClient(i)).k4
		vals[i] = xlbXlbFlow{BackendId: uint32(1 + i%2)}
	}
	if _, err := d.objs.XlbFlows.BatchUpdate(keys, vals, nil); err != nil {
		b.Fatalf("fill flow table: %v", err)
	}
}

// heldFlows lists the flows d's table holds. An LRU at capacity evicts in
// batches on insert, so this is read after the last insert.
func heldFlows(b *testing.B, d *Dataplane, n int) []FlowKey {
	b.Helper()
	var held []FlowKey
	if err := d.Flows(func(k FlowKey, _ uint32) bool { held = append(held, k); return true }); err != nil {
		b.Fatal(err)
	}
	if len(held) < n*9/10 {
		b.Fatalf("flow table holds %d flows after filling %d", len(held), n)
	}
	return held
}

// fillNewFlows fills the new-flow table to capacity with flows no benchmark
// frame uses, so every opening evicts one, as under a SYN flood.
func fillNewFlows(b *testing.B, d *Dataplane) {
	b.Helper()
	n := int(d.objs.XlbNewFlows.MaxEntries())
	keys := make([]xlbXlbFlowKey, n)
	vals := make([]xlbXlbFlow, n)
	for i := range keys {
		k := benchClient(i)
		k.Client = netip.AddrPortFrom(netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)}), k.Client.Port())
		keys[i], vals[i] = rawFlow(k).k4, xlbXlbFlow{BackendId: 1}
	}
	if _, err := d.objs.XlbNewFlows.BatchUpdate(keys, vals, nil); err != nil {
		b.Fatalf("fill new-flow table: %v", err)
	}
}

func flowStat(b *testing.B, d *Dataplane, s FlowStat) uint64 {
	b.Helper()
	c, err := d.FlowCounters()
	if err != nil {
		b.Fatal(err)
	}
	return c[s].Packets
}

// BenchmarkFlowPaths measures, in one run against the reflector, what the
// flow tables cost per packet:
//
//   - known flow, hot (one flow, repeated in the kernel) and cold: 1M flows
//     recorded, one per call in scrambled order (the cache- and TLB-miss
//     case), against the same calls cycling over 64 of them (a working set
//     that stays in cache and in the TLB): the difference is memory, not code;
//   - opening a flow (a SYN of an unknown flow: new-flow table insert) and
//     recording it (its ACK: clock read, flow-table insert, new-flow delete),
//     with both tables empty and with both full (1M flows; new-flow table at
//     capacity, so every opening evicts, as under a SYN flood);
//   - the SYN-flood rate one core sustains: 1e9 / the opening cost with the
//     tables full.
//
// One-per-call figures are turned into per-packet costs as in
// BenchmarkPerPacket: the hot known-flow cost plus the difference against
// the hot flow sent one per call in the same way; each one-per-call mean
// leaves out its slowest 1% (preemptions, see oneByOneTrimmedNs).
func BenchmarkFlowPaths(b *testing.B) {
	const flows = 1 << 20
	n := max(b.N, 1000)
	calls := min(n, 50_000)
	batch := min(calls, 10_000) // openings then their ACKs, within the new-flow table's capacity
	unlimited := Options{MaxFlows: flows, FlowInsertsPerCPU: 1 << 31}

	f := newBenchFixture(b, flows)
	empty, err := Load(benchMAC, unlimited)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { empty.Close() })
	full, err := Load(benchMAC, unlimited)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { full.Close() })
	for _, d := range []*Dataplane{empty, full} {
		setupBenchService(b, d)
	}
	fillFlows(b, full, flows)
	fillNewFlows(b, full)
	known := knownFrame(b, full)
	held := heldFlows(b, full, flows)

	refl := kernelNs(b, f.refl, known, n, xdpTX)
	hot := kernelNs(b, full.Program(), known, n, xdpTX)
	hotR1 := oneByOneTrimmedNs(b, full.Program(), calls, func(int) []byte { return known }, xdpTX)

	acks := newFlowFrames(ackTo(3306, 1))
	rng := rand.New(rand.NewPCG(12, 2026))
	perm := rng.Perm(len(held))
	untracked0 := flowStat(b, full, FlowUntracked)
	coldR1 := oneByOneTrimmedNs(b, full.Program(), calls, func(i int) []byte { return acks.frame(held[perm[i%len(perm)]]) }, xdpTX)
	warmR1 := oneByOneTrimmedNs(b, full.Program(), calls, func(i int) []byte { return acks.frame(held[perm[i%64]]) }, xdpTX)
	if got := flowStat(b, full, FlowUntracked) - untracked0; got != 0 {
		b.Fatalf("%d known-flow frames missed the flow table: not the known path", got)
	}

	syns := newFlowFrames(synTo(3306, 1))
	// openAndRecord opens batch flows from fresh clients one per call, then
	// sends each its ACK; it returns the per-call means of both.
	fresh := 1 << 22
	openAndRecord := func(d *Dataplane) (open, record float64) {
		var openSum, recSum float64
		for done := 0; done < calls; done += batch {
			first := fresh
			fresh += batch
			client := func(i int) FlowKey { return benchClient(first + i) }
			o0, r0 := flowStat(b, d, FlowOpened), flowStat(b, d, FlowRecorded)
			openSum += oneByOneTrimmedNs(b, d.Program(), batch, func(i int) []byte { return syns.frame(client(i)) }, xdpTX) * float64(batch)
			recSum += oneByOneTrimmedNs(b, d.Program(), batch, func(i int) []byte { return acks.frame(client(i)) }, xdpTX) * float64(batch)
			if o, r := flowStat(b, d, FlowOpened)-o0, flowStat(b, d, FlowRecorded)-r0; o != uint64(batch) || r != uint64(batch) {
				b.Fatalf("%d SYNs opened %d flows and their ACKs recorded %d: not the measured paths", batch, o, r)
			}
		}
		runs := float64(calls / batch * batch)
		return openSum / runs, recSum / runs
	}
	openEmpty, recEmpty := openAndRecord(empty)
	openFull, recFull := openAndRecord(full)

	per := func(r1 float64) float64 { return hot + (r1 - hotR1) }
	b.ReportMetric(refl, "reflector-ns/pkt")
	b.ReportMetric(hot, "known-hot-ns/pkt")
	b.ReportMetric(per(coldR1), "known-cold-1M-ns/pkt")
	b.ReportMetric(per(warmR1), "known-64-ns/pkt")
	b.ReportMetric(per(openEmpty), "open-empty-ns/pkt")
	b.ReportMetric(per(openFull), "open-full-ns/pkt")
	b.ReportMetric(per(recEmpty), "record-empty-ns/pkt")
	b.ReportMetric(per(recFull), "record-full-ns/pkt")
	b.ReportMetric(1e3/per(openFull), "synflood-Mpps/core")
	b.ReportMetric(hot/refl, "known-hot/reflector")
	b.ReportMetric(per(coldR1)/refl, "known-cold/reflector")
}
