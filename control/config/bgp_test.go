package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"xlb/control/bgp"
)

const bgpServices = `interfaces: [eth0]
services:
  - vip: 10.0.0.100
    port: 80
    reals: [{ip: 192.168.1.10}]
`

func TestBGPBlock(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "bgp.pass")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := Parse("xlb.yaml", []byte(bgpServices+`bgp:
  local_as: 65001
  router_id: 10.0.1.11
  withdraw_wait: 5
  communities: ["65001:100"]
  neighbors:
    - address: 10.0.1.1
      peer_as: 65000
      hold_time: 9
      password_file: `+pw+`
      multihop: 2
      bfd: {min_tx: 0.05, multiplier: 5}
    - {address: 10.0.1.2, peer_as: 65000, bfd: true}
  vips:
    - {address: 10.0.0.100, med: 10, local_pref: 200, communities: ["65001:200"]}
`), FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.BGP
	if b == nil || b.LocalAS != 65001 || b.RouterID != netip.MustParseAddr("10.0.1.11") || b.WithdrawWait != 5*time.Second ||
		len(b.Communities) != 1 || b.Communities[0].String() != "65001:100" {
		t.Fatalf("bgp = %+v", b)
	}
	n := b.Neighbors[0]
	if n.PeerAS != 65000 || n.HoldTime != 9*time.Second || n.Keepalive != 3*time.Second || n.Password.Reveal() != "s3cret" ||
		n.MultihopTTL != 2 || n.BFD != (bgp.BFD{Enabled: true, MinTx: 50 * time.Millisecond, MinRx: 100 * time.Millisecond, Multiplier: 5}) {
		t.Errorf("neighbor 0 = %+v", n)
	}
	if n := b.Neighbors[1]; !n.BFD.Enabled || n.BFD.Multiplier != 3 || n.HoldTime != 90*time.Second {
		t.Errorf("neighbor 1 = %+v", n)
	}
	v := b.VIPs[0]
	if v.MED == nil || *v.MED != 10 || v.LocalPref == nil || *v.LocalPref != 200 || len(v.Communities) != 1 {
		t.Errorf("vip = %+v", v)
	}
	if err := b.Check(); err != nil {
		t.Errorf("a config the reader accepted fails the speaker's invariants: %v", err)
	}
}

// An IPv6 VIP needs a session that carries IPv6, an IPv4 VIP one that
// carries IPv4: listed in bgp.vips, or (without a list) every service's.
func TestBGPFamilyMix(t *testing.T) {
	const services = `interfaces: [eth0]
services:
  - vip: 10.0.0.100
    port: 80
    reals: [{ip: 192.168.1.10}]
  - vip: "fd00:10::100"
    port: 80
    reals: [{ip: "fd00:1::10"}]
bgp:
  local_as: 65001
  router_id: 10.0.1.11
`
	for name, tc := range map[string]struct{ block, want string }{
		"ipv4 session, every vip": {"  neighbors: [{address: 10.0.1.1, peer_as: 65000}]\n",
			"xlb.yaml:6: services[1]: vip: fd00:10::100 is announced by BGP (no bgp.vips list: every service's VIP): an IPv6 VIP needs a session that carries IPv6, and no neighbor does"},
		"ipv4 session, listed": {"  neighbors: [{address: 10.0.1.1, peer_as: 65000}]\n  vips: [10.0.0.100, \"fd00:10::100\"]\n",
			"xlb.yaml:13: bgp vip: address: fd00:10::100: an IPv6 VIP needs a session that carries IPv6"},
		"ipv6 session, every vip": {"  neighbors: [{address: \"fd00:1::1\", peer_as: 65000}]\n",
			"xlb.yaml:3: services[0]: vip: 10.0.0.100 is announced by BGP (no bgp.vips list: every service's VIP): an IPv4 VIP needs a session that carries IPv4"},
		"ipv4 session with ipv6":    {"  neighbors: [{address: 10.0.1.1, peer_as: 65000, families: [ipv4, ipv6]}]\n", ""},
		"one session of each":       {"  neighbors: [{address: 10.0.1.1, peer_as: 65000}, {address: \"fd00:1::1\", peer_as: 65000}]\n", ""},
		"ipv6 session, ipv6 listed": {"  neighbors: [{address: \"fd00:1::1\", peer_as: 65000, bfd: true}]\n  vips: [\"fd00:10::100\"]\n", ""},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, _, err := Parse("xlb.yaml", []byte(services+tc.block), FormatYAML)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if err := cfg.BGP.Check(); err != nil {
					t.Errorf("a config the reader accepted fails the speaker's invariants: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error:\n%v\nwant one containing %q", err, tc.want)
			}
		})
	}
}

