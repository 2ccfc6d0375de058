package loader

import (
	"bytes"
	"fmt"
	"maps"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf/btf"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"xlb/lb"
)

const (
	xdpDrop = 1
	xdpPass = 2
	xdpTX   = 3
)

// TestStructSizes: the Go twins bpf2go generated match the C layout in the
// object's BTF, so no map write is misread by the program.
func TestStructSizes(t *testing.T) {
	spec, err := loadXlb()
	if err != nil {
		t.Fatal(err)
	}
	for name, goSize := range map[string]uintptr{
		"xlb_service_key":   unsafe.Sizeof(xlbXlbServiceKey{}),
		"xlb_service":       unsafe.Sizeof(xlbXlbService{}),
		"xlb_backend":       unsafe.Sizeof(xlbXlbBackend{}),
		"xlb_flow_key":      unsafe.Sizeof(xlbXlbFlowKey{}),
		"xlb_flow_key6":     unsafe.Sizeof(xlbXlbFlowKey6{}),
		"xlb_service_key6":  unsafe.Sizeof(xlbXlbServiceKey6{}),
		"xlb_flow":          unsafe.Sizeof(xlbXlbFlow{}),
		"xlb_counter":       unsafe.Sizeof(xlbXlbCounter{}),
		"xlb_config":        unsafe.Sizeof(xlbXlbConfig{}),
		"xlb_flow_event":    unsafe.Sizeof(xlbXlbFlowEvent{}),
		"xlb_insert_window": unsafe.Sizeof(xlbXlbInsertWindow{}),
	} {
		var s *btf.Struct
		if err := spec.Types.TypeByName(name, &s); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if uintptr(s.Size) != goSize {
			t.Errorf("%s: C size %d, Go size %d", name, s.Size, goSize)
		}
	}
	if got := spec.Maps["xlb_maglev"].InnerMap.MaxEntries; got != 65537 {
		t.Errorf("default Maglev table size %d, want 65537", got)
	}
}

// xdpCase is one fixture, Katran-style: map setup on a fresh fixture, one
// input frame, and everything that must come out of it. Cases share nothing,
// so `go test -run 'TestXDP/name'` runs any one of them alone.
type xdpCase struct {
	name string
	// setup changes the maps of newFixture's three services before the
	// frame is sent; it may set f.mark to the backend the case is about.
	setup func(f *fixture)
	frame func(f *fixture) []byte
	want  uint32 // the verdict
	// to is the backend a forwarded frame must reach: the whole output frame
	// must be the input with the Ethernet addresses rewritten for it.
	to func(f *fixture) uint32
	// reason is the counter a passed or dropped frame must raise; a passed
	// frame must come out unchanged.
	reason Reason
	// flow is the flow-table entry the frame must leave behind: flow.key maps
	// to backend flow.to (0: no entry); opened is the same for the new-flow
	// table.
	flow, opened *flowWant
	// stats are the flow counters the frame must raise, by one each; no
	// other may move.
	stats []FlowStat
}

type flowWant struct {
	key FlowKey
	to  func(f *fixture) uint32
}

// The outcomes cases share.
func pickOf(p pkt) func(*fixture) uint32      { return func(f *fixture) uint32 { return f.pick(p.flow()) } }
func backend(id uint32) func(*fixture) uint32 { return func(*fixture) uint32 { return id } }
func marked(f *fixture) uint32                { return f.mark }
func recorded(p pkt, to func(*fixture) uint32) *flowWant {
	return &flowWant{key: p.flow(), to: to}
}
func notRecorded(p pkt) *flowWant { return &flowWant{key: p.flow(), to: backend(0)} }

// putFlow records a flow as the program would and marks its backend.
func putFlow(f *fixture, p pkt, id uint32) {
	f.t.Helper()
	if err := f.dp.SetFlow(p.flow(), id); err != nil {
		f.t.Fatal(err)
	}
	f.mark = id
}

// otherBackend is the MySQL backend a flow's Maglev pick is not.
func otherBackend(f *fixture, p pkt) uint32 {
	if f.pick(p.flow()) == 1 {
		return 2
	}
	return 1
}

