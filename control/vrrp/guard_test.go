package vrrp

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
	"xlb/control/secret"
)

// TestSplitBrainGuard: a master receives adverts for its VRID, priority 254,
// from a peer configured differently. Each is counted under its reason with
// the sender and what differs; those the RFC drops leave the master master.
func TestSplitBrainGuard(t *testing.T) {
	v2 := baseConfig()
	v2.AuthPass = secret.New("secret12")
	v3 := baseConfig()
	v3.Version = 3
	v3.VIPs = []VIP{{Prefix: vip1, Dev: "eth0"}, {Prefix: vip2, Dev: "eth0"}}
	other := netip.MustParseAddr("10.0.0.200")
	tests := []struct {
		name     string
		ours     Config
		peer     func() Packet
		reasons  []string // mismatches counted
		detail   string   // in the first reason's detail
		drop     string   // "" if the advert is used
		stepDown bool
	}{
		{"v2 peer, we speak v3", v3, func() Packet {
			c := v3
			c.Version = 2
			return advertFrom(c, addrPeer, 254, nil)
		}, []string{"version"}, "sender speaks VRRPv2, this instance v3", "version", false},
		{"v3 peer, we speak v2", v2, func() Packet {
			c := v2
			c.Version, c.AuthPass = 3, secret.Secret{}
			return advertFrom(c, addrPeer, 254, nil)
		}, []string{"version"}, "sender speaks VRRPv3, this instance v2", "version", false},
		{"v2 interval 3s", v2, func() Packet {
			c := v2
			c.AdvertInterval = 3 * time.Second
			return advertFrom(c, addrPeer, 254, nil)
		}, []string{"interval"}, "sender advert_int 3s, ours 1s", "interval", false},
		{"v3 interval 100ms: adopted, as RFC 5798 says", v3, func() Packet {
			c := v3
			c.AdvertInterval = 100 * time.Millisecond
			return advertFrom(c, addrPeer, 254, nil)
		}, []string{"interval"}, "sender advert_int 100ms, ours 1s", "", true},
		{"VIP set lacks one", v3, func() Packet {
			c := v3
			c.VIPs = c.VIPs[:1]
			return advertFrom(c, addrPeer, 254, nil)
		}, []string{"vips"}, "sender lacks 10.0.0.101", "addr_count", false},
		{"VIP set differs", v3, func() Packet {
			c := v3
			c.VIPs = []VIP{{Prefix: vip1, Dev: "eth0"}, {Prefix: netip.PrefixFrom(other, 32), Dev: "eth0"}}
			return advertFrom(c, addrPeer, 254, nil)
		}, []string{"vips"}, "sender lacks 10.0.0.101; sender adds 10.0.0.200", "addr_list", false},
		{"v2 password differs", v2, func() Packet {
			c := v2
			c.AuthPass = secret.New("other")
			return advertFrom(c, addrPeer, 254, nil)
		}, []string{"auth"}, "auth_pass differs", "auth", false},
		{"v2 peer at 2s with other VIPs", v2, func() Packet {
			c := v2
			c.AdvertInterval = 2 * time.Second
			c.VIPs = []VIP{{Prefix: vip2, Dev: "eth0"}}
			return advertFrom(c, addrPeer, 254, nil)
		}, []string{"interval", "vips"}, "sender advert_int 2s, ours 1s", "interval", false},
		{"same config: nothing to report", v3, func() Packet { return advertFrom(v3, addrPeer, 254, nil) }, nil, "", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.ours
			cfg.Priority = 200
			s := newSim(t, cfg)
			s.start()
			s.at(4 * time.Second)
			s.wantState(StateMaster)
			s.recv(tc.peer())
			st := s.in.Status()
			var got []string
			for _, m := range st.Mismatches {
				got = append(got, m.Reason)
				if m.Count != 1 || m.LastFrom != addrPeer.String() || !m.LastAt.Equal(t0.Add(4*time.Second)) || m.LastDropped != (tc.drop != "") {
					t.Errorf("mismatch %+v: want count 1 from %v at +4s, dropped %v", m, addrPeer, tc.drop != "")
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.reasons, ",") {
				t.Fatalf("mismatches %v, want %v", got, tc.reasons)
			}
			if len(tc.reasons) > 0 && !strings.Contains(st.Mismatches[0].LastDetail, tc.detail) {
				t.Errorf("detail %q, want it to say %q", st.Mismatches[0].LastDetail, tc.detail)
			}
			var drops uint64
			for _, n := range st.Counters.Drops {
				drops += n
			}
			if tc.drop == "" {
				if drops != 0 || st.Counters.AdvertsReceived != 1 {
					t.Errorf("want the advert used, got drops %v", st.Counters.Drops)
				}
			} else if drops != 1 || st.Counters.Drops[tc.drop] != 1 {
				t.Errorf("want one %s drop, got %v", tc.drop, st.Counters.Drops)
			}
			if want := map[bool]State{true: StateBackup, false: StateMaster}[tc.stepDown]; st.State != want {
				t.Errorf("state %v after a priority 254 advert, want %v", st.State, want)
			}
		})
	}
}

