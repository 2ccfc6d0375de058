package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"xlb/control/vrrp"
)

// TestVRRPIPv6 reads IPv6 vrrp_instances as keepalived writes them: the
// address lines (no length is /128, scope global taken, label ignored with
// keepalived's reason), native_ipv6 taken, version 3 whatever vrrp_version says, vrrp_mcast_group6, IPv6
// unicast addresses, beside an IPv4 instance that keeps vrrp_version 2.
func TestVRRPIPv6(t *testing.T) {
	cfg, warns, err := Parse("v6.conf", []byte(`global_defs {
    vrrp_version 2
    vrrp_mcast_group6 ff02::112
}
vrrp_instance V6 {
    interface eth0
    virtual_router_id 61
    native_ipv6
    virtual_ipaddress {
        fe80::61/64 dev eth0
        fd00::10/64 dev eth0
        fd00::11 scope global label eth0:v
    }
}
vrrp_instance V6U {
    interface eth0
    virtual_router_id 62
    unicast_src_ip fd00::1
    unicast_peer {
        fd00::2
    }
    virtual_ipaddress {
        fd00::20/128
    }
}
vrrp_instance V4 {
    interface eth0
    virtual_router_id 41
    virtual_ipaddress {
        10.0.0.41
    }
}
`), FormatKeepalived)
	if err != nil {
		t.Fatal(err)
	}
	diffLines(t, "warnings", warnStrings(warns), []string{
		"v6.conf:12: vrrp_instance V6: virtual_ipaddress: label: ignored: IPv6 addresses have no label (keepalived ignores it too)",
	})
	v6, v6u, v4 := cfg.VRRP[0], cfg.VRRP[1], cfg.VRRP[2]
	wantVIPs := []vrrp.VIP{
		{Prefix: netip.MustParsePrefix("fe80::61/64"), Dev: "eth0"},
		{Prefix: netip.MustParsePrefix("fd00::10/64"), Dev: "eth0"},
		{Prefix: netip.MustParsePrefix("fd00::11/128"), Dev: "eth0"},
	}
	if !reflect.DeepEqual(v6.VIPs, wantVIPs) || v6.Version != 3 || v6.McastGroup != netip.MustParseAddr("ff02::112") || v6.AdvertInterval != time.Second {
		t.Errorf("V6: version %d group %v VIPs %v", v6.Version, v6.McastGroup, v6.VIPs)
	}
	if v6u.UnicastSrc != netip.MustParseAddr("fd00::1") || !reflect.DeepEqual(v6u.UnicastPeers, []netip.Addr{netip.MustParseAddr("fd00::2")}) || v6u.Version != 3 {
		t.Errorf("V6U: %+v", v6u.Config)
	}
	if v4.Version != 2 || v4.McastGroup != vrrp.Group {
		t.Errorf("V4: version %d group %v", v4.Version, v4.McastGroup)
	}
	// What the daemon builds from it must satisfy the vrrp package.
	for _, v := range cfg.VRRP {
		if _, err := vrrp.New(v.Config, vrrp.Options{Transport: nopTransport{}, Actions: nopActions{}, Links: nopLinks{}}); err != nil {
			t.Errorf("vrrp.New(%s): %v", v.Name, err)
		}
	}
}

// TestVRRPIPv6Errors: one family per instance (what the family leaves out
// is said at its line, as keepalived does, testdata/ipv6 has more), no
// VRRPv2 with IPv6, and an IPv6 group that is link-local multicast, each
// named with file and line.
func TestVRRPIPv6Errors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
		warns    []string
	}{
		{"mixed families", `vrrp_instance V {
    interface eth0
    virtual_router_id 1
    virtual_ipaddress {
        fd00::1
        10.0.0.1
    }
}
`, nil, []string{
			"e.conf:4: vrrp_instance V: virtual_ipaddress: the first IPv6 VIP address should be link local (RFC 5798 5.2.9; keepalived warns too): a router that follows the RFC may expect it",
			`e.conf:6: vrrp_instance V: virtual_ipaddress: 10.0.0.1/32 ignored, as keepalived ignores it ("address family must match VRRP instance"): the instance is IPv6 (from line 5); put the IPv4 addresses in a vrrp_instance of their own`,
		}},
		{"version 2 with IPv6", `vrrp_instance V {
    interface eth0
    virtual_router_id 1
    version 2
    virtual_ipaddress {
        fe80::1/64
    }
}
`, []string{"e.conf:4: vrrp_instance V: version: 2 before the instance's IPv6 addresses (line 6): keepalived would then speak VRRPv2 over IPv6, which xlb does not (VRRPv2 is IPv4 only, RFC 3768): remove it or write version 3, as keepalived does for an IPv6 instance"}, nil},
		{"IPv4 unicast with IPv6 addresses", `vrrp_instance V {
    interface eth0
    virtual_router_id 1
    unicast_src_ip 10.0.0.1
    unicast_peer {
        10.0.0.2
    }
    virtual_ipaddress {
        fd00::1
    }
}
`, []string{"e.conf:8: vrrp_instance V: virtual_ipaddress: no address: at least one is required"}, []string{
			`e.conf:9: vrrp_instance V: virtual_ipaddress: fd00::1/128 ignored, as keepalived ignores it ("address family must match VRRP instance"): the instance is IPv4 (from line 4); put the IPv6 addresses in a vrrp_instance of their own`,
		}},
		{"group6 not link-local", `global_defs {
    vrrp_mcast_group6 ff05::12
}
vrrp_instance V {
    interface eth0
    virtual_router_id 1
    virtual_ipaddress {
        fe80::1/64
    }
}
`, []string{`e.conf:2: global_defs: vrrp_mcast_group6: "ff05::12" is not an IPv6 link-local multicast address (ff02::/16)`}, nil},
		{"first address not link-local: a warning", `vrrp_instance V {
    interface eth0
    virtual_router_id 1
    virtual_ipaddress {
        fd00::1/64 dev eth0
    }
}
`, nil, []string{"e.conf:4: vrrp_instance V: virtual_ipaddress: the first IPv6 VIP address should be link local (RFC 5798 5.2.9; keepalived warns too): a router that follows the RFC may expect it"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, warns, err := Parse("e.conf", []byte(tc.in), FormatKeepalived)
			diffLines(t, "errors", errStrings(err), tc.want)
			if tc.warns != nil {
				diffLines(t, "warnings", warnStrings(warns), tc.warns)
			}
		})
	}
}