// frame is a case's frame: p, built; with is p changed by change.
func frame(p pkt) func(*fixture) []byte { return func(*fixture) []byte { return p.build() } }
func with(p pkt, change func(*pkt)) pkt { change(&p); return p }

func TestXDP(t *testing.T) {
	udp := pkt{dstMAC: ourMAC, src: clientIP, dst: vip, proto: layers.IPProtocolUDP, sport: 5353, dport: 53, payload: []byte("query")}
	icmpFragNeeded := func(inner pkt) pkt {
		return pkt{dstMAC: ourMAC, src: netipMust("192.168.1.1"), dst: vip, proto: layers.IPProtocolICMPv4,
			icmp: &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 4), Seq: 1400}, inner: &inner}
	}
	// The reply half of a client's flow, as the backend sends it.
	reply := func(sport uint16) pkt {
		return pkt{src: vip, dst: clientIP, proto: layers.IPProtocolTCP, sport: 3306, dport: sport}
	}

	cases := []xdpCase{
		{name: "vip tcp syn opens a flow and leaves the flow table alone", frame: frame(synTo(3306, 40000)), want: xdpTX,
			to: pickOf(synTo(3306, 40000)), flow: notRecorded(synTo(3306, 40000)),
			opened: recorded(synTo(3306, 40000), pickOf(synTo(3306, 40000))), stats: []FlowStat{FlowOpened}},
		{name: "ack of an opened flow records it on the backend it opened on",
			// Off the pick: the ACK must follow the opened entry, not the table.
			setup: func(f *fixture) {
				f.mark = otherBackend(f, synTo(3306, 40030))
				f.openFlow(synTo(3306, 40030).flow(), f.mark)
			},
			frame: frame(ackTo(3306, 40030)), want: xdpTX, to: marked, flow: recorded(ackTo(3306, 40030), marked),
			opened: notRecorded(ackTo(3306, 40030)), stats: []FlowStat{FlowRecorded}},
		{name: "ack of an unknown flow takes the pick and records nothing", frame: frame(ackTo(3306, 40031)), want: xdpTX,
			to: pickOf(ackTo(3306, 40031)), flow: notRecorded(ackTo(3306, 40031)), opened: notRecorded(ackTo(3306, 40031)),
			stats: []FlowStat{FlowUntracked}},
		{name: "syn to a known flow follows it and changes nothing",
			setup: func(f *fixture) { putFlow(f, synTo(3306, 40032), otherBackend(f, synTo(3306, 40032))) },
			frame: frame(synTo(3306, 40032)), want: xdpTX, to: marked, flow: recorded(synTo(3306, 40032), marked),
			opened: notRecorded(synTo(3306, 40032))},
		{name: "syn retransmitted follows its opened flow",
			setup: func(f *fixture) {
				f.mark = otherBackend(f, synTo(3306, 40033))
				f.openFlow(synTo(3306, 40033).flow(), f.mark)
			},
			frame: frame(synTo(3306, 40033)), want: xdpTX, to: marked, flow: notRecorded(synTo(3306, 40033)),
			opened: recorded(synTo(3306, 40033), marked)},
		{name: "rst of an opened flow records nothing",
			setup: func(f *fixture) {
				f.mark = f.pick(synTo(3306, 40034).flow())
				f.openFlow(synTo(3306, 40034).flow(), f.mark)
			},
			frame: frame(with(ackTo(3306, 40034), func(p *pkt) { p.rst = true })), want: xdpTX, to: marked,
			flow: notRecorded(synTo(3306, 40034)), opened: recorded(synTo(3306, 40034), marked)},
		{name: "insert budget spent: an opened flow is forwarded and stays opened",
			setup: func(f *fixture) {
				f.mark = f.pick(synTo(3306, 40035).flow())
				f.openFlow(synTo(3306, 40035).flow(), f.mark)
				f.setInsertBudget(0, 1<<31)
			}, frame: frame(ackTo(3306, 40035)), want: xdpTX, to: marked, flow: notRecorded(synTo(3306, 40035)),
			opened: recorded(synTo(3306, 40035), marked), stats: []FlowStat{FlowLimited}},
		{name: "insert budget renews after its window",
			setup: func(f *fixture) {
				f.mark = f.pick(synTo(3306, 40036).flow())
				f.openFlow(synTo(3306, 40036).flow(), f.mark)
				f.setInsertBudget(2*time.Second, 1<<31)
			}, frame: frame(ackTo(3306, 40036)), want: xdpTX, to: marked, flow: recorded(synTo(3306, 40036), marked),
			opened: notRecorded(synTo(3306, 40036)), stats: []FlowStat{FlowRecorded}},
		{name: "first udp datagram opens a flow", frame: frame(udp), want: xdpTX, to: backend(3), flow: notRecorded(udp),
			opened: recorded(udp, backend(3)), stats: []FlowStat{FlowOpened}},
		{name: "second udp datagram records its flow",
			setup: func(f *fixture) { f.openFlow(udp.flow(), 3) },
			frame: frame(udp), want: xdpTX, to: backend(3), flow: recorded(udp, backend(3)), opened: notRecorded(udp),
			stats: []FlowStat{FlowRecorded}},
		{name: "known flow keeps its backend when the table moves its slot",
			setup: func(f *fixture) {
				p := ackTo(3306, 40001)
				putFlow(f, p, f.pick(p.flow()))
				// Add backends until this flow's slot points elsewhere.
				for i := byte(0); f.pick(p.flow()) == f.mark; i++ {
					f.addBackend(uint32(10+i), mysqlSvc, fmt.Sprintf("192.168.1.%d", 50+i), 0x50+i, 1)
					f.sync()
				}
			}, frame: frame(ackTo(3306, 40001)), want: xdpTX, to: marked, flow: recorded(ackTo(3306, 40001), marked)},
		{name: "known flow on a down backend is re-picked and re-recorded",
			setup: func(f *fixture) {
				p := ackTo(3306, 40002)
				putFlow(f, p, otherBackend(f, p))
				f.backends[f.mark].state = BackendDown
				f.sync()
			}, frame: frame(ackTo(3306, 40002)), want: xdpTX, to: pickOf(ackTo(3306, 40002)),
			flow: recorded(ackTo(3306, 40002), pickOf(ackTo(3306, 40002))), stats: []FlowStat{FlowRepicked}},
		{name: "drained backend keeps its flows",
			setup: func(f *fixture) {
				p := ackTo(3306, 40003)
				putFlow(f, p, f.pick(p.flow()))
				f.backends[f.mark].state = BackendDrained
				f.sync()
			}, frame: frame(ackTo(3306, 40003)), want: xdpTX, to: marked, flow: recorded(ackTo(3306, 40003), marked)},
		{name: "drained backend gets no new flow",
			setup: func(f *fixture) {
				// The flow's pick before the drain is the drained backend.
				f.mark = f.pick(synTo(3306, 40004).flow())
				f.backends[f.mark].state = BackendDrained
				f.sync()
			}, frame: frame(synTo(3306, 40004)), want: xdpTX,
			to: func(f *fixture) uint32 {
				if f.pick(synTo(3306, 40004).flow()) == f.mark {
					f.t.Fatal("the live table still holds the drained backend")
				}
				return f.pick(synTo(3306, 40004).flow())
			}, opened: recorded(synTo(3306, 40004), pickOf(synTo(3306, 40004))), stats: []FlowStat{FlowOpened}},
		{name: "other destination ip passes", frame: frame(with(synTo(3306, 40010), func(p *pkt) { p.dst = netipMust("192.168.1.31") })),
			want: xdpPass, reason: PassNoService},
		{name: "other port passes", frame: frame(synTo(3307, 40011)), want: xdpPass, reason: PassNoService,
			flow: notRecorded(synTo(3307, 40011))},
		{name: "other protocol to the port passes", frame: frame(with(udp, func(p *pkt) { p.sport, p.dport = 40012, 3306 })),
			want: xdpPass, reason: PassNoService},
		{name: "non-tcp/udp protocol passes", frame: frame(with(synTo(3306, 40013), func(p *pkt) {
			p.proto = layers.IPProtocolGRE
			p.payload = make([]byte, 24)
		})), want: xdpPass, reason: PassNoService},
		{name: "icmp echo to the vip passes", frame: frame(pkt{dstMAC: ourMAC, src: clientIP, dst: vip, proto: layers.IPProtocolICMPv4,
			icmp: &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}, payload: []byte("ping")}),
			want: xdpPass, reason: PassICMP},
		{name: "arp passes", frame: func(*fixture) []byte {
			return serialize([]gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: clientMAC, DstMAC: ourMAC, EthernetType: layers.EthernetTypeARP},
				&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
					Operation: 1, SourceHwAddress: clientMAC, SourceProtAddress: clientIP.AsSlice(), DstHwAddress: make([]byte, 6), DstProtAddress: vip.AsSlice()}})
		}, want: xdpPass, reason: PassNotIP},
		{name: "frame for another mac passes", frame: frame(with(synTo(3306, 40014), func(p *pkt) { p.dstMAC = otherMAC })),
			want: xdpPass, reason: PassOtherMAC, flow: notRecorded(synTo(3306, 40014))},
		{name: "broadcast frame passes", frame: frame(with(synTo(3306, 40015), func(p *pkt) { p.dstMAC = layers.EthernetBroadcast })),
			want: xdpPass, reason: PassOtherMAC},
		{name: "vlan tagged vip syn forwarded with its tag", frame: frame(with(synTo(3306, 40016), func(p *pkt) { p.vlan = 42 })),
			want: xdpTX, to: pickOf(synTo(3306, 40016)), opened: recorded(synTo(3306, 40016), pickOf(synTo(3306, 40016))),
			stats: []FlowStat{FlowOpened}},
		{name: "ip options forwarded unchanged", frame: frame(with(synTo(3306, 40017), func(p *pkt) { p.ipOptions = 10 })), // IHL 15, the maximum
			want: xdpTX, to: pickOf(synTo(3306, 40017)), stats: []FlowStat{FlowOpened}},
		{name: "first fragment passes", frame: frame(with(synTo(3306, 40018), func(p *pkt) { p.flags = layers.IPv4MoreFragments })),
			want: xdpPass, reason: PassFragment, flow: notRecorded(synTo(3306, 40018))},
		{name: "later fragment passes", frame: frame(with(synTo(3306, 40019), func(p *pkt) { p.fragOff = 185 })),
			want: xdpPass, reason: PassFragment},
		{name: "icmp frag-needed follows the flow's backend",
			// The flow is off its Maglev pick, so following the flow table
			// and recomputing the pick give different answers.
			setup: func(f *fixture) { putFlow(f, synTo(3306, 40020), otherBackend(f, synTo(3306, 40020))) },
			frame: frame(icmpFragNeeded(reply(40020))), want: xdpTX, to: marked, flow: recorded(synTo(3306, 40020), marked)},
		{name: "icmp frag-needed without a flow takes the maglev pick and records nothing",
			frame: frame(icmpFragNeeded(reply(40021))), want: xdpTX, to: pickOf(synTo(3306, 40021)), flow: notRecorded(synTo(3306, 40021)),
			opened: notRecorded(synTo(3306, 40021))},
		{name: "icmp frag-needed about another port passes", frame: frame(icmpFragNeeded(with(reply(40022), func(p *pkt) { p.sport = 3307 }))),
			want: xdpPass, reason: PassICMP},
		{name: "known flow of a deleted service passes",
			setup: func(f *fixture) {
				putFlow(f, ackTo(3306, 40025), f.pick(ackTo(3306, 40025).flow()))
				if err := f.dp.DeleteService(mysqlSvc); err != nil {
					t.Fatal(err)
				}
			}, frame: frame(ackTo(3306, 40025)), want: xdpPass, reason: PassNoService},
		{name: "known flow does not follow its service id to another service",
			setup: func(f *fixture) {
				putFlow(f, ackTo(3306, 40026), f.pick(ackTo(3306, 40026).flow()))
				// The id and backends of the MySQL service now serve port 3307.
				if err := f.dp.DeleteService(mysqlSvc); err != nil {
					t.Fatal(err)
				}
				other := ServiceKey{VIP: vip, Port: 3307, Proto: lb.TCP}
				f.services = map[ServiceKey]uint32{other: 1, dnsSvc: 2, emptySvc: 3}
				for _, b := range f.backends {
					if b.svc == mysqlSvc {
						b.svc = other
					}
				}
				if err := f.dp.SetService(other, Service{ID: 1}); err != nil {
					t.Fatal(err)
				}
				f.sync()
			}, frame: frame(ackTo(3306, 40026)), want: xdpPass, reason: PassNoService},
		{name: "no backend drops and counts", frame: frame(synTo(9999, 40023)), want: xdpDrop, reason: DropNoBackend,
			flow: notRecorded(synTo(9999, 40023))},
		{name: "all backends down drops",
			setup: func(f *fixture) {
				f.backends[1].state = BackendDown
				f.backends[2].state = BackendDown
				f.sync()
			}, frame: frame(synTo(3306, 40024)), want: xdpDrop, reason: DropNoBackend, flow: notRecorded(synTo(3306, 40024))},
	}
	cases = append(cases, ipv6Cases()...)

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runXDPCase(t, tc) })
	}
}