// TestSplitBrainGuardWarnsRateLimited: the first mismatching advert is
// logged at once as a warning naming the sender and the difference; more
// within a minute are counted but not logged; the next warning says how many
// came since.
func TestSplitBrainGuardWarnsRateLimited(t *testing.T) {
	cfg := baseConfig()
	cfg.Version = 3
	s := newSim(t, cfg)
	var logs bytes.Buffer
	s.in.log = slog.New(slog.NewTextHandler(&logs, nil))
	s.start()
	peer := cfg
	peer.Version = 2
	warnings := func() []string {
		var w []string
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "level=WARN") && strings.Contains(l, "configured differently") {
				w = append(w, l)
			}
		}
		return w
	}
	for i := range 30 {
		s.at(time.Duration(i) * time.Second)
		s.recv(advertFrom(peer, addrPeer, 100, nil))
	}
	w := warnings()
	if len(w) != 1 || !strings.Contains(w[0], "from=10.0.0.2") || !strings.Contains(w[0], "reason=version") ||
		!strings.Contains(w[0], "VRRPv2") || !strings.Contains(w[0], "adverts=1") || !strings.Contains(w[0], "both may be master") {
		t.Fatalf("after 30 adverts in 30s want one warning naming sender and reason, got %q", w)
	}
	s.at(61 * time.Second)
	s.recv(advertFrom(peer, addrPeer, 100, nil))
	w = warnings()
	if len(w) != 2 || !strings.Contains(w[1], "adverts=30") {
		t.Fatalf("a minute later want a second warning counting the 30 adverts since, got %q", w)
	}
	if m := s.in.Status().Mismatches; len(m) != 1 || m[0].Count != 31 {
		t.Fatalf("want 31 version mismatches counted, got %+v", m)
	}
}

// TestMismatchNeedsAuthenticAdvert: adverts that fail the receive checks
// (TTL, destination, peer, checksum, VRID) are drops, never mismatches: a
// forged or foreign packet cannot raise the split-brain alarm.
func TestMismatchNeedsAuthenticAdvert(t *testing.T) {
	cfg := baseConfig()
	peer := cfg
	peer.Version = 3
	s := newSim(t, cfg)
	s.start()
	bad := []Packet{
		func() Packet { p := advertFrom(peer, addrPeer, 100, nil); p.TTL = 64; return p }(),
		to(advertFrom(peer, addrPeer, 100, nil), addrUs, 3),
		advertFrom(peer, addrPeer, 100, func(a *Advert) { a.VRID = 52 }),
		func() Packet { p := advertFrom(peer, addrPeer, 100, nil); p.Payload[7] ^= 1; return p }(),
	}
	for _, p := range bad {
		s.recv(p)
	}
	st := s.in.Status()
	if len(st.Mismatches) != 0 {
		t.Fatalf("mismatches from unauthentic packets: %+v", st.Mismatches)
	}
	if d := st.Counters.Drops; d["ttl"] != 1 || d["dest"] != 1 || d["vrid"] != 1 || d["checksum"] != 1 {
		t.Fatalf("drops %v, want one each of ttl, dest, vrid, checksum", d)
	}
}

