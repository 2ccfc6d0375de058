package loader

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"

	"xlb/lb"
)

// vipOf is a reference reading of the frame, independent of the BPF parser:
// the service a forwarded frame must belong to (for an ICMP error, the
// service of the quoted packet's source). false: the frame must not be
// forwarded (not IP, cut short, a fragment, a routing header still routing).
func vipOf(frame []byte) (ServiceKey, bool) {
	if len(frame) < 14 {
		return ServiceKey{}, false
	}
	off, et := 14, binary.BigEndian.Uint16(frame[12:14])
	if et == 0x8100 || et == 0x88a8 {
		if len(frame) < 18 {
			return ServiceKey{}, false
		}
		et, off = binary.BigEndian.Uint16(frame[16:18]), 18
	}
	if et == 0x86dd {
		return vip6Of(frame[off:])
	}
	if et != 0x0800 || len(frame) < off+20 {
		return ServiceKey{}, false
	}
	ip := frame[off:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < 20 || len(ip) < ihl+4 {
		return ServiceKey{}, false
	}
	dst := netip.AddrFrom4([4]byte(ip[16:20]))
	l4 := ip[ihl:]
	switch ip[9] {
	case 6, 17:
		return ServiceKey{VIP: dst, Port: binary.BigEndian.Uint16(l4[2:4]), Proto: lb.Protocol(ip[9])}, true
	case 1:
		if len(l4) < 8+20 {
			return ServiceKey{}, false
		}
		in := l4[8:]
		iihl := int(in[0]&0x0f) * 4
		if iihl < 20 || len(in) < iihl+4 {
			return ServiceKey{}, false
		}
		src := netip.AddrFrom4([4]byte(in[12:16]))
		return ServiceKey{VIP: src, Port: binary.BigEndian.Uint16(in[iihl : iihl+2]), Proto: lb.Protocol(in[9])}, true
	}
	return ServiceKey{}, false
}

// vip6Of is vipOf's IPv6 half, from the IPv6 header on: RFC 8200's chain of
// extension headers, walked to the end (the program's bound only makes it
// pass more), in the frame and in the packet a packet-too-big quotes.
func vip6Of(ip []byte) (ServiceKey, bool) {
	if len(ip) < 40 || ip[0]>>4 != 6 {
		return ServiceKey{}, false
	}
	dst := netip.AddrFrom16([16]byte(ip[24:40]))
	next, l4, ok := walk6(ip[6], ip[40:], false)
	if !ok {
		return ServiceKey{}, false
	}
	switch next {
	case 6, 17:
		if len(l4) < 4 {
			return ServiceKey{}, false
		}
		return ServiceKey{VIP: dst, Port: binary.BigEndian.Uint16(l4[2:4]), Proto: lb.Protocol(next)}, true
	case 58:
		// Packet too big quoting a TCP or UDP packet from the VIP, whose
		// first fragment is as good as the whole packet: it has the ports.
		if len(l4) < 8+40 || l4[0] != 2 {
			return ServiceKey{}, false
		}
		in := l4[8:]
		inext, il4, ok := walk6(in[6], in[40:], true)
		if !ok || len(il4) < 4 {
			return ServiceKey{}, false
		}
		return ServiceKey{VIP: netip.AddrFrom16([16]byte(in[8:24])), Port: binary.BigEndian.Uint16(il4[0:2]), Proto: lb.Protocol(inext)}, true
	}
	return ServiceKey{}, false
}

// walk6 follows a chain of IPv6 extension headers (hop-by-hop 0, routing 43,
// destination options 60, fragment 44) from next, the first header's
// protocol, over b to the upper-layer header: its protocol and bytes. false:
// cut short, a routing header with segments left, or a fragment header,
// unless firstFrag and its offset is 0.
func walk6(next byte, b []byte, firstFrag bool) (byte, []byte, bool) {
	for next == 0 || next == 43 || next == 60 || next == 44 {
		if len(b) < 8 || next == 43 && b[3] != 0 {
			return 0, nil, false
		}
		n := 8 * (int(b[1]) + 1)
		if next == 44 {
			if !firstFrag || binary.BigEndian.Uint16(b[2:4])>>3 != 0 {
				return 0, nil, false
			}
			n = 8
		}
		if len(b) < n {
			return 0, nil, false
		}
		next, b = b[0], b[n:]
	}
	return next, b, true
}

// TestXDPRandomFrames feeds 100k random and mutated frames, IPv4 and IPv6,
// through the program. Whatever it is given: a passed frame is byte-for-byte unchanged; a
// forwarded frame was addressed to us, keeps every byte after the Ethernet
// addresses, and goes to a backend in the live table of the frame's own
// service; a dropped frame belongs to a service without usable backends.
func TestXDPRandomFrames(t *testing.T) {
	f := newFixture(t)
	rng := rand.New(rand.NewPCG(2026, 11))
	live := map[ServiceKey]map[string]bool{}
	for key := range f.services {
		table, err := f.dp.MaglevTable(key)
		if err != nil {
			t.Fatal(err)
		}
		live[key] = map[string]bool{}
		for _, id := range table {
			if id != 0 {
				live[key][string(f.backends[id].mac)] = true
			}
		}
	}
	// Valid frames to mutate, each with the offset of two bytes of its client
	// address (the quoted destination for an ICMP error), or 0.
	type seed struct {
		frame  []byte
		client int
	}
	withExt := func(p pkt, ext ...ext6) pkt { p.ext = ext; return p }
	seeds := []seed{
		{synTo(3306, 1234).build(), 28},
		{func() pkt { p := synTo(3306, 1235); p.vlan = 3; p.ipOptions = 2; return p }().build(), 32},
		{pkt{dstMAC: ourMAC, src: clientIP, dst: vip, proto: layers.IPProtocolUDP, sport: 999, dport: 53, payload: []byte("x")}.build(), 28},
		{pkt{dstMAC: ourMAC, src: clientIP, dst: vip, proto: layers.IPProtocolICMPv4,
			icmp:  &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 4)},
			inner: &pkt{src: vip, dst: clientIP, proto: layers.IPProtocolTCP, sport: 3306, dport: 5555}}.build(), 14 + 20 + 8 + 18},
		{synTo(9999, 1236).build(), 28},
		{syn6(3306, 1237).build(), 36},
		{withExt(ack6(3306, 1238), hopByHop(), dstOpts(1), routing(0)).build(), 36},
		{func() pkt { p := syn6(3306, 1239); p.vlan = 5; p.ext = []ext6{fragment(1)}; return p }().build(), 40},
		{pkt{dstMAC: ourMAC, src: clientIP6, dst: vip6, proto: layers.IPProtocolUDP, sport: 999, dport: 3306, payload: []byte("x")}.build(), 36},
		{tooBig(reply6(1240)).build(), 14 + 40 + 8 + 38},
		{tooBig(withExt(reply6(1243), hopByHop(), routing(0), fragment(1))).build(), 14 + 40 + 8 + 38},
		{tooBig(withExt(reply6(1244), dstOpts(1), fragment(0))).build(), 14 + 40 + 8 + 38},
		{with(syn6(3306, 1241), func(p *pkt) { p.dst = vip4Alias }).build(), 36},
		{withExt(syn6(3306, 1242), dstOpts(0), dstOpts(0), dstOpts(0), dstOpts(0), dstOpts(0)).build(), 36},
	}
	const n = 100_000
	var counts [4]int
	var v6 [4]int
	for i := 0; i < n; i++ {
		var in []byte
		switch rng.IntN(4) {
		case 0: // random bytes, half of them addressed to us
			in = make([]byte, 14+rng.IntN(120))
			for j := range in {
				in[j] = byte(rng.Uint32())
			}
			if rng.IntN(2) == 0 {
				copy(in, ourMAC)
			}
		default: // a valid frame with a few bytes changed and maybe cut short
			sd := seeds[rng.IntN(len(seeds))]
			in = bytes.Clone(sd.frame)
			// A fresh client address, so new flows keep coming.
			if sd.client != 0 && rng.IntN(2) == 0 {
				binary.BigEndian.PutUint16(in[sd.client:], uint16(rng.Uint32()))
			}
			for m := rng.IntN(4); m > 0; m-- {
				in[rng.IntN(len(in))] = byte(rng.Uint32())
			}
			if rng.IntN(4) == 0 {
				in = in[:14+rng.IntN(len(in)-13)]
			}
		}
		ret, out := f.run(in)
		counts[ret]++
		if len(in) >= 14 && (binary.BigEndian.Uint16(in[12:14]) == 0x86dd || len(in) >= 18 && binary.BigEndian.Uint16(in[16:18]) == 0x86dd) {
			v6[ret]++
		}
		svc, parsed := vipOf(in)
		switch ret {
		case xdpPass:
			if !bytes.Equal(out, in) {
				t.Fatalf("frame %d passed but changed\n in %x\nout %x", i, in, out)
			}
		case xdpTX:
			if !bytes.Equal(in[:6], ourMAC) {
				t.Fatalf("frame %d not addressed to us was forwarded: %x", i, in)
			}
			if !bytes.Equal(out[12:], in[12:]) || !bytes.Equal(out[6:12], ourMAC) {
				t.Fatalf("frame %d forwarded with more than its destination MAC changed\n in %x\nout %x", i, in, out)
			}
			if !parsed || !live[svc][string(out[:6])] {
				t.Fatalf("frame %d forwarded to %x, not a live backend of its service %v (parsed %v)\n in %x", i, out[:6], svc, parsed, in)
			}
		case xdpDrop:
			if !parsed || len(live[svc]) != 0 {
				t.Fatalf("frame %d dropped although it is not for a service without backends (%v)\n in %x", i, svc, in)
			}
		default:
			t.Fatalf("frame %d: unexpected verdict %d", i, ret)
		}
	}
	t.Logf("%d frames: %d passed, %d forwarded, %d dropped; of them IPv6: %d passed, %d forwarded", n,
		counts[xdpPass], counts[xdpTX], counts[xdpDrop], v6[xdpPass], v6[xdpTX])
	if counts[xdpTX] < n/10 || counts[xdpPass] < n/10 || counts[xdpDrop] == 0 {
		t.Fatalf("the mix did not exercise every verdict enough: %v", counts)
	}
	if v6[xdpTX] < n/20 || v6[xdpPass] < n/20 {
		t.Fatalf("the mix did not exercise IPv6 enough: %v", v6)
	}
}
