package bgp

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestCommunity(t *testing.T) {
	c, err := ParseCommunity("65001:100")
	if err != nil || uint32(c) != 65001<<16|100 || c.String() != "65001:100" {
		t.Fatalf("65001:100 -> %v (%d), %v", c, uint32(c), err)
	}
	for _, bad := range []string{"", "65001", "65536:1", "1:65536", "a:b", "-1:2"} {
		if _, err := ParseCommunity(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCheck(t *testing.T) {
	good := func() Config {
		c := Config{LocalAS: 65001, RouterID: netip.MustParseAddr("10.0.0.2"),
			Neighbors: []Neighbor{{Address: netip.MustParseAddr("10.0.0.1"), PeerAS: 65000, BFD: BFD{Enabled: true}}}}
		c.Defaults()
		return c
	}
	c := good()
	if err := c.Check(); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
	for name, mod := range map[string]func(*Config){
		"ipv6 vip over ipv4 (MP-BGP)": func(c *Config) {
			c.Neighbors[0].Families = []Family{IPv4, IPv6}
			c.Neighbors[0].IPv6NextHop = netip.MustParseAddr("fd00::2")
			c.VIPs = []VIP{{Address: netip.MustParseAddr("fd00::100")}, {Address: netip.MustParseAddr("10.0.0.100")}}
		},
		"ipv6 session": func(c *Config) {
			c.Neighbors = append(c.Neighbors, Neighbor{Address: netip.MustParseAddr("fd00::1"), PeerAS: 65000,
				LocalAddress: netip.MustParseAddr("fd00::2"), BFD: BFD{Enabled: true}})
			c.Defaults()
			c.VIPs = []VIP{{Address: netip.MustParseAddr("fd00::100")}}
		},
	} {
		c := good()
		mod(&c)
		if err := c.Check(); err != nil {
			t.Errorf("%s: refused: %v", name, err)
		}
	}
	if n := (Neighbor{Address: netip.MustParseAddr("fd00::1")}); !n.Carries(IPv6) || n.Carries(IPv4) {
		t.Errorf("an IPv6 neighbour without families carries ipv6 only, not %v/%v", n.Carries(IPv6), n.Carries(IPv4))
	}
	n := c.Neighbors[0]
	if n.HoldTime != 90*time.Second || n.Keepalive != 30*time.Second || n.BFD.MinTx != 100*time.Millisecond || n.BFD.Multiplier != 3 || c.WithdrawWait != 3*time.Second {
		t.Errorf("defaults: %+v, withdraw wait %v", n, c.WithdrawWait)
	}
	for name, tc := range map[string]struct {
		mod  func(*Config)
		want string
	}{
		"no local as":            {func(c *Config) { c.LocalAS = 0 }, "local_as"},
		"no router id":           {func(c *Config) { c.RouterID = netip.Addr{} }, "router_id"},
		"no neighbour":           {func(c *Config) { c.Neighbors = nil }, "neighbor"},
		"no peer as":             {func(c *Config) { c.Neighbors[0].PeerAS = 0 }, "peer_as"},
		"neighbour twice":        {func(c *Config) { c.Neighbors = append(c.Neighbors, c.Neighbors[0]) }, "twice"},
		"short hold time":        {func(c *Config) { c.Neighbors[0].HoldTime = 2 * time.Second }, "hold_time"},
		"keepalive > hold":       {func(c *Config) { c.Neighbors[0].Keepalive = 100 * time.Second }, "keepalive"},
		"bfd multiplier":         {func(c *Config) { c.Neighbors[0].BFD.Multiplier = 256 }, "multiplier"},
		"ipv6 vip, ipv4 session": {func(c *Config) { c.VIPs = []VIP{{Address: netip.MustParseAddr("fd00::100")}} }, "needs a session that carries IPv6"},
		"ipv4 vip, ipv6 session": {func(c *Config) {
			c.Neighbors[0].Address, c.Neighbors[0].Families = netip.MustParseAddr("fd00::1"), []Family{IPv6}
			c.VIPs = []VIP{{Address: netip.MustParseAddr("10.0.0.100")}}
		}, "needs a session that carries IPv4"},
		"ipv4 over ipv6": {func(c *Config) {
			c.Neighbors[0].Address, c.Neighbors[0].Families = netip.MustParseAddr("fd00::1"), []Family{IPv4, IPv6}
		}, "RFC 8950"},
		"ipv6 router id":      {func(c *Config) { c.RouterID = netip.MustParseAddr("fd00::2") }, "router_id must be an IPv4"},
		"link-local neighbor": {func(c *Config) { c.Neighbors[0].Address = netip.MustParseAddr("fe80::1") }, "link-local"},
		"mapped vip":          {func(c *Config) { c.VIPs = []VIP{{Address: netip.MustParseAddr("::ffff:10.0.0.100")}} }, "IPv4-mapped"},
		"mixed local address": {func(c *Config) { c.Neighbors[0].LocalAddress = netip.MustParseAddr("fd00::2") }, "different families"},
		"next hop, no ipv6":   {func(c *Config) { c.Neighbors[0].IPv6NextHop = netip.MustParseAddr("fd00::2") }, "does not carry ipv6"},
		"unknown family":      {func(c *Config) { c.Neighbors[0].Families = []Family{"vpnv4"} }, "at least one of ipv4, ipv6"},
	} {
		t.Run(name, func(t *testing.T) {
			c := good()
			tc.mod(&c)
			err := c.Check()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}