// otherBackend6 is the IPv6 MySQL backend a flow's Maglev pick is not.
func otherBackend6(f *fixture, p pkt) uint32 {
	if f.pick(p.flow()) == 4 {
		return 5
	}
	return 4
}

// ipv6Cases are TestXDP's cases for IPv6 frames and for frames of one
// family that look like another family's service or flow.
func ipv6Cases() []xdpCase {
	withExt := func(p pkt, ext ...ext6) pkt { p.ext = ext; return p }
	// cut is p's frame cut to its first n bytes.
	cut := func(p pkt, n int) func(*fixture) []byte { return func(*fixture) []byte { return p.build()[:n] } }
	// A packet-too-big quoting the reply of client port sport's flow with
	// extension headers ext: it follows the flow (off its pick), or passes
	// for reason although the flow exists (the walk refused the quote).
	tooBigFollows := func(what string, sport uint16, ext ...ext6) xdpCase {
		return xdpCase{name: "icmpv6 packet too big quoting " + what + " follows the flow's backend",
			setup: func(f *fixture) { putFlow(f, syn6(3306, sport), otherBackend6(f, syn6(3306, sport))) },
			frame: frame(tooBig(withExt(reply6(sport), ext...))), want: xdpTX, to: marked, flow: recorded(syn6(3306, sport), marked)}
	}
	tooBigPasses := func(what string, sport uint16, reason Reason, ext ...ext6) xdpCase {
		return xdpCase{name: "icmpv6 packet too big quoting " + what + " passes",
			setup: func(f *fixture) { putFlow(f, syn6(3306, sport), 4) },
			frame: frame(tooBig(withExt(reply6(sport), ext...))), want: xdpPass, reason: reason}
	}
	icmp6 := func(typ uint8, body []byte) pkt {
		return pkt{dstMAC: ourMAC, src: clientIP6, dst: vip6, proto: layers.IPProtocolICMPv6,
			icmp6: &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}, body: body}
	}
	// A neighbour solicitation or advertisement for the VIP (RFC 4861 4.3,
	// 4.4): flags/reserved, then the target address.
	ndp := func(typ uint8) pkt { return icmp6(typ, append(make([]byte, 4), vip6.AsSlice()...)) }
	return []xdpCase{
		{name: "ipv6 syn forwarded with macs rewritten, opens a flow", frame: frame(syn6(3306, 41000)), want: xdpTX,
			to: pickOf(syn6(3306, 41000)), flow: notRecorded(syn6(3306, 41000)),
			opened: recorded(syn6(3306, 41000), pickOf(syn6(3306, 41000))), stats: []FlowStat{FlowOpened}},
		{name: "ipv6 ack of an opened flow records it on the backend it opened on",
			setup: func(f *fixture) {
				f.mark = otherBackend6(f, syn6(3306, 41001))
				f.openFlow(syn6(3306, 41001).flow(), f.mark)
			},
			frame: frame(ack6(3306, 41001)), want: xdpTX, to: marked, flow: recorded(ack6(3306, 41001), marked),
			opened: notRecorded(ack6(3306, 41001)), stats: []FlowStat{FlowRecorded}},
		{name: "ipv6 known flow keeps its backend off the pick",
			setup: func(f *fixture) { putFlow(f, ack6(3306, 41002), otherBackend6(f, ack6(3306, 41002))) },
			frame: frame(ack6(3306, 41002)), want: xdpTX, to: marked, flow: recorded(ack6(3306, 41002), marked)},
		{name: "ipv6 known flow on a down backend is re-picked",
			setup: func(f *fixture) {
				putFlow(f, ack6(3306, 41003), otherBackend6(f, ack6(3306, 41003)))
				f.backends[f.mark].state = BackendDown
				f.sync()
			}, frame: frame(ack6(3306, 41003)), want: xdpTX, to: pickOf(ack6(3306, 41003)),
			flow: recorded(ack6(3306, 41003), pickOf(ack6(3306, 41003))), stats: []FlowStat{FlowRepicked}},
		{name: "ipv6 vlan tagged syn forwarded with its tag", frame: frame(with(syn6(3306, 41004), func(p *pkt) { p.vlan = 42 })),
			want: xdpTX, to: pickOf(syn6(3306, 41004)), stats: []FlowStat{FlowOpened}},
		{name: "ipv6 extension headers within the bound are walked",
			frame: frame(withExt(syn6(3306, 41005), hopByHop(), dstOpts(1), routing(0), dstOpts(0))), want: xdpTX,
			to: pickOf(syn6(3306, 41005)), opened: recorded(syn6(3306, 41005), pickOf(syn6(3306, 41005))),
			stats: []FlowStat{FlowOpened}},
		{name: "ipv6 extension chain over the bound passes",
			frame: frame(withExt(syn6(3306, 41006), hopByHop(), dstOpts(0), dstOpts(0), dstOpts(0), dstOpts(0))),
			want:  xdpPass, reason: PassIPv6Ext, opened: notRecorded(syn6(3306, 41006))},
		{name: "ipv6 routing header with segments left passes", frame: frame(withExt(syn6(3306, 41007), routing(1))),
			want: xdpPass, reason: PassIPv6Ext, opened: notRecorded(syn6(3306, 41007))},
		{name: "ipv6 first fragment passes", frame: frame(withExt(syn6(3306, 41008), fragment(1))),
			want: xdpPass, reason: PassFragment, opened: notRecorded(syn6(3306, 41008))},
		{name: "ipv6 later fragment after hop-by-hop passes", frame: frame(withExt(syn6(3306, 41009), hopByHop(), fragment(185<<3))),
			want: xdpPass, reason: PassFragment},
		{name: "icmpv6 packet too big follows the flow's backend",
			setup: func(f *fixture) { putFlow(f, syn6(3306, 41010), otherBackend6(f, syn6(3306, 41010))) },
			frame: frame(tooBig(reply6(41010))), want: xdpTX, to: marked, flow: recorded(syn6(3306, 41010), marked)},
		{name: "icmpv6 packet too big without a flow takes the pick and records nothing",
			frame: frame(tooBig(reply6(41011))), want: xdpTX, to: pickOf(syn6(3306, 41011)),
			flow: notRecorded(syn6(3306, 41011)), opened: notRecorded(syn6(3306, 41011))},
		{name: "icmpv6 packet too big about another port passes",
			frame: frame(tooBig(with(reply6(41012), func(p *pkt) { p.sport = 3307 }))), want: xdpPass, reason: PassICMP},
		{name: "icmpv6 packet too big quoting an ipv4 vip's first word passes",
			frame: frame(tooBig(with(reply6(41013), func(p *pkt) { p.src = vip4Alias }))), want: xdpPass, reason: PassICMP},
		tooBigFollows("hop-by-hop options", 41030, hopByHop()),
		tooBigFollows("a finished routing header", 41031, routing(0)),
		tooBigFollows("destination options", 41032, dstOpts(3)),
		tooBigFollows("a first fragment", 41033, fragment(1)),
		tooBigFollows("a chain of every kind at the bound", 41034, hopByHop(), routing(0), fragment(1), dstOpts(1)),
		{name: "icmpv6 packet too big quoting extension headers without a flow takes the pick and records nothing",
			frame: frame(tooBig(withExt(reply6(41035), hopByHop(), dstOpts(0)))), want: xdpTX, to: pickOf(syn6(3306, 41035)),
			flow: notRecorded(syn6(3306, 41035)), opened: notRecorded(syn6(3306, 41035))},
		tooBigPasses("a chain over the bound", 41036, PassIPv6Ext, hopByHop(), dstOpts(0), routing(0), dstOpts(0), dstOpts(0)),
		tooBigPasses("a routing header with segments left", 41037, PassIPv6Ext, routing(1)),
		tooBigPasses("a later fragment", 41038, PassFragment, hopByHop(), fragment(185<<3|1)),
		// Cut in the middle of the destination options, after the hop-by-hop header.
		{name: "icmpv6 packet too big whose quote ends inside the extension headers passes",
			setup: func(f *fixture) { putFlow(f, syn6(3306, 41039), 4) },
			frame: cut(tooBig(withExt(reply6(41039), hopByHop(), dstOpts(1))), 14+40+8+40+8+12), want: xdpPass, reason: PassMalformed},
		{name: "icmpv6 packet too big whose quote ends before the ports passes",
			setup: func(f *fixture) { putFlow(f, syn6(3306, 41040), 4) },
			frame: cut(tooBig(withExt(reply6(41040), dstOpts(0))), 14+40+8+40+8+3), want: xdpPass, reason: PassMalformed},
		{name: "ndp neighbour solicitation passes", frame: frame(ndp(layers.ICMPv6TypeNeighborSolicitation)), want: xdpPass, reason: PassICMP},
		{name: "ndp neighbour advertisement passes", frame: frame(ndp(layers.ICMPv6TypeNeighborAdvertisement)), want: xdpPass, reason: PassICMP},
		{name: "ndp router advertisement passes", frame: frame(icmp6(layers.ICMPv6TypeRouterAdvertisement, make([]byte, 12))), want: xdpPass, reason: PassICMP},
		{name: "icmpv6 echo to the vip passes", frame: frame(icmp6(layers.ICMPv6TypeEchoRequest, []byte("ping"))), want: xdpPass, reason: PassICMP},
		{name: "ipv6 no next header passes", frame: frame(with(syn6(3306, 41014), func(p *pkt) { p.proto = layers.IPProtocolNoNextHeader })),
			want: xdpPass, reason: PassNoService},
		{name: "ipv6 other port passes", frame: frame(syn6(3307, 41015)), want: xdpPass, reason: PassNoService},
		{name: "ipv6 frame to an ipv4 vip's first word is not the ipv4 service",
			frame: frame(with(syn6(3306, 41016), func(p *pkt) { p.dst = vip4Alias })), want: xdpPass, reason: PassNoService},
		{name: "ipv6 frame does not follow the ipv4 flow of the same first words",
			setup: func(f *fixture) { putFlow(f, ackTo(3306, 41017), 1) },
			frame: frame(with(ack6(3306, 41017), func(p *pkt) {
				p.src = netip.AddrFrom16([16]byte{0xc0, 0xa8, 0x01, 0x64}) // 192.168.1.100's word
				p.dst = vip4Alias
			})), want: xdpPass, reason: PassNoService},
		{name: "ipv4 frame to the ipv6 vip's first word is not the ipv6 service",
			frame: frame(with(synTo(3306, 41018), func(p *pkt) { p.dst = netip.AddrFrom4([4]byte(vip6.AsSlice()[:4])) })),
			want:  xdpPass, reason: PassNoService},
		{name: "ipv6 all backends down drops",
			setup: func(f *fixture) {
				f.backends[4].state = BackendDown
				f.backends[5].state = BackendDown
				f.sync()
			}, frame: frame(syn6(3306, 41019)), want: xdpDrop, reason: DropNoBackend, opened: notRecorded(syn6(3306, 41019))},
	}
}