// TestRefusalsWarnRateLimited: forged adverts (here TTL 64) give one
// warning a minute naming the sender; another VRID's adverts, normal on a
// shared segment, give none.
func TestRefusalsWarnRateLimited(t *testing.T) {
	cfg := baseConfig()
	s := newSim(t, cfg)
	var logs bytes.Buffer
	s.in.log = slog.New(slog.NewTextHandler(&logs, nil))
	s.start()
	for i := range 5 {
		s.at(time.Duration(i) * time.Second)
		p := advertFrom(cfg, addrPeer, 254, nil)
		p.TTL = 64
		s.recv(p)
		s.recv(advertFrom(cfg, addrPeer, 254, func(a *Advert) { a.VRID = 52 }))
	}
	s.at(time.Minute)
	p := advertFrom(cfg, addrPeer, 254, nil)
	p.TTL = 64
	s.recv(p)
	var warns []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "level=WARN") {
			warns = append(warns, l)
		}
	}
	if len(warns) != 2 || !strings.Contains(warns[0], "reason=ttl") || !strings.Contains(warns[0], "from=10.0.0.2") ||
		!strings.Contains(warns[0], "ttl=64") || !strings.Contains(warns[1], "packets=5") {
		t.Fatalf("want two ttl warnings (the first, then one for the 5 since), got %q", warns)
	}
	if d := s.in.Status().Counters.Drops; d["ttl"] != 6 || d["vrid"] != 5 {
		t.Fatalf("drops %v, want 6 ttl and 5 vrid", d)
	}
}

// TestSplitBrainGuard6: the guard counts an IPv6 peer configured
// differently as it does an IPv4 one: another VIP set is a "vips" mismatch
// (dropped, the master holds), another v3 interval an "interval" one
// (adopted: the better peer wins).
func TestSplitBrainGuard6(t *testing.T) {
	other := VIP{Prefix: mustPrefix("fd00::200/64"), Dev: "eth0"}
	for _, tc := range []struct {
		name     string
		mod      func(*Config)
		reason   string
		detail   string
		drop     string
		stepDown bool
	}{
		{"VIP set differs", func(c *Config) { c.VIPs = []VIP{other} }, "vips", "sender lacks fd00::100; sender adds fd00::200", "addr_list", false},
		{"interval 100ms", func(c *Config) { c.AdvertInterval = 100 * time.Millisecond }, "interval", "sender advert_int 100ms, ours 1s", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig6()
			cfg.Priority = 200
			s := newSim(t, cfg)
			s.start()
			s.at(4 * time.Second)
			s.wantState(StateMaster)
			peer := baseConfig6()
			tc.mod(&peer)
			s.recv(advertFrom(peer, addrPeer6, 254, nil))
			st := s.in.Status()
			if len(st.Mismatches) != 1 {
				t.Fatalf("mismatches %+v, want one %s", st.Mismatches, tc.reason)
			}
			m := st.Mismatches[0]
			if m.Reason != tc.reason || m.LastFrom != addrPeer6.String() || !strings.Contains(m.LastDetail, tc.detail) || m.LastDropped != (tc.drop != "") {
				t.Fatalf("mismatch %+v: want %s from %v saying %q, dropped %v", m, tc.reason, addrPeer6, tc.detail, tc.drop != "")
			}
			if tc.drop != "" && st.Counters.Drops[tc.drop] != 1 {
				t.Fatalf("drops %v, want one %s", st.Counters.Drops, tc.drop)
			}
			if want := map[bool]State{true: StateBackup, false: StateMaster}[tc.stepDown]; st.State != want {
				t.Fatalf("state %v after a priority 254 advert, want %v", st.State, want)
			}
		})
	}
}