// Collaborators that do nothing, so vrrp.New only validates.
type nopTransport struct{}

func (nopTransport) LocalAddr() netip.Addr         { return netip.Addr{} }
func (nopTransport) Destinations() []netip.Addr    { return nil }
func (nopTransport) Send(netip.Addr, []byte) error { return nil }
func (nopTransport) Receive() (vrrp.Packet, error) { return vrrp.Packet{}, vrrp.ErrClosed }
func (nopTransport) Close() error                  { return nil }

type nopActions struct{}

func (nopActions) AddVIPs([]vrrp.VIP) error                     { return nil }
func (nopActions) RemoveVIPs([]vrrp.VIP) error                  { return nil }
func (nopActions) SendGARP([]vrrp.VIP) error                    { return nil }
func (nopActions) AddRoutes([]vrrp.Route, []vrrp.Rule) error    { return nil }
func (nopActions) RemoveRoutes([]vrrp.Route, []vrrp.Rule) error { return nil }
func (nopActions) Notify(vrrp.Notification)                     {}
func (nopActions) Close() error                                 { return nil }

type nopLinks struct{}

func (nopLinks) Watch([]string, <-chan struct{}) (<-chan vrrp.LinkEvent, error) { return nil, nil }

// mcast_dst_ip sets one instance's group (keepalived's
// vrrp_mcast_dstip_handler), survives conversion to YAML, is written only
// when it is not the family's default, and in YAML must be the instance's
// family, and is ignored with unicast peers, as keepalived does.
func TestMcastDstIP(t *testing.T) {
	cfg, _, err := Parse("g.conf", []byte(`vrrp_instance A {
    interface eth0
    virtual_router_id 1
    mcast_dst_ip ff02::112
    virtual_ipaddress {
        fe80::1/64
    }
}
vrrp_instance B {
    interface eth0
    virtual_router_id 2
    virtual_ipaddress {
        fe80::2/64
    }
}
`), FormatKeepalived)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := cfg.VRRP[0].McastGroup, cfg.VRRP[1].McastGroup; a != netip.MustParseAddr("ff02::112") || b != vrrp.Group6 {
		t.Fatalf("groups %v %v", a, b)
	}
	out, err := MarshalNative(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(out), "mcast_dst_ip"); n != 1 || !strings.Contains(string(out), "mcast_dst_ip: ff02::112") {
		t.Errorf("YAML has mcast_dst_ip %d times:\n%s", n, out)
	}
	back, _, err := Parse("g.yaml", out, FormatYAML)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !reflect.DeepEqual(back.VRRP, cfg.VRRP) {
		t.Errorf("round trip differs\n%+v\n%+v", cfg.VRRP, back.VRRP)
	}

	const y = `interfaces: [eth0]
vrrp:
  - name: A
    interface: eth0
    vrid: 1
    mcast_dst_ip: 224.0.0.19
    vips: [fe80::1]
  - name: B
    interface: eth0
    vrid: 2
    mcast_dst_ip: ff02::112
    unicast_src_ip: fd00::1
    unicast_peers: [fd00::2]
    vips: [fd00::3]
`
	_, warns, err := Parse("g.yaml", []byte(y), FormatYAML)
	diffLines(t, "errors", errStrings(err), []string{`g.yaml:6: vrrp "A": mcast_dst_ip: 224.0.0.19: want IPv6, the family of the instance's addresses`})
	diffLines(t, "warnings", warnStrings(warns), []string{`g.yaml:11: vrrp "B": mcast_dst_ip: ignored, as keepalived ignores it with unicast peers: adverts go to the peers`})
}

// In YAML, which has no statement order to follow, an instance's family is
// its first VIP's, and anything of the other family is an error at its line.
func TestFamilyMixVRRPYAML(t *testing.T) {
	const y = `interfaces: [eth0]
vrrp:
  - name: A
    interface: eth0
    vrid: 1
    unicast_src_ip: 10.0.0.1
    unicast_peers: [fd00::2]
    vips: [fe80::1, 10.0.0.9]
`
	_, _, err := Parse("m.yaml", []byte(y), FormatYAML)
	diffLines(t, "errors", errStrings(err), []string{
		`m.yaml:6: vrrp "A": unicast_src_ip: 10.0.0.1: want IPv6, the family of the instance's addresses`,
		`m.yaml:8: vrrp "A": vips: 10.0.0.9/32: an instance's addresses are one family, and its first is IPv6: put the IPv4 addresses in a vrrp_instance of their own`,
	})
}