func runXDPCase(t *testing.T, tc xdpCase) {
	f := newFixture(t)
	if tc.setup != nil {
		tc.setup(f)
	}
	in := tc.frame(f)
	before := f.counters()
	ret, out := f.run(in)
	if ret != tc.want {
		t.Fatalf("verdict %d, want %d (counters moved: %v)", ret, tc.want, f.counters().minus(before))
	}
	one := Counter{Packets: 1, Bytes: uint64(len(in))}
	wantCounters := counterSet{}
	switch tc.want {
	case xdpTX:
		id := tc.to(f)
		b := f.backends[id]
		if b == nil {
			t.Fatalf("expected backend %d does not exist", id)
		}
		if want := forwarded(in, b.mac); !bytes.Equal(out, want) {
			t.Fatalf("output frame is not the input with MACs rewritten to backend %d\n got %x\nwant %x", id, out, want)
		}
		wantCounters[fmt.Sprintf("service %d", f.services[b.svc])] = one
		wantCounters[fmt.Sprintf("backend %d", id)] = one
	case xdpPass:
		if !bytes.Equal(out, in) {
			t.Fatalf("passed frame changed\n got %x\nwant %x", out, in)
		}
		wantCounters["reason "+tc.reason.String()] = one
	default:
		wantCounters["reason "+tc.reason.String()] = one
	}
	for _, st := range tc.stats {
		wantCounters["flow "+st.String()] = one
	}
	if got := f.counters().minus(before); !maps.Equal(got, wantCounters) {
		t.Fatalf("counters moved by %v, want %v", got, wantCounters)
	}
	if tc.flow != nil {
		id, ok, err := f.dp.Flow(tc.flow.key)
		if err != nil {
			t.Fatal(err)
		}
		if want := tc.flow.to(f); id != want || ok != (want != 0) {
			t.Fatalf("flow table holds %s -> backend %d (present %v), want backend %d (0: none)", tc.flow.key, id, ok, want)
		}
	}
	if tc.opened != nil {
		id, ok := f.openedFlow(tc.opened.key)
		if want := tc.opened.to(f); id != want || ok != (want != 0) {
			t.Fatalf("new-flow table holds %s -> backend %d (present %v), want backend %d (0: none)", tc.opened.key, id, ok, want)
		}
	}
}

