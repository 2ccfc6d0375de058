package daemon

import (
	"net/netip"
	"slices"
	"testing"

	"xlb/control/config"
	"xlb/control/flowsync"
)

// Flow sync's group is the flag's, else the config's, else IPVS's; its
// peers and source are the VRRP instances' of the group's family on the
// interface: an IPv6 group takes the IPv6 instance's link-local peers, an
// IPv4 group the IPv4 one's.
func TestFlowSyncGroupAndPeers(t *testing.T) {
	cfg, _, err := config.Parse("t.yaml", []byte(`global:
  flow_sync_group: "[ff02::81]:9000"
vrrp:
  - {name: V4, interface: eth0, vrid: 1, vips: [192.168.1.30], unicast_src_ip: 192.168.1.20, unicast_peers: [192.168.1.21]}
  - {name: V6, interface: eth0, vrid: 2, vips: ["fd00:1::30"], unicast_src_ip: "fe80::20", unicast_peers: ["fe80::21"]}
  - {name: W6, interface: eth1, vrid: 3, vips: ["fd00:2::30"], unicast_peers: ["fe80::99"]}
`), config.FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	flag := netip.MustParseAddrPort("239.1.1.1:8848")
	if g := FlowSyncGroup(flag, cfg); g != flag {
		t.Errorf("with the flag: %v", g)
	}
	g6 := FlowSyncGroup(netip.AddrPort{}, cfg)
	if g6 != netip.MustParseAddrPort("[ff02::81]:9000") {
		t.Errorf("from the config: %v", g6)
	}
	if g := FlowSyncGroup(netip.AddrPort{}, &config.Config{}); g != flowsync.DefaultGroup {
		t.Errorf("default: %v", g)
	}
	for _, tc := range []struct {
		group netip.AddrPort
		iface string
		peers []netip.Addr
		src   netip.Addr
	}{
		{g6, "eth0", []netip.Addr{netip.MustParseAddr("fe80::21")}, netip.MustParseAddr("fe80::20")},
		{flowsync.DefaultGroup, "eth0", []netip.Addr{netip.MustParseAddr("192.168.1.21")}, netip.MustParseAddr("192.168.1.20")},
		{g6, "eth1", []netip.Addr{netip.MustParseAddr("fe80::99")}, netip.Addr{}},
		{flowsync.DefaultGroup, "eth1", nil, netip.Addr{}},
		{g6, "", []netip.Addr{netip.MustParseAddr("fe80::21"), netip.MustParseAddr("fe80::99")}, netip.MustParseAddr("fe80::20")},
	} {
		peers, src := FlowSyncVRRP(cfg, tc.iface, tc.group)
		if !slices.Equal(peers, tc.peers) || src != tc.src {
			t.Errorf("%v on %q: peers %v from %v, want %v from %v", tc.group, tc.iface, peers, src, tc.peers, tc.src)
		}
	}
}
