package loader

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"xlb/control/maglev"
	"xlb/lb"
	"xlb/test/testutil"
)

var (
	ourMAC    = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x14}
	clientMAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x64}
	otherMAC  = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x99}
	vip       = netip.MustParseAddr("192.168.1.30")
	clientIP  = netip.MustParseAddr("192.168.1.100")
	mysqlSvc  = ServiceKey{VIP: vip, Port: 3306, Proto: lb.TCP}
	dnsSvc    = ServiceKey{VIP: vip, Port: 53, Proto: lb.UDP}
	emptySvc  = ServiceKey{VIP: vip, Port: 9999, Proto: lb.TCP}
	// The IPv6 service, and an IPv6 address whose first word is the IPv4
	// VIP's (192.168.1.30 = c0a8:011e) with zeros after it: the maps tell
	// them apart by family alone.
	vip6      = netip.MustParseAddr("fd00:1::30")
	clientIP6 = netip.MustParseAddr("fd00:1::100")
	vip4Alias = netip.MustParseAddr("c0a8:11e::")
	mysql6Svc = ServiceKey{VIP: vip6, Port: 3306, Proto: lb.TCP}
)

type testBackend struct {
	id     uint32
	svc    ServiceKey
	ip     netip.Addr
	mac    net.HardwareAddr
	weight uint32
	state  BackendState
}

// fixture is a loaded, unattached program with four services: MySQL over
// db1/db2, DNS over one backend, one without backends, and MySQL over IPv6
// over two IPv6 backends.
type fixture struct {
	t        *testing.T
	dp       *Dataplane
	services map[ServiceKey]uint32
	backends map[uint32]*testBackend
	// mark is a backend id a test case's setup singles out.
	mark uint32
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, Options{MaxFlows: 65536})
}

