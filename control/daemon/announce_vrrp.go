package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"time"

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
	runs *supervisor[string, vrrpWant, *vrrp.Instance]
	// notify runs every instance's notify scripts, in order per instance
	// across restarts; stopping an instance never waits for its scripts.
	notify *script.Queue
	// pacer spaces every instance's gratuitous ARPs and neighbour
	// advertisements per interface (vrrp_garp_interval, garp_group); a
	// reload reconfigures it without restarting any instance.
	pacer *vrrp.Pacer
	// synced reports whether flow sync has the other directors' flows: a
	// backup preempts a live master only then (nil: always).
	synced func() bool
	// groups are the running sync groups by name, each with what it was
	// built from.
	groupsMu sync.Mutex
	groups   map[string]runningGroup
	// static is what static_ipaddress, static_routes and static_rules
	// installed; setStatic installs or removes (tests replace it).
	static    config.Static
	setStatic func(s config.Static, add bool) error
}

// vrrpWant is an instance as the announcer runs it: its config and, for a
// member of a sync group, the whole group's. A change to the group or to any
// of its members restarts every member with a new SyncGroup, so members never
// straddle two generations of a group.
type vrrpWant struct {
	config.VRRPInstance
	group *groupWant
}

type groupWant struct {
	cfg     vrrp.SyncGroupConfig
	members []vrrp.Config
}

type runningGroup struct {
	want *groupWant
	g    *vrrp.SyncGroup
}

var _ announce.Announcer = (*vrrpAnnouncer)(nil)

func newVRRPAnnouncer(log *slog.Logger, onState func(vrrp.StateChange), synced func() bool) *vrrpAnnouncer {
	a := &vrrpAnnouncer{log: log, onState: onState, synced: synced, notify: script.NewQueue(log.With("scripts", "vrrp notify")), groups: map[string]runningGroup{},
		pacer:     vrrp.NewPacer(nil),
		setStatic: func(s config.Static, add bool) error { return vrrp.SetStatic(s.Addresses, s.Routes, s.Rules, add) }}
	a.runs = newSupervisor(a.start, func(x, y vrrpWant) bool {
		return reflect.DeepEqual(x.Config, y.Config) && reflect.DeepEqual(x.group, y.group)
	})
	return a
}

func (a *vrrpAnnouncer) start(name string, v vrrpWant) (*vrrp.Instance, func(context.Context), error) {
	// vrrp.New removes VIPs a killed predecessor left behind: a backup must
	// not answer ARP for addresses the master owns. The instance logs its own
	// state changes.
	opts := vrrp.Options{Logger: a.log.With("vrrp", name), OnStateChange: a.onState, NotifyQueue: a.notify, MayPreempt: a.synced, Pacer: a.pacer}
	if v.group != nil {
		a.groupsMu.Lock()
		opts.SyncGroup = a.groups[v.group.cfg.Name].g
		a.groupsMu.Unlock()
	}
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
	a.configureStatic(cfg.Static)
	a.pacer.Configure(cfg.Pacing())
	byName := map[string]config.VRRPInstance{}
	for _, v := range cfg.VRRP {
		byName[v.Name] = v
	}
	memberOf := map[string]*groupWant{}
	groups := map[string]runningGroup{}
	a.groupsMu.Lock()
	for _, gc := range cfg.SyncGroups {
		gw := &groupWant{cfg: gc}
		for _, m := range gc.Members {
			gw.members = append(gw.members, byName[m].Config)
			memberOf[m] = gw
		}
		if old, ok := a.groups[gc.Name]; ok && reflect.DeepEqual(old.want, gw) {
			groups[gc.Name] = old
			continue
		}
		g, err := vrrp.NewSyncGroup(gc, vrrp.SyncGroupOptions{Logger: a.log, NotifyQueue: a.notify})
		if err != nil {
			a.log.Error("vrrp sync group not started: its members run on their own", "sync_group", gc.Name, "error", err)
			continue
		}
		groups[gc.Name] = runningGroup{want: gw, g: g}
	}
	a.groups = groups
	a.groupsMu.Unlock()
	want := map[string]vrrpWant{}
	for _, v := range cfg.VRRP {
		w := vrrpWant{VRRPInstance: v}
		if gw := memberOf[v.Name]; gw != nil && groups[gw.cfg.Name].g != nil {
			w.group = gw
		}
		want[v.Name] = w
	}
	for name, err := range a.runs.sync(ctx, want) {
		a.log.Error("vrrp instance not started", "instance", name, "error", err)
	}
}

// Announce lowers the priority of an instance whose tracked services this
// director cannot serve (trackAdjust), and restores it when it can again.
func (a *vrrpAnnouncer) Announce(in announce.Intent) {
	byName := in.ByName()
	a.runs.each(func(name string, v vrrpWant, inst *vrrp.Instance) {
		adjust, why := trackAdjust(v.VRRPInstance, byName)
		if inst.Status().PriorityAdjust != adjust {
			a.log.Warn("vrrp priority adjusted for tracked services", "instance", name, "adjust", adjust, "reason", why)
			inst.SetPriorityAdjust(adjust)
		}
	})
}

// SharesFlows: a VRRP backup takes over the master's connections.
func (a *vrrpAnnouncer) SharesFlows(cfg *config.Config) bool { return len(cfg.VRRP) > 0 }

func (a *vrrpAnnouncer) Status(s *api.Status) {
	a.runs.each(func(_ string, _ vrrpWant, inst *vrrp.Instance) {
		s.VRRP = append(s.VRRP, inst.Status())
	})
}

// notifyGrace is how long a stopping xlbd lets the queued notify scripts
// (the instances' notify_stop among them) run before it kills those still
// running and drops the rest: a hung script delays the stop this much at
// most, and none outlives xlbd (its timeout would end with xlbd).
const notifyGrace = 3 * time.Second

func (a *vrrpAnnouncer) Stop() {
	a.runs.stopAll()
	a.configureStatic(config.Static{})
	a.notify.Stop(notifyGrace)
}

// configureStatic installs the static entries want has and the running set
// lacks, and removes the ones it no longer has, as keepalived does on start,
// reload (clear_diff_static_*) and stop, whatever the VRRP state.
func (a *vrrpAnnouncer) configureStatic(want config.Static) {
	gone := config.Static{Addresses: missing(a.static.Addresses, want.Addresses), Routes: missing(a.static.Routes, want.Routes),
		Rules: missing(a.static.Rules, want.Rules)}
	added := config.Static{Addresses: missing(want.Addresses, a.static.Addresses), Routes: missing(want.Routes, a.static.Routes),
		Rules: missing(want.Rules, a.static.Rules)}
	if len(gone.Addresses)+len(gone.Routes)+len(gone.Rules) > 0 {
		if err := a.setStatic(gone, false); err != nil {
			a.log.Error("remove static addresses, routes and rules", "error", err)
		}
	}
	if len(added.Addresses)+len(added.Routes)+len(added.Rules) > 0 {
		if err := a.setStatic(added, true); err != nil {
			a.log.Error("install static addresses, routes and rules", "error", err)
		}
	}
	a.static = want
}

// missing lists the items of xs that ys lacks.
func missing[T fmt.Stringer](xs, ys []T) []T {
	var out []T
	for _, x := range xs {
		if !slices.ContainsFunc(ys, func(y T) bool { return y.String() == x.String() }) {
			out = append(out, x)
		}
	}
	return out
}
