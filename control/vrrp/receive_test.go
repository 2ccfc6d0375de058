package vrrp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"
	"xlb/control/secret"
)

func TestReceiveChecks(t *testing.T) {
	v2 := baseConfig()
	v2.AuthPass = secret.New("secret12IGNORED")
	v3 := baseConfig()
	v3.Version = 3
	v3.VIPs = []VIP{{Prefix: vip1, Dev: "eth0"}, {Prefix: vip2, Dev: "eth0"}}
	unicast := baseConfig()
	unicast.UnicastPeers = []netip.Addr{addrPeer}
	group := baseConfig()
	group.McastGroup = netip.MustParseAddr("224.0.0.19")
	offLink := netip.MustParseAddr("198.51.100.7")

	reseal := func(p *Packet, version uint8) {
		p.Payload[6], p.Payload[7] = 0, 0
		c := Checksum(version, p.Src, p.Dst, p.Payload)
		p.Payload[6], p.Payload[7] = byte(c>>8), byte(c)
	}
	tests := []struct {
		name string
		cfg  Config
		pkt  func() Packet
		want error // nil: accepted
	}{
		{"v2 valid", v2, func() Packet { return advertFrom(v2, addrPeer, 200, nil) }, nil},
		{"v3 valid", v3, func() Packet { return advertFrom(v3, addrPeer, 200, nil) }, nil},
		{"ttl 254 multicast", v2, func() Packet {
			p := advertFrom(v2, addrPeer, 200, nil)
			p.TTL = 254
			return p
		}, DropTTL},
		// The attack of issue 12: unicast to our address, TTL 64, from an
		// off-link address, priority 254. Refused whatever the mode.
		{"ttl 64 unicast to us, multicast mode", v3, func() Packet {
			p := to(advertFrom(v3, offLink, 254, nil), addrUs, 3)
			p.TTL = 64
			return p
		}, DropTTL},
		{"ttl 64 from a configured unicast peer", unicast, func() Packet {
			p := advertFrom(unicast, addrPeer, 200, nil)
			p.TTL = 64
			return p
		}, DropTTL},
		{"ttl 255 unicast to us, multicast mode", v3, func() Packet { return to(advertFrom(v3, addrPeer, 254, nil), addrUs, 3) }, DropDest},
		{"another group, multicast mode", v2, func() Packet {
			return to(advertFrom(v2, addrPeer, 254, nil), netip.MustParseAddr("224.0.0.19"), 2)
		}, DropDest},
		{"configured group accepted", group, func() Packet { return advertFrom(group, addrPeer, 200, nil) }, nil},
		{"224.0.0.18 when the group is 224.0.0.19", group, func() Packet { return to(advertFrom(group, addrPeer, 200, nil), Group, 2) }, DropDest},
		{"unicast peer accepted", unicast, func() Packet { return advertFrom(unicast, addrPeer, 200, nil) }, nil},
		{"unicast peer sending to the group", unicast, func() Packet { return to(advertFrom(unicast, addrPeer, 200, nil), Group, 2) }, DropDest},
		{"unicast from stranger", unicast, func() Packet { return advertFrom(unicast, netip.MustParseAddr("10.0.0.9"), 200, nil) }, DropPeer},
		{"unicast from off-link stranger", unicast, func() Packet { return advertFrom(unicast, offLink, 254, nil) }, DropPeer},
		{"v3 advert to v2 instance", v2, func() Packet { return advertFrom(v3, addrPeer, 200, nil) }, DropVersion},
		{"version 1", v2, func() Packet {
			return advertFrom(v2, addrPeer, 200, func(a *Advert) { a.Version = 1 })
		}, DropVersion},
		{"type 2", v2, func() Packet {
			return advertFrom(v2, addrPeer, 200, func(a *Advert) { a.Type = 2 })
		}, DropType},
		{"too short", v2, func() Packet { return Packet{Src: addrPeer, Dst: Group, TTL: 255, Payload: []byte{0x21, 51, 100}} }, DropLength},
		{"truncated auth", v2, func() Packet {
			p := advertFrom(v2, addrPeer, 200, nil)
			p.Payload = p.Payload[:len(p.Payload)-3]
			return p
		}, DropLength},
		{"count says 2, one address", v2, func() Packet {
			return advertFrom(v2, addrPeer, 200, func(a *Advert) { a.Count = 2 })
		}, DropAddrCount},
		{"count 0", v3, func() Packet {
			return advertFrom(v3, addrPeer, 200, func(a *Advert) { a.Count, a.Addrs = 0, nil })
		}, DropAddrCount},
		{"fewer VIPs than configured", v3, func() Packet {
			return advertFrom(v3, addrPeer, 200, func(a *Advert) { a.Count, a.Addrs = 1, a.Addrs[:1] })
		}, DropAddrCount},
		{"other VIP", v2, func() Packet {
			return advertFrom(v2, addrPeer, 200, func(a *Advert) { a.Addrs = []netip.Addr{netip.MustParseAddr("10.0.0.200")} })
		}, DropAddrList},
		{"v2 checksum", v2, func() Packet {
			p := advertFrom(v2, addrPeer, 200, nil)
			p.Payload[7] ^= 1
			return p
		}, DropChecksum},
		{"v3 checksum without pseudo-header", v3, func() Packet {
			p := advertFrom(v3, addrPeer, 200, nil)
			p.Payload[6], p.Payload[7] = 0, 0
			c := Checksum(2, p.Src, p.Dst, p.Payload)
			p.Payload[6], p.Payload[7] = byte(c>>8), byte(c)
			return p
		}, DropChecksum},
		{"v3 checksum for another source", v3, func() Packet {
			p := advertFrom(v3, addrPeer, 200, nil)
			p.Src = netip.MustParseAddr("10.0.0.3")
			return p
		}, DropChecksum},
		{"other VRID", v2, func() Packet {
			return advertFrom(v2, addrPeer, 200, func(a *Advert) { a.VRID = 52 })
		}, DropVRID},
		{"wrong password", v2, func() Packet {
			return advertFrom(v2, addrPeer, 200, func(a *Advert) { a.AuthData = passData("wrong") })
		}, DropAuth},
		{"password beyond 8 chars ignored", v2, func() Packet {
			return advertFrom(v2, addrPeer, 200, func(a *Advert) { a.AuthData = passData("secret12other") })
		}, nil},
		{"no auth to PASS instance", v2, func() Packet {
			return advertFrom(v2, addrPeer, 200, func(a *Advert) { a.AuthType, a.AuthData = AuthNone, [8]byte{} })
		}, DropAuth},
		{"AH auth", v2, func() Packet {
			return advertFrom(v2, addrPeer, 200, func(a *Advert) { a.AuthType = AuthAH })
		}, DropAuth},
		{"v2 interval mismatch", v2, func() Packet {
			return advertFrom(v2, addrPeer, 200, func(a *Advert) { a.Interval = 2 })
		}, DropInterval},
		{"v3 interval differs: accepted", v3, func() Packet {
			return advertFrom(v3, addrPeer, 200, func(a *Advert) { a.Interval = 7 })
		}, nil},
		{"v3 reserved bits ignored", v3, func() Packet {
			p := advertFrom(v3, addrPeer, 200, nil)
			p.Payload[4] |= 0xf0
			reseal(&p, 3)
			return p
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { receiveOne(t, tc.cfg, tc.pkt(), tc.want) })
	}
}

// receiveOne starts an instance of cfg, hands it p, and checks p was
// accepted (want nil) or dropped and counted under want alone.
func receiveOne(t *testing.T, cfg Config, p Packet, want error) {
	t.Helper()
	s := newSim(t, cfg)
	s.start()
	s.recv(p)
	st := s.in.Status()
	var total uint64
	for _, n := range st.Counters.Drops {
		total += n
	}
	if want == nil {
		if total != 0 || st.Counters.AdvertsReceived != 1 || st.MasterAddr != p.Src.String() {
			t.Fatalf("want accepted, got drops %v, received %d", st.Counters.Drops, st.Counters.AdvertsReceived)
		}
		return
	}
	var r DropReason
	if !errors.As(want, &r) {
		t.Fatalf("bad case: %v", want)
	}
	if st.Counters.Drops[r.String()] != 1 || total != 1 || st.Counters.AdvertsReceived != 0 {
		t.Fatalf("want one %v drop, got drops %v, received %d", r, st.Counters.Drops, st.Counters.AdvertsReceived)
	}
}

// TestReceiveChecks6: an IPv6 instance applies the IPv4 checks (hop limit
// 255, our group only, configured peers only) plus RFC 5798's link-local
// source in multicast mode, and its checksum covers the IPv6 pseudo-header.
func TestReceiveChecks6(t *testing.T) {
	mc := baseConfig6()
	mc.VIPs = append(mc.VIPs, VIP{Prefix: mustPrefix("fe80::100/64"), Dev: "eth0"})
	uc := baseConfig6()
	uc.UnicastSrc, uc.UnicastPeers = mustAddr("fd00::1"), []netip.Addr{mustAddr("fd00::2")}
	ucPeer := mustAddr("fd00::2")
	tests := []struct {
		name string
		cfg  Config
		pkt  func() Packet
		want error
	}{
		{"valid", mc, func() Packet { return advertFrom(mc, addrPeer6, 200, nil) }, nil},
		{"hop limit 64", mc, func() Packet {
			p := advertFrom(mc, addrPeer6, 200, nil)
			p.TTL = 64
			return p
		}, DropTTL},
		{"all-nodes instead of ff02::12", mc, func() Packet { return to(advertFrom(mc, addrPeer6, 254, nil), mustAddr("ff02::1"), 3) }, DropDest},
		{"unicast to us, multicast mode", mc, func() Packet { return to(advertFrom(mc, addrPeer6, 254, nil), addrUs6, 3) }, DropDest},
		// keepalived with a global mcast_src_ip sends from it: heard.
		{"global source, multicast mode", mc, func() Packet { return advertFrom(mc, mustAddr("fd00::99"), 254, nil) }, nil},
		{"unspecified source, multicast mode", mc, func() Packet { return advertFrom(mc, mustAddr("::"), 254, nil) }, DropSource},
		{"multicast source", mc, func() Packet { return advertFrom(mc, mustAddr("ff02::12"), 254, nil) }, DropSource},
		{"v2 over IPv6", mc, func() Packet {
			return advertFrom(mc, addrPeer6, 200, func(a *Advert) { a.Version = 2 })
		}, DropVersion},
		{"two IPv4-sized addresses", mc, func() Packet {
			p := advertFrom(mc, addrPeer6, 200, nil)
			p.Payload = p.Payload[:8+4*2]
			return to(p, p.Dst, 3)
		}, DropLength},
		{"count 1, two addresses", mc, func() Packet {
			return advertFrom(mc, addrPeer6, 200, func(a *Advert) { a.Count = 1 })
		}, DropAddrCount},
		{"checksum over the IPv4-style pseudo-header", mc, func() Packet {
			p := advertFrom(mc, addrPeer6, 200, nil)
			p.Payload[6], p.Payload[7] = 0, 0
			c := Checksum(2, p.Src, p.Dst, p.Payload)
			p.Payload[6], p.Payload[7] = byte(c>>8), byte(c)
			return p
		}, DropChecksum},
		{"checksum for another source", mc, func() Packet {
			p := advertFrom(mc, addrPeer6, 200, nil)
			p.Src = mustAddr("fe80::3")
			return p
		}, DropChecksum},
		{"one VIP of two", mc, func() Packet {
			return advertFrom(mc, addrPeer6, 200, func(a *Advert) { a.Addrs[1] = mustAddr("fe80::101") })
		}, DropAddrList},
		{"unicast peer accepted", uc, func() Packet { return advertFrom(uc, ucPeer, 200, nil) }, nil},
		{"unicast stranger", uc, func() Packet { return advertFrom(uc, mustAddr("fd00::9"), 200, nil) }, DropPeer},
		{"unicast peer to ff02::12", uc, func() Packet { return to(advertFrom(uc, ucPeer, 200, nil), Group6, 3) }, DropDest},
		{"unicast peer, hop limit 254", uc, func() Packet {
			p := advertFrom(uc, ucPeer, 200, nil)
			p.TTL = 254
			return p
		}, DropTTL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { receiveOne(t, tc.cfg, tc.pkt(), tc.want) })
	}
}

// TestSend6: an IPv6 master advertises v3 to ff02::12 with 16-byte
// addresses and a checksum that verifies over the IPv6 pseudo-header from
// its link-local source, and announces every VIP on takeover.
func TestSend6(t *testing.T) {
	cfg := baseConfig6()
	cfg.Priority = PriorityOwner
	s := newSim(t, cfg)
	s.start()
	s.wantState(StateMaster)
	s.tr.mu.Lock()
	defer s.tr.mu.Unlock()
	if len(s.tr.sent) == 0 {
		t.Fatal("no advert sent")
	}
	got := s.tr.sent[0]
	if got.dst != Group6 || got.adv.Version != 3 || len(got.adv.Addrs) != 1 || got.adv.Addrs[0] != vip6.Addr() {
		t.Fatalf("sent %+v to %v", got.adv, got.dst)
	}
	b := got.adv.Marshal()
	if len(b) != 8+16 || Checksum(3, addrUs6, Group6, b) != 0 {
		t.Fatalf("advert %x: want 24 bytes verifying over the IPv6 pseudo-header", b)
	}
	if Checksum(3, addrUs, Group, b) == 0 {
		t.Fatal("checksum also verifies over an IPv4 pseudo-header: the IPv6 one is not used")
	}
	if n := s.in.Status().Counters.GARPSent; n != uint64(cfg.GARPMasterRepeat) {
		t.Fatalf("announcements %d, want garp_master_repeat %d", n, cfg.GARPMasterRepeat)
	}
}

// to readdresses p to dst and reseals it as version would.
func to(p Packet, dst netip.Addr, version uint8) Packet {
	p.Dst = dst
	p.Payload[6], p.Payload[7] = 0, 0
	c := Checksum(version, p.Src, p.Dst, p.Payload)
	p.Payload[6], p.Payload[7] = byte(c>>8), byte(c)
	return p
}

func TestOwnAdvertIgnored(t *testing.T) {
	cfg := baseConfig()
	s := newSim(t, cfg)
	s.start()
	s.recv(advertFrom(cfg, addrUs, 200, nil))
	if st := s.in.Status(); st.Counters.AdvertsReceived != 0 || st.MasterAddr != "" {
		t.Fatalf("own advert was used: %+v", st)
	}
}

// Adverts keepalived 2.2.7 sent in the lab (v2 from lab-facts.md, v3
// captured with tcpdump from 10.99.0.2, IPv6 from fe80::2 to ff02::12 with
// hop limit 255 and traffic class 0xc0): our encoder and checksum, including
// the v3 IPv4 and IPv6 pseudo-headers, must produce the same bytes.
func TestKeepalivedWireBytes(t *testing.T) {
	vipAddr := netip.MustParseAddr("10.99.0.100")
	tests := []struct {
		name string
		wire string
		src  netip.Addr
		adv  Advert
	}{
		{"v2 prio 150", "2163960100013dd30a630064" + "0000000000000000", netip.MustParseAddr("10.99.0.1"),
			Advert{Version: 2, Type: 1, VRID: 99, Priority: 150, Count: 1, Interval: 1, Addrs: []netip.Addr{vipAddr}}},
		{"v3 prio 150", "316396010064427c0a630064", netip.MustParseAddr("10.99.0.2"),
			Advert{Version: 3, Type: 1, VRID: 99, Priority: 150, Count: 1, Interval: 100, Addrs: []netip.Addr{vipAddr}}},
		{"v3 IPv6 prio 150", "3163960200643c52" + "fe800000000000000000000000000099" + "fd000099000000000000000000000100",
			netip.MustParseAddr("fe80::2"),
			Advert{Version: 3, Type: 1, VRID: 99, Priority: 150, Count: 2, Interval: 100,
				Addrs: []netip.Addr{netip.MustParseAddr("fe80::99"), netip.MustParseAddr("fd00:99::100")}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wire, _ := hex.DecodeString(tc.wire)
			cfg := baseConfig()
			cfg.Version, cfg.VRID, cfg.VIPs = tc.adv.Version, 99, nil
			for _, a := range tc.adv.Addrs {
				cfg.VIPs = append(cfg.VIPs, VIP{Prefix: netip.PrefixFrom(a, a.BitLen()), Dev: "eth0"})
			}
			if cfg.IPv6() {
				cfg.McastGroup = Group6
			}
			if got := tc.adv.Seal(tc.src, cfg.McastGroup); !bytes.Equal(got, wire) {
				t.Fatalf("encoded %x, keepalived sent %x", got, wire)
			}
			p := Packet{Src: tc.src, Dst: cfg.McastGroup, TTL: 255, Payload: wire}
			s := newSim(t, cfg)
			s.start()
			s.recv(p)
			if st := s.in.Status(); st.Counters.AdvertsReceived != 1 || st.MasterPriority != 150 {
				t.Fatalf("keepalived's advert not accepted: %+v", st.Counters)
			}
		})
	}
}

func TestAdvertRoundTrip(t *testing.T) {
	src, dst := netip.MustParseAddr("10.99.0.1"), Group
	for _, a := range []Advert{
		{Version: 2, Type: 1, VRID: 1, Priority: 255, Count: 2, AuthType: AuthPass, Interval: 255,
			Addrs: []netip.Addr{netip.MustParseAddr("1.2.3.4"), netip.MustParseAddr("5.6.7.8")}, AuthData: passData("pw")},
		{Version: 3, Type: 1, VRID: 255, Priority: 1, Count: 1, Interval: 4095, Addrs: []netip.Addr{netip.MustParseAddr("9.9.9.9")}},
	} {
		b := a.Seal(src, dst)
		if Checksum(a.Version, src, dst, b) != 0 {
			t.Fatalf("sealed v%d advert does not verify", a.Version)
		}
		got, err := ParseAdvert(b, src.Is6())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Marshal(), b) || got.Checksum != a.Checksum {
			t.Fatalf("round trip changed v%d advert", a.Version)
		}
	}
}

func TestParseIPv4(t *testing.T) {
	adv := advertFrom(baseConfig(), addrPeer, 100, nil).Payload
	hdr := []byte{0x45, 0xc0, 0, byte(20 + len(adv)), 0, 0, 0, 0, 255, ProtoVRRP, 0, 0, 10, 0, 0, 2, 224, 0, 0, 18}
	p, ok := parseIPv4(append(hdr, adv...))
	if !ok || p.Src != addrPeer || p.Dst != Group || p.TTL != 255 || !bytes.Equal(p.Payload, adv) {
		t.Fatalf("parsed %+v ok=%v", p, ok)
	}
	if _, ok := parseIPv4(append(hdr, adv[:4]...)); ok {
		t.Fatal("accepted a datagram shorter than its total length")
	}
}
