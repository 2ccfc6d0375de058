package daemon

import (
	"context"
	"log/slog"
	"reflect"

	"xlb/control/announce"
	"xlb/control/api"
	"xlb/control/config"
	"xlb/control/script"
	"xlb/control/vrrp"
)

// vrrpAnnouncer is the VRRP announcer: one vrrp.Instance per configured
// vrrp_instance; the master holds the VIPs. An instance whose VRRP config did
// not change keeps running across a reload (no needless failover), though
// what it tracks may change.
type vrrpAnnouncer struct {
	log *slog.Logger
	// onState hears every transition with its reason (the status page's
	// event log).
	onState func(vrrp.StateChange)
	// net, when set, replaces the instances' sockets, netlink and scripts
	// (tests).
	net  func(*vrrp.Options)
	runs *supervisor[string, config.VRRPInstance, *vrrp.Instance]
	// notify runs every instance's notify scripts, in order per instance
	// across restarts; stopping an instance never waits for its scripts.
	notify *script.Queue
}

var _ announce.Announcer = (*vrrpAnnouncer)(nil)

func newVRRPAnnouncer(log *slog.Logger, onState func(vrrp.StateChange)) *vrrpAnnouncer {
	a := &vrrpAnnouncer{log: log, onState: onState, notify: script.NewQueue(log.With("scripts", "vrrp notify"))}
	a.runs = newSupervisor(a.start, func(x, y config.VRRPInstance) bool {
		return reflect.DeepEqual(x.Config, y.Config)
	})
	return a
}

func (a *vrrpAnnouncer) start(name string, v config.VRRPInstance) (*vrrp.Instance, func(context.Context), error) {
	// vrrp.New removes VIPs a killed predecessor left behind: a backup must
	// not answer ARP for addresses the master owns. The instance logs its own
	// state changes.
	opts := vrrp.Options{Logger: a.log.With("vrrp", name), OnStateChange: a.onState, NotifyQueue: a.notify}
	if a.net != nil {
		a.net(&opts)
	}
	inst, err := vrrp.New(v.Config, opts)
	if err != nil {
		return nil, nil, err
	}
	return inst, func(ctx context.Context) {
		if err := inst.Run(ctx); err != nil {
			a.log.Error("vrrp instance stopped", "instance", name, "error", err)
			return
		}
		a.log.Info("vrrp instance stopped (removed, changed or shutting down)", "instance", name)
	}, nil
}

func (a *vrrpAnnouncer) Configure(ctx context.Context, cfg *config.Config) {
	want := map[string]config.VRRPInstance{}
	for _, v := range cfg.VRRP {
		want[v.Name] = v
	}
	for name, err := range a.runs.sync(ctx, want) {
		a.log.Error("vrrp instance not started", "instance", name, "error", err)
	}
}

// Announce lowers the priority of an instance whose tracked services this
// director cannot serve (trackAdjust), and restores it when it can again.
func (a *vrrpAnnouncer) Announce(in announce.Intent) {
	byName := in.ByName()
	a.runs.each(func(name string, v config.VRRPInstance, inst *vrrp.Instance) {
		adjust, why := trackAdjust(v, byName)
		if inst.Status().PriorityAdjust != adjust {
			a.log.Warn("vrrp priority adjusted for tracked services", "instance", name, "adjust", adjust, "reason", why)
			inst.SetPriorityAdjust(adjust)
		}
	})
}

// SharesFlows: a VRRP backup takes over the master's connections.
func (a *vrrpAnnouncer) SharesFlows(cfg *config.Config) bool { return len(cfg.VRRP) > 0 }

func (a *vrrpAnnouncer) Status(s *api.Status) {
	a.runs.each(func(_ string, _ config.VRRPInstance, inst *vrrp.Instance) {
		s.VRRP = append(s.VRRP, inst.Status())
	})
}

func (a *vrrpAnnouncer) Stop() { a.runs.stopAll() }
