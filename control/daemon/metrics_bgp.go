package daemon

import (
	"github.com/prometheus/client_golang/prometheus"

	"xlb/control/api"
)

var (
	descBGPSession  = prometheus.NewDesc("xlb_bgp_session_established", "1 while the BGP session with the neighbour is established.", []string{"neighbor"}, nil)
	descBGPFlops    = prometheus.NewDesc("xlb_bgp_session_flops_total", "Times the BGP session with the neighbour left established.", []string{"neighbor"}, nil)
	descBGPSent     = prometheus.NewDesc("xlb_bgp_prefixes_sent", "Prefixes advertised to the neighbour.", []string{"neighbor"}, nil)
	descBFDUp       = prometheus.NewDesc("xlb_bgp_bfd_up", "1 while the neighbour's BFD session is up (only neighbours with BFD).", []string{"neighbor"}, nil)
	descBFDFailures = prometheus.NewDesc("xlb_bgp_bfd_failures_total", "Times the neighbour's BFD session went down.", []string{"neighbor"}, nil)
	descBGPVIP      = prometheus.NewDesc("xlb_bgp_vip_announced", "1 while the VIP is announced by BGP (xlbctl bgp says why not).", []string{"vip"}, nil)
	descBGPChanges  = prometheus.NewDesc("xlb_bgp_route_changes_total", "VIP announcements and withdrawals since start.", []string{"change"}, nil)
	descDrained     = prometheus.NewDesc("xlb_drained", "1 while the operator has drained this director (xlbctl drain).", nil, nil)
)

var bgpDescs = []*prometheus.Desc{descBGPSession, descBGPFlops, descBGPSent, descBFDUp, descBFDFailures, descBGPVIP, descBGPChanges, descDrained}

// collectBGP renders the BGP part of the status.
func collectBGP(ch chan<- prometheus.Metric, st *api.Status) {
	ch <- prometheus.MustNewConstMetric(descDrained, prometheus.GaugeValue, boolf(st.Drained))
	b := st.BGP
	if b == nil {
		return
	}
	for _, s := range b.Sessions {
		n := s.Neighbor.String()
		ch <- prometheus.MustNewConstMetric(descBGPSession, prometheus.GaugeValue, boolf(s.Established()), n)
		ch <- prometheus.MustNewConstMetric(descBGPFlops, prometheus.CounterValue, float64(s.Flops), n)
		ch <- prometheus.MustNewConstMetric(descBGPSent, prometheus.GaugeValue, float64(s.Sent), n)
		if s.BFD != "" {
			ch <- prometheus.MustNewConstMetric(descBFDUp, prometheus.GaugeValue, boolf(s.BFD == "up"), n)
			ch <- prometheus.MustNewConstMetric(descBFDFailures, prometheus.CounterValue, float64(s.BFDTransitions), n)
		}
	}
	for _, r := range b.Routes {
		ch <- prometheus.MustNewConstMetric(descBGPVIP, prometheus.GaugeValue, boolf(r.Announced), r.VIP.String())
	}
	ch <- prometheus.MustNewConstMetric(descBGPChanges, prometheus.CounterValue, float64(b.Announces), "announce")
	ch <- prometheus.MustNewConstMetric(descBGPChanges, prometheus.CounterValue, float64(b.Withdraws), "withdraw")
}