func TestBGPErrors(t *testing.T) {
	for name, tc := range map[string]struct{ block, want string }{
		"no local_as":          {"bgp:\n  router_id: 10.0.1.11\n  neighbors: [{address: 10.0.1.1, peer_as: 1}]\n", "xlb.yaml:6: bgp: local_as"},
		"bad router_id":        {"bgp:\n  local_as: 1\n  router_id: ::1\n  neighbors: [{address: 10.0.1.1, peer_as: 1}]\n", "xlb.yaml:8: bgp: router_id"},
		"no neighbours":        {"bgp:\n  local_as: 1\n  router_id: 10.0.1.11\n", "xlb.yaml:6: bgp: neighbors"},
		"as 0":                 {"bgp:\n  local_as: 0\n  router_id: 10.0.1.11\n  neighbors: [{address: 10.0.1.1, peer_as: 1}]\n", "xlb.yaml:7: bgp: local_as"},
		"unknown field":        {"bgp:\n  local_as: 1\n  router_id: 10.0.1.11\n  neighbours: []\n", "xlb.yaml:9: bgp: neighbours"},
		"no peer_as":           {"bgp:\n  local_as: 1\n  router_id: 10.0.1.11\n  neighbors:\n    - address: 10.0.1.1\n", "xlb.yaml:10: bgp neighbor: peer_as"},
		"short hold":           {"bgp:\n  local_as: 1\n  router_id: 10.0.1.11\n  neighbors:\n    - {address: 10.0.1.1, peer_as: 1, hold_time: 2}\n", "xlb.yaml:10: bgp neighbor: hold_time"},
		"password missing":     {"bgp:\n  local_as: 1\n  router_id: 10.0.1.11\n  neighbors:\n    - address: 10.0.1.1\n      peer_as: 1\n      password_file: /nonexistent/pw\n", "xlb.yaml:12: bgp neighbor: password_file"},
		"bad community":        {"bgp:\n  local_as: 1\n  router_id: 10.0.1.11\n  communities: [\"1:70000\"]\n  neighbors: [{address: 10.0.1.1, peer_as: 1}]\n", "xlb.yaml:9: bgp: communities"},
		"bfd multiplier":       {"bgp:\n  local_as: 1\n  router_id: 10.0.1.11\n  neighbors:\n    - address: 10.0.1.1\n      peer_as: 1\n      bfd: {multiplier: 0}\n", "xlb.yaml:12: bgp neighbor bfd: multiplier"},
		"vip of no service":    {"bgp:\n  local_as: 1\n  router_id: 10.0.1.11\n  neighbors: [{address: 10.0.1.1, peer_as: 1}]\n  vips: [{address: 10.0.0.101}]\n", "xlb.yaml:10: bgp vip: address: 10.0.0.101 is no service's VIP"},
		"link-local neighbour": {"bgp:\n  local_as: 1\n  router_id: 10.0.1.11\n  neighbors:\n    - {address: \"fe80::1\", peer_as: 1}\n", "xlb.yaml:10: bgp neighbor: address: fe80::1 is link-local"},
		"ipv6 router_id":       {"bgp:\n  local_as: 1\n  router_id: \"fd00::11\"\n  neighbors: [{address: \"fd00::1\", peer_as: 1}]\n", "xlb.yaml:8: bgp: router_id: \"fd00::11\" is not an IPv4 address"},
		"local_address of the other family": {"bgp:\n  local_as: 1\n  router_id: 10.0.1.11\n  neighbors:\n    - {address: \"fd00::1\", peer_as: 1, local_address: 10.0.1.11}\n",
			"xlb.yaml:10: bgp neighbor: local_address: local_address 10.0.1.11 and address fd00::1 are of different families"},
		"ipv4 over an ipv6 session": {"bgp:\n  local_as: 1\n  router_id: 10.0.1.11\n  neighbors:\n    - address: \"fd00::1\"\n      peer_as: 1\n      families: [ipv4, ipv6]\n",
			"xlb.yaml:12: bgp neighbor: families: an IPv6 session carries ipv6 only (IPv4 routes with an IPv6 next hop need RFC 8950"},
		"unknown family": {"bgp:\n  local_as: 1\n  router_id: 10.0.1.11\n  neighbors:\n    - {address: 10.0.1.1, peer_as: 1, families: [ipv4, vpnv4]}\n", "xlb.yaml:10: bgp neighbor: families: family \"vpnv4\": want ipv4 or ipv6"},
		"family twice":   {"bgp:\n  local_as: 1\n  router_id: 10.0.1.11\n  neighbors:\n    - {address: 10.0.1.1, peer_as: 1, families: [ipv4, ipv4]}\n", "xlb.yaml:10: bgp neighbor: families: ipv4 given twice"},
		"next hop without ipv6": {"bgp:\n  local_as: 1\n  router_id: 10.0.1.11\n  neighbors:\n    - address: 10.0.1.1\n      peer_as: 1\n      ipv6_next_hop: \"fd00::11\"\n",
			"xlb.yaml:12: bgp neighbor: ipv6_next_hop: ipv6_next_hop is set but the session does not carry ipv6"},
		"ipv4 next hop": {"bgp:\n  local_as: 1\n  router_id: 10.0.1.11\n  neighbors:\n    - address: 10.0.1.1\n      peer_as: 1\n      families: [ipv4, ipv6]\n      ipv6_next_hop: 10.0.1.11\n",
			"xlb.yaml:13: bgp neighbor: ipv6_next_hop: ipv6_next_hop 10.0.1.11 is not an IPv6 address"},
		"neighbour twice": {"bgp:\n  local_as: 1\n  router_id: 10.0.1.11\n  neighbors:\n    - {address: 10.0.1.1, peer_as: 1}\n    - {address: 10.0.1.1, peer_as: 2}\n", "xlb.yaml:11: bgp neighbor: address"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := Parse("xlb.yaml", []byte(bgpServices+tc.block), FormatYAML)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error:\n%v\nwant one containing %q", err, tc.want)
			}
		})
	}
}
