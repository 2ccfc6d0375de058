package daemon

import (
	"net/netip"
	"strings"
	"testing"

	"xlb/control/announce"
	"xlb/control/bgp"
)

func TestBGPRoutes(t *testing.T) {
	v1, v2 := netip.MustParseAddr("10.0.0.100"), netip.MustParseAddr("10.0.0.101")
	usable := announce.Intent{Services: []announce.Service{
		{Name: "web", VIP: v1, Usable: true, Weight: 2, Quorum: 1},
		{Name: "db", VIP: v1, Usable: true, Weight: 1, Quorum: 1},
		{Name: "dns", VIP: v2, Usable: true, Weight: 1, Quorum: 1},
	}}
	dbDown := announce.Intent{Services: []announce.Service{usable.Services[0],
		{Name: "db", VIP: v1, Usable: false, Weight: 0, Quorum: 1}, usable.Services[2]}}
	drained := usable
	drained.Drained = true
	all := &bgp.Config{}
	only2 := &bgp.Config{VIPs: []bgp.VIP{{Address: v2}}}
	for name, tc := range map[string]struct {
		cfg    *bgp.Config
		in     announce.Intent
		synced bool
		want   map[netip.Addr]bool
		reason string // of the first route
	}{
		"all usable":              {all, usable, true, map[netip.Addr]bool{v1: true, v2: true}, "all 2 services usable"},
		"one port down withdraws": {all, dbDown, true, map[netip.Addr]bool{v1: false, v2: true}, "service db not usable here: weight 0 of its active backends, quorum 1"},
		"drained":                 {all, drained, true, map[netip.Addr]bool{v1: false, v2: false}, "drained by the operator"},
		"not synced":              {all, usable, false, map[netip.Addr]bool{v1: false, v2: false}, "waiting for the flow table"},
		"configured vips only":    {only2, usable, true, map[netip.Addr]bool{v2: true}, "all 1 services usable"},
		"vip with no service":     {&bgp.Config{VIPs: []bgp.VIP{{Address: netip.MustParseAddr("10.0.0.9")}}}, usable, true, map[netip.Addr]bool{netip.MustParseAddr("10.0.0.9"): false}, "no service"},
	} {
		t.Run(name, func(t *testing.T) {
			got := bgpRoutes(tc.cfg, tc.in, tc.synced)
			if len(got) != len(tc.want) {
				t.Fatalf("routes %+v, want %v", got, tc.want)
			}
			for _, r := range got {
				if want, ok := tc.want[r.VIP]; !ok || r.Announce != want {
					t.Errorf("%s: announce %v (%s), want %v", r.VIP, r.Announce, r.Reason, want)
				}
			}
			if !strings.HasPrefix(got[0].Reason, tc.reason) {
				t.Errorf("reason %q, want %q", got[0].Reason, tc.reason)
			}
		})
	}
}
