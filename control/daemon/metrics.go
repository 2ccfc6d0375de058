package daemon

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"xlb/control/vrrp"
	"xlb/loader"
)

// collector reads counters from the maps at scrape time, so the numbers are
// the data plane's own; only the flow count, a walk of the whole table, is
// cached (loader.FlowCountMaxAge).
type collector struct{ d *Daemon }

var (
	descSvcPackets = prometheus.NewDesc("xlb_service_packets_total", "Packets forwarded for a virtual service.", []string{"interface", "service"}, nil)
	descSvcBytes   = prometheus.NewDesc("xlb_service_bytes_total", "Bytes forwarded for a virtual service.", []string{"interface", "service"}, nil)
	descBePackets  = prometheus.NewDesc("xlb_backend_packets_total", "Packets forwarded to a real server.", []string{"interface", "service", "backend"}, nil)
	descBeBytes    = prometheus.NewDesc("xlb_backend_bytes_total", "Bytes forwarded to a real server.", []string{"interface", "service", "backend"}, nil)
	descBeUp       = prometheus.NewDesc("xlb_backend_up", "1 if the real server's health check passes.", []string{"interface", "service", "backend"}, nil)
	descBeState    = prometheus.NewDesc("xlb_backend_state", "1 for the real server's state (active, drained, down; unresolved: no MAC known yet).", []string{"interface", "service", "backend", "state"}, nil)
	descBeWeight   = prometheus.NewDesc("xlb_backend_weight", "Effective weight of the real server (0 unless active).", []string{"interface", "service", "backend"}, nil)
	descBeLatency  = prometheus.NewDesc("xlb_backend_check_latency_seconds", "Duration of the real server's last health check.", []string{"interface", "service", "backend", "check"}, nil)
	descReasons    = prometheus.NewDesc("xlb_frames_total", "Frames the XDP program passed to the stack or dropped, by reason.", []string{"interface", "reason"}, nil)
	descFlows      = prometheus.NewDesc("xlb_flows", "Entries in the flow table (counted at most every 10 s).", []string{"interface"}, nil)
	descFlowsMax   = prometheus.NewDesc("xlb_flows_max", "Capacity of the flow table.", []string{"interface"}, nil)
	descFlowEvents = prometheus.NewDesc("xlb_flow_table_packets_total", "Packets that opened, recorded, re-picked or were refused a flow-table entry (insert_limited), or took the Maglev pick with none (untracked).", []string{"interface", "event"}, nil)
	descMACRefused = prometheus.NewDesc("xlb_backend_mac_refused_total", "MACs not taken for a real server or peer (broadcast, multicast, zero, vrrp_virtual_mac, own_interface, peer_director, malformed).", []string{"interface", "reason"}, nil)
	descMACEvents  = prometheus.NewDesc("xlb_backend_mac_events_total", "MAC tracking: a known MAC replaced by another (changed), resolution attempts, attempts that found no acceptable MAC (failed).", []string{"interface", "event"}, nil)
	descVRRPState  = prometheus.NewDesc("xlb_vrrp_master", "1 while the VRRP instance is master.", []string{"vrrp_instance", "interface"}, nil)
	descVRRPPrio   = prometheus.NewDesc("xlb_vrrp_priority", "Advertised VRRP priority.", []string{"vrrp_instance", "interface"}, nil)
	descSyncFlows  = prometheus.NewDesc("xlb_flow_sync_flows_total", "Flows sent to or received from the other directors; applied here (of those, replaced an entry), unchanged; sent in table dumps.", []string{"interface", "direction"}, nil)
	descSyncDrops  = prometheus.NewDesc("xlb_flow_sync_dropped_total", "Flow-sync datagrams (auth, replay, ttl, not_peer, rate, ...) or entries (kept_local, unknown_service, ...) refused, by reason.", []string{"interface", "reason"}, nil)
	descReloads    = prometheus.NewDesc("xlb_config_reloads_total", "SIGHUP reloads, by result: applied, or refused with the running config kept.", []string{"result"}, nil)
	descVRRPDrops  = prometheus.NewDesc("xlb_vrrp_dropped_total", "VRRP packets dropped by receive check.", []string{"vrrp_instance", "reason"}, nil)
	descVRRPScript = prometheus.NewDesc("xlb_vrrp_track_script_failing", "1 while the instance's track_script is failing.", []string{"vrrp_instance", "script"}, nil)
	// Each drop is also logged ("script queue full", "stopping").
	descNotifyDropped = prometheus.NewDesc("xlb_notify_scripts_dropped_total", "Notify scripts dropped unrun: the oldest waiting when a queue (one per VRRP instance or sync group, one per real server) was full behind a slow script, or still waiting when xlbd stopped.", []string{"scripts"}, nil)
	// Non-zero growth means a peer on the VRID is configured differently:
	// a split brain in the making (alert on it).
	descSvcWeight    = prometheus.NewDesc("xlb_service_active_weight", "Sum of the weights of the service's active real servers.", []string{"interface", "service"}, nil)
	descSvcQuorum    = prometheus.NewDesc("xlb_service_quorum", "Least active weight the service needs to be usable (its quorum, at least 1).", []string{"interface", "service"}, nil)
	descVRRPMismatch = prometheus.NewDesc("xlb_vrrp_config_mismatch_total", "Adverts for the instance's VRID from a peer configured differently, by what differs.", []string{"vrrp_instance", "reason"}, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSvcPackets, descSvcBytes, descBePackets, descBeBytes, descBeUp, descBeState,
		descBeWeight, descBeLatency, descReasons, descFlows, descFlowsMax, descFlowEvents, descMACRefused, descMACEvents, descVRRPState, descVRRPPrio, descVRRPDrops, descVRRPMismatch, descVRRPScript, descSyncFlows, descSyncDrops, descReloads,
		descSvcWeight, descSvcQuorum, descNotifyDropped} {
		ch <- d
	}
	for _, d := range bgpDescs { // metrics_bgp.go
		ch <- d
	}
}