// Every truncation of a valid VIP frame, at every header boundary and in
// between, is passed unchanged and counted as malformed.
func TestXDPTruncated(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name    string
		p       pkt
		headers int // bytes of Ethernet, VLAN, IP (and extension) and L4 headers
	}{
		{"tcp", synTo(3306, 42000), 14 + 20 + 20},
		{"tcp vlan options", func() pkt { p := synTo(3306, 42001); p.vlan = 7; p.ipOptions = 3; return p }(), 14 + 4 + 32 + 20},
		{"udp", pkt{dstMAC: ourMAC, src: clientIP, dst: vip, proto: layers.IPProtocolUDP, sport: 42002, dport: 53}, 14 + 20 + 8},
		{"ipv6 tcp", syn6(3306, 42010), 14 + 40 + 20},
		{"ipv6 tcp vlan extension headers", func() pkt {
			p := syn6(3306, 42011)
			p.vlan, p.ext = 7, []ext6{hopByHop(), dstOpts(1), routing(0)}
			return p
		}(), 14 + 4 + 40 + 8 + 16 + 24 + 20},
		{"icmpv6 packet too big", tooBig(reply6(42012)), 14 + 40 + 8 + 40 + 4},
		{"icmpv6 packet too big quoting extension headers", func() pkt {
			in := reply6(42013)
			in.ext = []ext6{hopByHop(), dstOpts(1), fragment(1)}
			return tooBig(in)
		}(), 14 + 40 + 8 + 40 + 8 + 16 + 8 + 4},
	} {
		full := tc.p.build()
		if ret, _ := f.run(full); ret != xdpTX {
			t.Fatalf("%s: the whole frame is not forwarded (verdict %d): the cuts below would prove nothing", tc.name, ret)
		}
		for n := 14; n < tc.headers; n++ {
			in := full[:n]
			before := f.reasons()[PassMalformed].Packets
			ret, out := f.run(in)
			if ret != xdpPass || !bytes.Equal(out, in) {
				t.Fatalf("%s cut to %d bytes: verdict %d, out %x", tc.name, n, ret, out)
			}
			if got := f.reasons()[PassMalformed].Packets - before; got != 1 {
				t.Fatalf("%s cut to %d bytes: pass_malformed went up by %d", tc.name, n, got)
			}
		}
	}
	// Shorter than an Ethernet header: the kernel itself refuses such input.
	if _, _, err := runXDP(f.dp.Program(), make([]byte, 13)); err == nil {
		t.Log("kernel accepted a 13-byte XDP test frame")
	}
}
