package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"

	"xlb/control/announce"
	"xlb/control/api"
	"xlb/control/bgp"
	"xlb/control/config"
)

// bgpAnnouncer announces each VIP by BGP while this director should attract
// it (bgpRoutes): every director of an ECMP set does the same, and the
// routers spread the clients over those that announce.
type bgpAnnouncer struct {
	log *slog.Logger
	sp  *bgp.Speaker
	// synced reports whether this director knows the flows the others
	// carry (flow sync's bulk sync on join): it announces nothing before,
	// or ECMP would send it connections it would re-balance.
	synced func() bool

	mu  sync.Mutex
	cfg *bgp.Config
}

var _ announce.Announcer = (*bgpAnnouncer)(nil)

func newBGPAnnouncer(log *slog.Logger, synced func() bool) *bgpAnnouncer {
	return &bgpAnnouncer{log: log, sp: bgp.New(log), synced: synced}
}

func (a *bgpAnnouncer) Configure(ctx context.Context, cfg *config.Config) {
	a.mu.Lock()
	a.cfg = cfg.BGP
	a.mu.Unlock()
	if err := a.sp.Configure(ctx, cfg.BGP); err != nil {
		a.log.Error("bgp not (fully) configured", "error", err)
	}
}

func (a *bgpAnnouncer) Announce(in announce.Intent) {
	a.mu.Lock()
	cfg := a.cfg
	a.mu.Unlock()
	if cfg == nil {
		return
	}
	if err := a.sp.Set(bgpRoutes(cfg, in, a.synced())); err != nil {
		a.log.Error("bgp announce", "error", err)
	}
}

// SharesFlows: every director of the ECMP set may receive any connection
// when the routers re-hash (a director joins or leaves).
func (a *bgpAnnouncer) SharesFlows(cfg *config.Config) bool { return cfg.BGP != nil }

func (a *bgpAnnouncer) Status(s *api.Status) { s.BGP = a.sp.Status() }

// Stop withdraws every VIP, waits WithdrawWait for the routers to move the
// traffic (the pinned data plane forwards meanwhile), then closes the
// sessions.
func (a *bgpAnnouncer) Stop() { a.sp.Stop() }

// bgpRoutes decides, for every VIP BGP may announce (the bgp block's vips,
// or every service's), whether this director should attract it, and why.
// A VIP is announced only when every service on it is usable here: the
// routers send a VIP's every port to the directors that announce it, and
// another director may still serve the port that has no usable backend
// here (vc5 does the same).
func bgpRoutes(cfg *bgp.Config, in announce.Intent, synced bool) []bgp.Route {
	byVIP := map[netip.Addr][]announce.Service{}
	for _, s := range in.Services {
		byVIP[s.VIP] = append(byVIP[s.VIP], s)
	}
	var vips []netip.Addr
	if len(cfg.VIPs) > 0 {
		for _, v := range cfg.VIPs {
			vips = append(vips, v.Address)
		}
	} else {
		for v := range byVIP {
			vips = append(vips, v)
		}
		slices.SortFunc(vips, netip.Addr.Compare)
	}
	out := make([]bgp.Route, 0, len(vips))
	for _, vip := range vips {
		r := bgp.Route{VIP: vip}
		svcs := byVIP[vip]
		switch bad := unusable(svcs); {
		case len(svcs) == 0:
			r.Reason = "no service on this VIP is programmed here"
		case in.Drained:
			r.Reason = "drained by the operator (xlbctl drain)"
		case !synced:
			r.Reason = "waiting for the flow table from the other directors (flow sync)"
		case bad != nil:
			r.Reason = fmt.Sprintf("service %s not usable here: weight %d of its active backends, quorum %d", bad.Name, bad.Weight, bad.Quorum)
		default:
			r.Announce, r.Reason = true, fmt.Sprintf("all %d services usable", len(svcs))
		}
		out = append(out, r)
	}
	return out
}

func unusable(svcs []announce.Service) *announce.Service {
	for i := range svcs {
		if !svcs[i].Usable {
			return &svcs[i]
		}
	}
	return nil
}

// flowsSynced reports whether every interface's flow sync has its table
// (true without flow sync: nothing to wait for). The planes are fixed once
// Run has attached them.
func (d *Daemon) flowsSynced() bool {
	for _, p := range d.planes {
		if p.sync == nil {
			continue
		}
		select {
		case <-p.sync.Synced():
		default:
			return false
		}
	}
	return true
}

// announceWhenSynced re-runs the announcers once the flow tables are in:
// nothing else triggers a reconcile then.
func (d *Daemon) announceWhenSynced(ctx context.Context) {
	for _, p := range d.planes {
		if p.sync == nil {
			continue
		}
		select {
		case <-p.sync.Synced():
		case <-ctx.Done():
			return
		}
	}
	d.trigger()
}

// setDrained is xlbctl drain and undrain: the announcers withdraw (or
// announce again) at once; the data plane keeps forwarding what still
// arrives.
func (d *Daemon) setDrained(on bool) {
	if d.drained.Swap(on) != on {
		d.log.Warn("operator drain", "drained", on)
	}
	d.trigger()
}
