package loader

import (
	"bytes"
	"fmt"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf/btf"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
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
		"xlb_service_key": unsafe.Sizeof(xlbXlbServiceKey{}),
		"xlb_service":     unsafe.Sizeof(xlbXlbService{}),
		"xlb_backend":     unsafe.Sizeof(xlbXlbBackend{}),
		"xlb_flow_key":    unsafe.Sizeof(xlbXlbFlowKey{}),
		"xlb_flow":        unsafe.Sizeof(xlbXlbFlow{}),
		"xlb_counter":     unsafe.Sizeof(xlbXlbCounter{}),
		"xlb_config":      unsafe.Sizeof(xlbXlbConfig{}),
		"xlb_flow_event":  unsafe.Sizeof(xlbXlbFlowEvent{}),
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

// step sends one frame and checks what came out.
type step struct {
	before func(f *fixture)
	frame  func(f *fixture) []byte
	// want is the verdict; for XDP_TX, backend names the backend id the frame
	// must reach (a func: it may depend on the live table).
	want    uint32
	backend func(f *fixture) uint32
	reason  Reason // for pass and drop: the counter that must go up by one
}

func TestXDP(t *testing.T) {
	syn := func(sport uint16) func(*fixture) []byte {
		return func(*fixture) []byte { return synTo(3306, sport).build() }
	}
	pickOf := func(p pkt) func(*fixture) uint32 { return func(f *fixture) uint32 { return f.pick(p.flow()) } }
	icmpFragNeeded := func(inner pkt) pkt {
		return pkt{dstMAC: ourMAC, src: netipMust("192.168.1.1"), dst: vip, proto: layers.IPProtocolICMPv4,
			icmp: &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 4), Seq: 1400}, inner: &inner}
	}
	// The reply half of a client's flow, as the backend sends it.
	reply := func(sport uint16) pkt {
		return pkt{src: vip, dst: clientIP, proto: layers.IPProtocolTCP, sport: 3306, dport: sport}
	}
	var firstBackend uint32

	cases := []struct {
		name  string
		steps []step
	}{
		{"vip tcp syn forwarded", []step{{frame: syn(40000), want: xdpTX, backend: pickOf(synTo(3306, 40000))}}},
		{"vip udp forwarded", []step{{frame: func(*fixture) []byte {
			return pkt{dstMAC: ourMAC, src: clientIP, dst: vip, proto: layers.IPProtocolUDP, sport: 5353, dport: 53, payload: []byte("query")}.build()
		}, want: xdpTX, backend: func(*fixture) uint32 { return 3 }}}},
		{"flow keeps its backend when the backend set changes", []step{
			{frame: syn(40001), want: xdpTX, backend: func(f *fixture) uint32 { firstBackend = f.pick(synTo(3306, 40001).flow()); return firstBackend }},
			{before: func(f *fixture) {
				// Add backends until this flow's table slot points elsewhere.
				for i := byte(0); f.pick(synTo(3306, 40001).flow()) == firstBackend; i++ {
					f.addBackend(uint32(10+i), mysqlSvc, fmt.Sprintf("192.168.1.%d", 50+i), 0x50+i, 1)
					f.sync()
				}
			}, frame: syn(40001), want: xdpTX, backend: func(*fixture) uint32 { return firstBackend }},
		}},
		{"flow to a backend that went down is re-picked", []step{
			{frame: syn(40002), want: xdpTX, backend: func(f *fixture) uint32 { firstBackend = f.pick(synTo(3306, 40002).flow()); return firstBackend }},
			{before: func(f *fixture) { f.backends[firstBackend].state = BackendDown; f.sync() },
				frame: syn(40002), want: xdpTX, backend: func(f *fixture) uint32 {
					if got := f.pick(synTo(3306, 40002).flow()); got == firstBackend {
						t.Fatalf("table still points at the down backend")
					}
					return f.pick(synTo(3306, 40002).flow())
				}},
		}},
		{"drained backend keeps its flows and gets no new ones", []step{
			{frame: syn(40003), want: xdpTX, backend: func(f *fixture) uint32 { firstBackend = f.pick(synTo(3306, 40003).flow()); return firstBackend }},
			{before: func(f *fixture) { f.backends[firstBackend].state = BackendDrained; f.sync() },
				frame: syn(40003), want: xdpTX, backend: func(*fixture) uint32 { return firstBackend }},
			// Many new flows: none may reach the drained backend.
			{frame: syn(40004), want: xdpTX, backend: func(f *fixture) uint32 {
				for sport := uint16(41000); sport < 41200; sport++ {
					ret, out := f.run(synTo(3306, sport).build())
					if ret != xdpTX || bytes.Equal(out[0:6], f.backends[firstBackend].mac) {
						t.Fatalf("new flow from port %d: verdict %d to %x: a drained backend got a new flow", sport, ret, out[0:6])
					}
				}
				return f.pick(synTo(3306, 40004).flow())
			}},
		}},
		{"other destination ip passes", []step{{frame: func(*fixture) []byte {
			p := synTo(3306, 40010)
			p.dst = netipMust("192.168.1.31")
			return p.build()
		}, want: xdpPass, reason: PassNoService}}},
		{"other port passes", []step{{frame: func(*fixture) []byte { return synTo(3307, 40011).build() }, want: xdpPass, reason: PassNoService}}},
		{"other protocol to the port passes", []step{{frame: func(*fixture) []byte {
			return pkt{dstMAC: ourMAC, src: clientIP, dst: vip, proto: layers.IPProtocolUDP, sport: 40012, dport: 3306}.build()
		}, want: xdpPass, reason: PassNoService}}},
		{"non-tcp/udp protocol passes", []step{{frame: func(*fixture) []byte {
			p := synTo(3306, 40013)
			p.proto = layers.IPProtocolGRE
			p.payload = make([]byte, 24)
			return p.build()
		}, want: xdpPass, reason: PassNoService}}},
		{"icmp echo to the vip passes", []step{{frame: func(*fixture) []byte {
			return pkt{dstMAC: ourMAC, src: clientIP, dst: vip, proto: layers.IPProtocolICMPv4,
				icmp: &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}, payload: []byte("ping")}.build()
		}, want: xdpPass, reason: PassICMP}}},
		{"arp passes", []step{{frame: func(*fixture) []byte {
			return serialize([]gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: clientMAC, DstMAC: ourMAC, EthernetType: layers.EthernetTypeARP},
				&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
					Operation: 1, SourceHwAddress: clientMAC, SourceProtAddress: clientIP.AsSlice(), DstHwAddress: make([]byte, 6), DstProtAddress: vip.AsSlice()}})
		}, want: xdpPass, reason: PassNotIPv4}}},
		{"frame for another mac passes", []step{{frame: func(*fixture) []byte {
			p := synTo(3306, 40014)
			p.dstMAC = otherMAC
			return p.build()
		}, want: xdpPass, reason: PassOtherMAC}}},
		{"broadcast frame passes", []step{{frame: func(*fixture) []byte {
			p := synTo(3306, 40015)
			p.dstMAC = layers.EthernetBroadcast
			return p.build()
		}, want: xdpPass, reason: PassOtherMAC}}},
		{"vlan tagged vip syn forwarded with its tag", []step{{frame: func(*fixture) []byte {
			p := synTo(3306, 40016)
			p.vlan = 42
			return p.build()
		}, want: xdpTX, backend: pickOf(synTo(3306, 40016))}}},
		{"ip options forwarded unchanged", []step{{frame: func(*fixture) []byte {
			p := synTo(3306, 40017)
			p.ipOptions = 10 // IHL 15, the maximum
			return p.build()
		}, want: xdpTX, backend: pickOf(synTo(3306, 40017))}}},
		{"first fragment passes", []step{{frame: func(*fixture) []byte {
			p := synTo(3306, 40018)
			p.flags = layers.IPv4MoreFragments
			return p.build()
		}, want: xdpPass, reason: PassFragment}}},
		{"later fragment passes", []step{{frame: func(*fixture) []byte {
			p := synTo(3306, 40019)
			p.fragOff = 185
			return p.build()
		}, want: xdpPass, reason: PassFragment}}},
		{"icmp frag-needed follows the flow's backend", []step{
			{before: func(f *fixture) {
				// Move the flow off its Maglev pick first, so following the
				// flow table and recomputing the pick give different answers.
				firstBackend = f.pick(synTo(3306, 40020).flow())
				other := uint32(1)
				if firstBackend == 1 {
					other = 2
				}
				if err := f.dp.objs.XlbFlows.Put(rawFlow(synTo(3306, 40020).flow()), xlbXlbFlow{BackendId: other}); err != nil {
					t.Fatal(err)
				}
				firstBackend = other
			}, frame: func(*fixture) []byte { return icmpFragNeeded(reply(40020)).build() }, want: xdpTX,
				backend: func(*fixture) uint32 { return firstBackend }},
		}},
		{"icmp frag-needed without a flow takes the maglev pick and records nothing", []step{
			{frame: func(*fixture) []byte { return icmpFragNeeded(reply(40021)).build() }, want: xdpTX,
				backend: func(f *fixture) uint32 {
					if _, ok, _ := f.dp.Flow(synTo(3306, 40021).flow()); ok {
						t.Fatalf("an ICMP error created a flow entry")
					}
					return f.pick(synTo(3306, 40021).flow())
				}},
		}},
		{"icmp frag-needed about another port passes", []step{{frame: func(*fixture) []byte {
			r := reply(40022)
			r.sport = 3307
			return icmpFragNeeded(r).build()
		}, want: xdpPass, reason: PassICMP}}},
		{"known flow of a deleted service passes", []step{
			{frame: syn(40025), want: xdpTX, backend: pickOf(synTo(3306, 40025))},
			{before: func(f *fixture) {
				if err := f.dp.DeleteService(mysqlSvc); err != nil {
					t.Fatal(err)
				}
			}, frame: syn(40025), want: xdpPass, reason: PassNoService},
		}},
		{"known flow does not follow its service id to another service", []step{
			{frame: syn(40026), want: xdpTX, backend: pickOf(synTo(3306, 40026))},
			{before: func(f *fixture) {
				// The id and backends of the MySQL service now serve port 3307.
				if err := f.dp.DeleteService(mysqlSvc); err != nil {
					t.Fatal(err)
				}
				other := ServiceKey{VIP: vip, Port: 3307, Proto: TCP}
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
			}, frame: syn(40026), want: xdpPass, reason: PassNoService},
		}},
		{"no backend drops and counts", []step{{frame: func(*fixture) []byte { return synTo(9999, 40023).build() }, want: xdpDrop, reason: DropNoBackend}}},
		{"all backends down drops", []step{{before: func(f *fixture) {
			f.backends[1].state = BackendDown
			f.backends[2].state = BackendDown
			f.sync()
		}, frame: syn(40024), want: xdpDrop, reason: DropNoBackend}}},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			for i, s := range tc.steps {
				if s.before != nil {
					s.before(f)
				}
				in := s.frame(f)
				reasonsBefore := f.reasons()
				ret, out := f.run(in)
				if ret != s.want {
					t.Fatalf("step %d: verdict %d, want %d (reasons %v)", i, ret, s.want, f.reasons())
				}
				switch s.want {
				case xdpTX:
					id := s.backend(f)
					b := f.backends[id]
					if b == nil {
						t.Fatalf("step %d: expected backend %d does not exist", i, id)
					}
					if want := forwarded(in, b.mac); !bytes.Equal(out, want) {
						t.Fatalf("step %d: output frame differs from input with MACs rewritten to backend %d\n got %x\nwant %x", i, id, out, want)
					}
					c, err := f.dp.BackendCounter(id)
					if err != nil || c.Packets == 0 || c.Bytes < uint64(len(in)) {
						t.Fatalf("step %d: backend %d counter %+v (%v)", i, id, c, err)
					}
				default:
					if s.want == xdpPass && !bytes.Equal(out, in) {
						t.Fatalf("step %d: passed frame changed\n got %x\nwant %x", i, out, in)
					}
					after := f.reasons()
					if got := after[s.reason].Packets - reasonsBefore[s.reason].Packets; got != 1 {
						t.Fatalf("step %d: reason %s went up by %d, want 1 (now %v)", i, s.reason, got, after)
					}
				}
			}
		})
	}
}

// Every truncation of a valid VIP frame, at every header boundary and in
// between, is passed unchanged and counted as malformed.
func TestXDPTruncated(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name    string
		p       pkt
		headers int // bytes of Ethernet, VLAN, IPv4 and L4 headers
	}{
		{"tcp", synTo(3306, 42000), 14 + 20 + 20},
		{"tcp vlan options", func() pkt { p := synTo(3306, 42001); p.vlan = 7; p.ipOptions = 3; return p }(), 14 + 4 + 32 + 20},
		{"udp", pkt{dstMAC: ourMAC, src: clientIP, dst: vip, proto: layers.IPProtocolUDP, sport: 42002, dport: 53}, 14 + 20 + 8},
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
