package vrrp_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"xlb/control/vrrp"
	"xlb/test/testutil"
)

// TestExcludedVIPsRoutesRulesOnTheWire: a master holds its excluded VIP,
// virtual route and rule in its namespace, and the peer's backup follows it
// without an address-list mismatch (the excluded VIP is not advertised);
// when the master leaves, all of them are gone.
func TestExcludedVIPsRoutesRulesOnTheWire(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	cfg := ourConfig(2, time.Second, 150)
	cfg.ExcludedVIPs = []vrrp.VIP{{Prefix: netip.MustParsePrefix("10.99.0.200/32"), Dev: "eth0"}}
	cfg.Routes = []vrrp.Route{
		{Dst: netip.MustParsePrefix("10.98.0.0/24"), Gateway: netip.MustParseAddr("10.99.0.254"), Dev: "eth0"},
		{Type: "blackhole", Dst: netip.MustParsePrefix("10.97.0.0/24"), Table: 100},
	}
	cfg.Rules = []vrrp.Rule{{From: netip.MustParsePrefix(vip + "/32"), Table: 100, Priority: 1000}}
	o := startOurs(t, l.ours, cfg)
	waitUntil(t, "master", 10*time.Second, func() bool { return o.state() == vrrp.StateMaster })
	present := func(ns *testutil.NetNS) map[string]bool {
		return map[string]bool{
			"excluded VIP": strings.Contains(ns.MustRun(t, "ip", "-o", "-4", "addr", "show", "dev", "eth0"), " 10.99.0.200/32 "),
			"route":        strings.Contains(ns.MustRun(t, "ip", "-4", "route", "show", "10.98.0.0/24"), "via 10.99.0.254 dev eth0"),
			"table route":  strings.Contains(ns.MustRun(t, "ip", "-4", "route", "show", "table", "100"), "blackhole 10.97.0.0/24"),
			"rule":         strings.Contains(ns.MustRun(t, "ip", "-4", "rule", "show"), "1000:\tfrom "+vip+" lookup 100"),
		}
	}
	for what, ok := range present(l.ours) {
		if !ok {
			t.Errorf("master without its %s", what)
		}
	}
	bcfg := ourConfig(2, time.Second, 100)
	bcfg.Name = "VI_B"
	b := startOurs(t, l.ka, bcfg)
	waitUntil(t, "peer follows", 5*time.Second, func() bool {
		st := b.in.Status()
		return st.State == vrrp.StateBackup && st.MasterAddr == ourAddr && st.Counters.AdvertsReceived >= 2
	})
	if st := b.in.Status(); len(st.Mismatches) != 0 {
		t.Fatalf("the excluded VIP reached the adverts: %+v", st.Mismatches)
	}
	o.stop(t)
	for what, ok := range present(l.ours) {
		if ok {
			t.Errorf("%s left behind after the master left", what)
		}
	}
	waitUntil(t, "peer takes over", 3*time.Second, func() bool { return b.state() == vrrp.StateMaster })
}

// TestSetStatic: static_ipaddress, static_routes and static_rules go in and
// come out again in a namespace, a second add or remove changing nothing.
func TestSetStatic(t *testing.T) {
	t.Parallel()
	testutil.RequirePriv(t)
	ns := testutil.NewNetNS(t, "vstat")
	ns.MustRun(t, "ip", "link", "add", "st0", "type", "veth", "peer", "name", "st1")
	ns.MustRun(t, "ip", "link", "set", "st0", "up")
	ns.MustRun(t, "ip", "link", "set", "st1", "up")
	addrs := []vrrp.VIP{{Prefix: netip.MustParsePrefix("192.168.77.1/24"), Dev: "st0"}}
	routes := []vrrp.Route{{Dst: netip.MustParsePrefix("10.77.0.0/16"), Gateway: netip.MustParseAddr("192.168.77.254"), Dev: "st0", Table: 77}}
	rules := []vrrp.Rule{{From: netip.MustParsePrefix("192.168.77.0/24"), Table: 77, Priority: 777}}
	state := func() []bool {
		return []bool{
			strings.Contains(ns.MustRun(t, "ip", "-o", "-4", "addr", "show", "dev", "st0"), " 192.168.77.1/24 "),
			strings.Contains(ns.MustRun(t, "ip", "-4", "route", "show", "table", "77"), "10.77.0.0/16 via 192.168.77.254 dev st0"),
			strings.Contains(ns.MustRun(t, "ip", "-4", "rule", "show"), "777:\tfrom 192.168.77.0/24 lookup 77"),
		}
	}
	for _, step := range []struct {
		add  bool
		want bool
	}{{true, true}, {true, true}, {false, false}, {false, false}} {
		if err := ns.Do(func() error { return vrrp.SetStatic(addrs, routes, rules, step.add) }); err != nil {
			t.Fatalf("SetStatic(add %v): %v", step.add, err)
		}
		for i, ok := range state() {
			if ok != step.want {
				t.Fatalf("after SetStatic(add %v): entry %d present %v", step.add, i, ok)
			}
		}
	}
}