func newFixtureWith(t *testing.T, opts Options) *fixture {
	t.Helper()
	testutil.RequirePriv(t)
	dp, err := Load(ourMAC, opts)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { dp.Close() })
	f := &fixture{t: t, dp: dp, services: map[ServiceKey]uint32{mysqlSvc: 1, dnsSvc: 2, emptySvc: 3, mysql6Svc: 4}, backends: map[uint32]*testBackend{}}
	for key, id := range f.services {
		if err := dp.SetService(key, Service{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	f.addBackend(1, mysqlSvc, "192.168.1.10", 0x0a, 1)
	f.addBackend(2, mysqlSvc, "192.168.1.11", 0x0b, 1)
	f.addBackend(3, dnsSvc, "192.168.1.12", 0x0c, 1)
	f.addBackend(4, mysql6Svc, "fd00:1::10", 0x0d, 1)
	f.addBackend(5, mysql6Svc, "fd00:1::11", 0x0e, 1)
	f.sync()
	return f
}

func (f *fixture) addBackend(id uint32, svc ServiceKey, ip string, macByte byte, weight uint32) {
	f.backends[id] = &testBackend{id: id, svc: svc, ip: netip.MustParseAddr(ip),
		mac: net.HardwareAddr{0x02, 0, 0, 0, 0, macByte}, weight: weight, state: BackendActive}
}

// sync writes backends and rebuilds every service's table the way the
// reconciler does: table first, then backend states.
func (f *fixture) sync() {
	f.t.Helper()
	for key := range f.services {
		var mb []maglev.Backend
		for _, b := range f.backends {
			if b.svc == key && b.state == BackendActive {
				mb = append(mb, maglev.Backend{ID: b.id, Name: b.ip.String(), Weight: b.weight})
			}
		}
		table, err := maglev.Build(mb, f.dp.TableSize())
		if err != nil {
			f.t.Fatal(err)
		}
		if err := f.dp.WriteMaglev(key, table); err != nil {
			f.t.Fatal(err)
		}
	}
	for id, b := range f.backends {
		err := f.dp.SetBackend(id, Backend{ServiceID: f.services[b.svc], IP: b.ip, MAC: b.mac, State: b.state})
		if err != nil {
			f.t.Fatal(err)
		}
	}
}

// pick is the backend the live table gives a new flow.
func (f *fixture) pick(k FlowKey) uint32 {
	f.t.Helper()
	svc := ServiceKey{VIP: k.VIP.Addr(), Port: k.VIP.Port(), Proto: k.Proto}
	table, err := f.dp.MaglevTable(svc)
	if err != nil {
		f.t.Fatal(err)
	}
	slot, err := f.dp.TableSlot(k, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	return table[slot]
}

// picker is pick over one read of the service's live table, for tests that
// ask for many flows' picks while the table stays as it is.
func (f *fixture) picker(svc ServiceKey) func(FlowKey) uint32 {
	f.t.Helper()
	table, err := f.dp.MaglevTable(svc)
	if err != nil {
		f.t.Fatal(err)
	}
	return func(k FlowKey) uint32 {
		slot, err := f.dp.TableSlot(k, 0)
		if err != nil {
			f.t.Fatal(err)
		}
		return table[slot]
	}
}

func (f *fixture) run(frame []byte) (uint32, []byte) {
	f.t.Helper()
	ret, out, err := runXDP(f.dp.Program(), frame)
	if err != nil {
		f.t.Fatalf("BPF_PROG_TEST_RUN: %v", err)
	}
	return ret, out
}

func runXDP(prog *ebpf.Program, frame []byte) (uint32, []byte, error) {
	out := make([]byte, len(frame)+256)
	opts := ebpf.RunOptions{Data: frame, DataOut: out}
	ret, err := prog.Run(&opts)
	return ret, opts.DataOut, err
}

func (f *fixture) reasons() map[Reason]Counter {
	f.t.Helper()
	r, err := f.dp.ReasonCounters()
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// openedFlow reads the new-flow table: the backend an opened flow is on.
func (f *fixture) openedFlow(k FlowKey) (uint32, bool) {
	f.t.Helper()
	var v xlbXlbFlow
	r := rawFlow(k)
	err := f.dp.newFlowTable(r.v6).Lookup(r.key(), &v)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return 0, false
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return v.BackendId, true
}

// openFlow puts a flow in the new-flow table, as its opening packet would.
func (f *fixture) openFlow(k FlowKey, id uint32) {
	f.t.Helper()
	r := rawFlow(k)
	if err := f.dp.newFlowTable(r.v6).Put(r.key(), xlbXlbFlow{BackendId: id}); err != nil {
		f.t.Fatal(err)
	}
}

// setInsertBudget sets every CPU's insert window: opened startAgo before
// now (the clock bpf_ktime_get_ns reads), with inserts already made.
func (f *fixture) setInsertBudget(startAgo time.Duration, inserts uint32) {
	f.t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		f.t.Fatal(err)
	}
	w := xlbXlbInsertWindow{StartNs: uint64(ts.Nano() - startAgo.Nanoseconds()), Inserts: inserts}
	per := make([]xlbXlbInsertWindow, possibleCPUs(f.t))
	for i := range per {
		per[i] = w
	}
	if err := f.dp.objs.XlbInsertBudget.Put(uint32(0), per); err != nil {
		f.t.Fatal(err)
	}
}

func possibleCPUs(t *testing.T) int {
	n, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// counterSet holds every counter of the fixture by name ("reason X",
// "flow X", "service N", "backend N"): a case compares the whole set, so a counter that
// moves and should not is caught too.
type counterSet map[string]Counter

func (f *fixture) counters() counterSet {
	f.t.Helper()
	out := counterSet{}
	for r, c := range f.reasons() {
		out["reason "+r.String()] = c
	}
	for _, id := range f.services {
		c, err := f.dp.ServiceCounter(id)
		if err != nil {
			f.t.Fatal(err)
		}
		out[fmt.Sprintf("service %d", id)] = c
	}
	flows, err := f.dp.FlowCounters()
	if err != nil {
		f.t.Fatal(err)
	}
	for st, c := range flows {
		out["flow "+st.String()] = c
	}
	for id := range f.backends {
		c, err := f.dp.BackendCounter(id)
		if err != nil {
			f.t.Fatal(err)
		}
		out[fmt.Sprintf("backend %d", id)] = c
	}
	return out
}

// minus is what moved since before; counters that did not move are left out.
func (s counterSet) minus(before counterSet) counterSet {
	out := counterSet{}
	for name, c := range s {
		b := before[name]
		if d := (Counter{Packets: c.Packets - b.Packets, Bytes: c.Bytes - b.Bytes}); d != (Counter{}) {
			out[name] = d
		}
	}
	return out
}

// pkt describes a test frame; build turns it into bytes with gopacket.
type pkt struct {
	dstMAC    net.HardwareAddr
	vlan      uint16
	src, dst  netip.Addr
	proto     layers.IPProtocol
	sport     uint16
	dport     uint16
	ipOptions int // 4-byte words of IP options
	flags     layers.IPv4Flag
	fragOff   uint16
	payload   []byte
	icmp      *layers.ICMPv4
	inner     *pkt // quoted packet of an ICMP error
	// IPv6 (src and dst IPv6): extension headers between the IPv6 header and
	// L4, and an ICMPv6 message (its body follows the 4-byte header: the MTU
	// of a packet-too-big, then inner; the target of a neighbour solicitation).
	ext   []ext6
	icmp6 *layers.ICMPv6
	body  []byte
	// ack makes a lb.TCP frame a segment of an established connection (ACK, no
	// SYN) instead of the SYN that opens one.
	ack bool
	rst bool // RST+ACK: the client aborts
}

func synTo(port uint16, sport uint16) pkt {
	return pkt{dstMAC: ourMAC, src: clientIP, dst: vip, proto: layers.IPProtocolTCP, sport: sport, dport: port}
}

// ackTo is a segment of an established connection from the client.
func ackTo(port uint16, sport uint16) pkt {
	p := synTo(port, sport)
	p.ack = true
	return p
}

// syn6 and ack6 are synTo and ackTo over IPv6, to the IPv6 MySQL service's VIP.
func syn6(port uint16, sport uint16) pkt {
	return pkt{dstMAC: ourMAC, src: clientIP6, dst: vip6, proto: layers.IPProtocolTCP, sport: sport, dport: port}
}

func ack6(port uint16, sport uint16) pkt {
	p := syn6(port, sport)
	p.ack = true
	return p
}

// reply6 is the reply half of an IPv6 client's flow, as the backend sends it.
func reply6(sport uint16) pkt {
	return pkt{src: vip6, dst: clientIP6, proto: layers.IPProtocolTCP, sport: 3306, dport: sport}
}

// tooBig is an ICMPv6 packet-too-big (MTU 1280) from a router to the VIP
// that sent inner.
func tooBig(inner pkt) pkt {
	return pkt{dstMAC: ourMAC, src: netipMust("fd00:1::1"), dst: inner.src, proto: layers.IPProtocolICMPv6,
		icmp6: &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypePacketTooBig, 0)},
		body:  []byte{0, 0, 0x05, 0x00}, inner: &inner}
}

func (p pkt) flow() FlowKey {
	proto := lb.TCP
	if p.proto == layers.IPProtocolUDP {
		proto = lb.UDP
	}
	return FlowKey{Client: netip.AddrPortFrom(p.src, p.sport), VIP: netip.AddrPortFrom(p.dst, p.dport), Proto: proto}
}

// ext6 is an IPv6 extension header: hop-by-hop, routing, destination
// options (len: 8-byte units after the first 8) or fragment.
type ext6 struct {
	typ     layers.IPProtocol
	len     uint8
	segLeft uint8  // routing
	frag    uint16 // fragment: offset<<3 | M
}

func hopByHop() ext6          { return ext6{typ: layers.IPProtocolIPv6HopByHop} }
func dstOpts(len uint8) ext6  { return ext6{typ: layers.IPProtocolIPv6Destination, len: len} }
func routing(left uint8) ext6 { return ext6{typ: layers.IPProtocolIPv6Routing, len: 2, segLeft: left} }
func fragment(f uint16) ext6  { return ext6{typ: layers.IPProtocolIPv6Fragment, frag: f} }

// extBytes is the chain as it sits in the packet, each header naming the
// next; the last names l4. Options are PadN (RFC 8200 4.2), a routing
// header is type 4 (SRH-shaped) with zeroed segments.
func extBytes(ext []ext6, l4 layers.IPProtocol) []byte {
	var out []byte
	for i, e := range ext {
		next := l4
		if i+1 < len(ext) {
			next = ext[i+1].typ
		}
		h := make([]byte, 8*(int(e.len)+1))
		h[0], h[1] = byte(next), e.len
		switch e.typ {
		case layers.IPProtocolIPv6Routing:
			h[2], h[3] = 4, e.segLeft
		case layers.IPProtocolIPv6Fragment:
			h[1] = 0
			binary.BigEndian.PutUint16(h[2:], e.frag)
			binary.BigEndian.PutUint32(h[4:], 0x4242)
		default:
			h[2], h[3] = 1, byte(len(h)-4) // PadN over the rest
		}
		out = append(out, h...)
	}
	return out
}

// l4Layer is p's TCP or UDP header, checksummed over ip; nil for another
// protocol.
func (p pkt) l4Layer(ip gopacket.NetworkLayer) gopacket.SerializableLayer {
	switch p.proto {
	case layers.IPProtocolTCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(p.sport), DstPort: layers.TCPPort(p.dport), SYN: !p.ack, ACK: p.ack, Seq: 1000, Window: 64240}
		if p.rst {
			tcp.SYN, tcp.RST, tcp.ACK = false, true, true
		}
		if tcp.ACK {
			tcp.Ack = 5000
		}
		tcp.SetNetworkLayerForChecksum(ip)
		return tcp
	case layers.IPProtocolUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(p.sport), DstPort: layers.UDPPort(p.dport)}
		udp.SetNetworkLayerForChecksum(ip)
		return udp
	}
	return nil
}

