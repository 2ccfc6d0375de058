package config

import (
	"net/netip"
	"reflect"
	"testing"

	"xlb/control/vrrp"
)

// virtual_ipaddress_excluded, virtual_routes, virtual_rules and the static_*
// blocks read as keepalived reads them (vrrp_iproute.c, vrrp_iprule.c), for
// the words xlb installs; the rest is refused at its line; all of it
// survives conversion to native YAML.
func TestRoutesRulesStatic(t *testing.T) {
	in := ka(`static_ipaddress {
    192.168.50.1/24 dev eth1
}
static_routes {
    10.50.0.0/16 via 192.168.50.254 dev eth1 table 20
}
static_rules {
    from 192.168.50.0/24 lookup 20 pref 500
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        10.0.0.100
    }
    virtual_ipaddress_excluded {
        10.0.0.200/24
        10.0.5.1 dev eth1
    }
    virtual_routes {
        src 10.0.0.100 to 10.9.0.0/24 via 10.0.0.254 dev eth0
        blackhole 10.8.0.0/16 table 100
        default gw 10.0.0.1 table main metric 10
    }
    virtual_rules {
        from 10.0.0.100 table 100
        from 10.0.0.0/24 to 10.1.0.0/24 iif eth0 table 7 priority 100
    }
}
`)
	cfg, _, err := Parse("t.conf", []byte(in), FormatKeepalived)
	if err != nil {
		t.Fatal(err)
	}
	p, a := netip.MustParsePrefix, netip.MustParseAddr
	v := cfg.VRRP[0]
	if want := []vrrp.VIP{{Prefix: p("10.0.0.200/24"), Dev: "eth0"}, {Prefix: p("10.0.5.1/32"), Dev: "eth1"}}; !reflect.DeepEqual(v.ExcludedVIPs, want) {
		t.Errorf("excluded %+v, want %+v", v.ExcludedVIPs, want)
	}
	wantRoutes := []vrrp.Route{
		{Src: a("10.0.0.100"), Dst: p("10.9.0.0/24"), Gateway: a("10.0.0.254"), Dev: "eth0"},
		{Type: "blackhole", Dst: p("10.8.0.0/16"), Table: 100},
		{Dst: p("0.0.0.0/0"), Gateway: a("10.0.0.1"), Table: 254, Metric: 10},
	}
	if !reflect.DeepEqual(v.Routes, wantRoutes) {
		t.Errorf("routes %+v, want %+v", v.Routes, wantRoutes)
	}
	wantRules := []vrrp.Rule{{From: p("10.0.0.100/32"), Table: 100}, {From: p("10.0.0.0/24"), To: p("10.1.0.0/24"), IIF: "eth0", Table: 7, Priority: 100}}
	if !reflect.DeepEqual(v.Rules, wantRules) {
		t.Errorf("rules %+v, want %+v", v.Rules, wantRules)
	}
	wantStatic := Static{
		Addresses: []vrrp.VIP{{Prefix: p("192.168.50.1/24"), Dev: "eth1"}},
		Routes:    []vrrp.Route{{Dst: p("10.50.0.0/16"), Gateway: a("192.168.50.254"), Dev: "eth1", Table: 20}},
		Rules:     []vrrp.Rule{{From: p("192.168.50.0/24"), Table: 20, Priority: 500}},
	}
	if !reflect.DeepEqual(cfg.Static, wantStatic) {
		t.Errorf("static %+v, want %+v", cfg.Static, wantStatic)
	}
	nativeRoundTrip(t, cfg)
}

func TestRoutesRulesErrors(t *testing.T) {
	_, _, err := Parse("t.conf", []byte(ka(vrrpOK+`    virtual_routes {
        10.9.0.0/24 via 10.0.0.254 mtu 1400
        10.9.1.0/24 via 2001:db8::1
        blackhole 10.9.2.0/24 via 10.0.0.1
    }
    virtual_rules {
        from 10.0.0.0/24
        from 10.0.0.0/24 fwmark 5 table 3
    }
}
static_ipaddress {
    10.3.3.3/24
}
`)), FormatKeepalived)
	diffLines(t, "errors", errStrings(err), []string{
		`t.conf:9: vrrp_instance VI_1: virtual_routes: "mtu" is not supported by xlb (it installs src, to, via/gw, dev, scope, table, metric, no_track, and the types blackhole, unreachable, prohibit)`,
		"t.conf:10: vrrp_instance VI_1: virtual_routes: mixes IPv4 and IPv6",
		"t.conf:11: vrrp_instance VI_1: virtual_routes: a blackhole route has no gateway",
		"t.conf:14: vrrp_instance VI_1: virtual_rules: no table: xlb installs rules that look up a table",
		`t.conf:15: vrrp_instance VI_1: virtual_rules: "fwmark" is not supported by xlb (it installs from, to, iif, oif, table, priority; no_track is taken)`,
		"t.conf:18: static_ipaddress: 10.3.3.3/24: wants dev IF",
	})
}
