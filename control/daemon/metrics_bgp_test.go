package daemon

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"xlb/control/api"
	"xlb/control/bgp"
)

type bgpOnly struct{ st *api.Status }

func (c bgpOnly) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range bgpDescs {
		ch <- d
	}
}
func (c bgpOnly) Collect(ch chan<- prometheus.Metric) { collectBGP(ch, c.st) }

func TestBGPMetrics(t *testing.T) {
	st := &api.Status{Drained: true, BGP: &bgp.Status{Announces: 4, Withdraws: 2,
		Sessions: []bgp.Session{
			{Neighbor: netip.MustParseAddr("10.0.1.1"), State: "established", BFD: "up", BFDTransitions: 1, Sent: 2, Flops: 3},
			{Neighbor: netip.MustParseAddr("10.0.1.2"), State: "active"},
			{Neighbor: netip.MustParseAddr("fd00:1:0::1"), State: "established"},
		},
		Routes: []bgp.RouteStatus{{Route: bgp.Route{VIP: netip.MustParseAddr("10.0.0.100")}, Announced: true}, {Route: bgp.Route{VIP: netip.MustParseAddr("10.0.0.101")}},
			{Route: bgp.Route{VIP: netip.MustParseAddr("fd00:10:0::0100")}, Announced: true}}}}
	want := `
# HELP xlb_bgp_bfd_up 1 while the neighbour's BFD session is up (only neighbours with BFD).
# TYPE xlb_bgp_bfd_up gauge
xlb_bgp_bfd_up{neighbor="10.0.1.1"} 1
# HELP xlb_bgp_session_established 1 while the BGP session with the neighbour is established.
# TYPE xlb_bgp_session_established gauge
xlb_bgp_session_established{neighbor="10.0.1.1"} 1
xlb_bgp_session_established{neighbor="10.0.1.2"} 0
xlb_bgp_session_established{neighbor="fd00:1::1"} 1
# HELP xlb_bgp_vip_announced 1 while the VIP is announced by BGP (xlbctl bgp says why not).
# TYPE xlb_bgp_vip_announced gauge
xlb_bgp_vip_announced{vip="10.0.0.100"} 1
xlb_bgp_vip_announced{vip="10.0.0.101"} 0
xlb_bgp_vip_announced{vip="fd00:10::100"} 1
# HELP xlb_bgp_route_changes_total VIP announcements and withdrawals since start.
# TYPE xlb_bgp_route_changes_total counter
xlb_bgp_route_changes_total{change="announce"} 4
xlb_bgp_route_changes_total{change="withdraw"} 2
# HELP xlb_drained 1 while the operator has drained this director (xlbctl drain).
# TYPE xlb_drained gauge
xlb_drained 1
`
	if err := testutil.CollectAndCompare(bgpOnly{st}, strings.NewReader(want),
		"xlb_bgp_bfd_up", "xlb_bgp_session_established", "xlb_bgp_vip_announced", "xlb_bgp_route_changes_total", "xlb_drained"); err != nil {
		t.Fatal(err)
	}
}