// Collect renders the daemon's status (api.Status, what xlbctl prints too)
// and the data plane's own counters.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(c.d.reloadsApplied.Load()), "applied")
	ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(c.d.reloadsRefused.Load()), "refused")
	ch <- prometheus.MustNewConstMetric(descNotifyDropped, prometheus.CounterValue, float64(c.d.vrrpNotify.Dropped()), "vrrp")
	ch <- prometheus.MustNewConstMetric(descNotifyDropped, prometheus.CounterValue, float64(c.d.checks.notify.Dropped()), "real_server")
	st := c.d.Status()
	collectBGP(ch, &st)
	c.d.mu.Lock()
	planes := maps.Clone(c.d.planes)
	c.d.mu.Unlock()
	for _, svc := range st.Services {
		name, sname := svc.Interface, svc.Key()
		dp := planes[name].dp
		if cnt, err := dp.ServiceCounter(svc.ID); err == nil {
			ch <- prometheus.MustNewConstMetric(descSvcPackets, prometheus.CounterValue, float64(cnt.Packets), name, sname)
			ch <- prometheus.MustNewConstMetric(descSvcBytes, prometheus.CounterValue, float64(cnt.Bytes), name, sname)
		}
		ch <- prometheus.MustNewConstMetric(descSvcWeight, prometheus.GaugeValue, float64(svc.ActiveWeight), name, sname)
		ch <- prometheus.MustNewConstMetric(descSvcQuorum, prometheus.GaugeValue, float64(svc.Quorum), name, sname)
		for _, b := range svc.Backends {
			bname := b.IP.String()
			if cnt, err := dp.BackendCounter(b.ID); err == nil {
				ch <- prometheus.MustNewConstMetric(descBePackets, prometheus.CounterValue, float64(cnt.Packets), name, sname, bname)
				ch <- prometheus.MustNewConstMetric(descBeBytes, prometheus.CounterValue, float64(cnt.Bytes), name, sname, bname)
			}
			ch <- prometheus.MustNewConstMetric(descBeUp, prometheus.GaugeValue, boolf(b.HealthUp), name, sname, bname)
			for _, s := range []string{"active", "drained", "down", "unresolved"} {
				ch <- prometheus.MustNewConstMetric(descBeState, prometheus.GaugeValue, boolf(b.State == s), name, sname, bname, s)
			}
			ch <- prometheus.MustNewConstMetric(descBeWeight, prometheus.GaugeValue, float64(b.Weight), name, sname, bname)
			if b.Check != "" {
				ch <- prometheus.MustNewConstMetric(descBeLatency, prometheus.GaugeValue, b.LastLatency.Seconds(), name, sname, bname, b.Check)
			}
		}
	}
	for name, p := range planes {
		if reasons, err := p.dp.ReasonCounters(); err == nil {
			for r, cnt := range reasons {
				ch <- prometheus.MustNewConstMetric(descReasons, prometheus.CounterValue, float64(cnt.Packets), name, r.String())
			}
		}
		if stats, err := p.dp.FlowCounters(); err == nil {
			for st, cnt := range stats {
				ch <- prometheus.MustNewConstMetric(descFlowEvents, prometheus.CounterValue, float64(cnt.Packets), name, st.String())
			}
		}
		// A count walks the whole table: cached, so scrapes cannot make it a CPU sink.
		if n, err := p.dp.RecentFlowCount(loader.FlowCountMaxAge); err == nil {
			ch <- prometheus.MustNewConstMetric(descFlows, prometheus.GaugeValue, float64(n), name)
		}
		ch <- prometheus.MustNewConstMetric(descFlowsMax, prometheus.GaugeValue, float64(p.dp.MaxFlows()), name)
	}
	for _, m := range st.MACs {
		for r, n := range m.Refused {
			ch <- prometheus.MustNewConstMetric(descMACRefused, prometheus.CounterValue, float64(n), m.Interface, r)
		}
		for ev, n := range map[string]uint64{"changed": m.Changes, "attempts": m.Attempts, "failed": m.Failures} {
			ch <- prometheus.MustNewConstMetric(descMACEvents, prometheus.CounterValue, float64(n), m.Interface, ev)
		}
	}
	for _, fs := range st.FlowSync {
		for dir, n := range map[string]uint64{"sent": fs.Sent, "received": fs.Received, "applied": fs.Applied,
			"replaced": fs.Replaced, "unchanged": fs.Unchanged, "bulk_sent": fs.BulkFlowsSent} {
			ch <- prometheus.MustNewConstMetric(descSyncFlows, prometheus.CounterValue, float64(n), fs.Interface, dir)
		}
		for r, n := range fs.Dropped {
			ch <- prometheus.MustNewConstMetric(descSyncDrops, prometheus.CounterValue, float64(n), fs.Interface, r)
		}
	}
	for _, v := range st.VRRP {
		ch <- prometheus.MustNewConstMetric(descVRRPState, prometheus.GaugeValue, boolf(v.State.String() == "MASTER"), v.Name, v.Interface)
		ch <- prometheus.MustNewConstMetric(descVRRPPrio, prometheus.GaugeValue, float64(v.Priority), v.Name, v.Interface)
		for r, n := range v.Counters.Drops {
			ch <- prometheus.MustNewConstMetric(descVRRPDrops, prometheus.CounterValue, float64(n), v.Name, r)
		}
		for r, n := range v.Counters.Mismatches {
			ch <- prometheus.MustNewConstMetric(descVRRPMismatch, prometheus.CounterValue, float64(n), v.Name, r)
		}
		for _, sc := range v.Scripts {
			ch <- prometheus.MustNewConstMetric(descVRRPScript, prometheus.GaugeValue, boolf(sc.State == vrrp.ScriptFailing), v.Name, sc.Name)
		}
	}
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// serveMetrics serves /metrics on addr until ctx ends.
func serveMetrics(ctx context.Context, addr string, d *Daemon) error {
	reg := prometheus.NewRegistry()
	// Goroutines, RSS and open fds: what a soak watches for leaks.
	reg.MustRegister(collector{d}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mountWeb(mux, d)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	d.log.Info("metrics", "address", "http://"+addr+"/metrics")
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