func (p pkt) ip6Layers() []gopacket.SerializableLayer {
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: p.proto, SrcIP: p.src.AsSlice(), DstIP: p.dst.AsSlice()}
	out := []gopacket.SerializableLayer{ip}
	if len(p.ext) > 0 {
		ip.NextHeader = p.ext[0].typ
		out = append(out, gopacket.Payload(extBytes(p.ext, p.proto)))
	}
	if l4 := p.l4Layer(ip); l4 != nil {
		out = append(out, l4)
	}
	switch p.proto {
	case layers.IPProtocolICMPv6:
		p.icmp6.SetNetworkLayerForChecksum(ip)
		body := p.body
		if p.inner != nil {
			body = append(bytes.Clone(body), p.inner.ipBytes()...)
		}
		out = append(out, p.icmp6, gopacket.Payload(body))
	}
	if p.payload != nil {
		out = append(out, gopacket.Payload(p.payload))
	}
	return out
}

func (p pkt) ipLayers() []gopacket.SerializableLayer {
	if p.dst.Is6() {
		return p.ip6Layers()
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: p.proto, SrcIP: p.src.AsSlice(), DstIP: p.dst.AsSlice(),
		Flags: p.flags, FragOffset: p.fragOff, Id: 4242}
	for i := 0; i < p.ipOptions; i++ {
		// Four single-byte NOPs per word: valid options of any count.
		ip.Options = append(ip.Options, layers.IPv4Option{OptionType: 1}, layers.IPv4Option{OptionType: 1},
			layers.IPv4Option{OptionType: 1}, layers.IPv4Option{OptionType: 1})
	}
	out := []gopacket.SerializableLayer{ip}
	if l4 := p.l4Layer(ip); l4 != nil {
		out = append(out, l4)
	}
	switch p.proto {
	case layers.IPProtocolICMPv4:
		out = append(out, p.icmp)
		if p.inner != nil {
			out = append(out, gopacket.Payload(p.inner.ipBytes()))
		}
	}
	if p.payload != nil {
		out = append(out, gopacket.Payload(p.payload))
	}
	return out
}

func serialize(ls []gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		panic(err)
	}
	return bytes.Clone(buf.Bytes())
}

func (p pkt) ipBytes() []byte { return serialize(p.ipLayers()) }

func (p pkt) build() []byte {
	et := layers.EthernetTypeIPv4
	if p.dst.Is6() {
		et = layers.EthernetTypeIPv6
	}
	eth := &layers.Ethernet{SrcMAC: clientMAC, DstMAC: p.dstMAC, EthernetType: et}
	ls := []gopacket.SerializableLayer{eth}
	if p.vlan != 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: p.vlan, Type: et})
	}
	return serialize(append(ls, p.ipLayers()...))
}

// forwarded is what the program must emit for in sent to backend mac: the
// same bytes with only the Ethernet addresses changed.
func forwarded(in []byte, mac net.HardwareAddr) []byte {
	out := bytes.Clone(in)
	copy(out[0:6], mac)
	copy(out[6:12], ourMAC)
	return out
}

func netipMust(s string) netip.Addr { return netip.MustParseAddr(s) }

// rawFlow is the map key of a test flow; test flows are of one family by construction.
func rawFlow(k FlowKey) rawFlowKey {
	r, err := k.raw()
	if err != nil {
		panic(err)
	}
	return r
}
