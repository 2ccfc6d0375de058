package daemon

import (
	"context"
	"log/slog"
	"reflect"
	"sync"

	"xlb/control/config"
	"xlb/control/vrrp"
	"xlb/loader"
)

// vrrpSet runs the configured VRRP instances. An instance whose config did
// not change keeps running across a reload (no needless failover).
type vrrpSet struct {
	d   *Daemon
	log *slog.Logger

	mu        sync.Mutex
	instances map[string]*vrrpRun
}

type vrrpRun struct {
	cfg    vrrp.Config
	track  config.VRRPInstance
	inst   *vrrp.Instance
	cancel context.CancelFunc
	done   chan struct{}
}

func newVRRPSet(d *Daemon, log *slog.Logger) *vrrpSet {
	return &vrrpSet{d: d, log: log, instances: map[string]*vrrpRun{}}
}

func vrrpConfig(v config.VRRPInstance) vrrp.Config {
	c := vrrp.Config{
		Name: v.Name, Interface: v.Interface, VRID: v.VRID, Priority: v.Priority, Version: uint8(v.Version),
		AdvertInterval: v.AdvertInterval, NoPreempt: v.NoPreempt, PreemptDelay: v.PreemptDelay,
		UnicastSrc: v.UnicastSrcIP, UnicastPeers: v.UnicastPeers, TrackInterfaces: v.TrackInterfaces,
		NotifyMaster: v.NotifyMaster, NotifyBackup: v.NotifyBackup, NotifyFault: v.NotifyFault,
		NotifyStop: v.NotifyStop, Notify: v.Notify,
		GARPMasterDelay: v.GARPMasterDelay, GARPMasterRepeat: v.GARPMasterRepeat, GARPMasterRefresh: v.GARPMasterRefresh,
		GARPMasterRefreshRepeat: v.GARPMasterRefreshRepeat,
		GARPLowerPrioDelay:      v.GARPLowerPrioDelay, GARPLowerPrioRepeat: v.GARPLowerPrioRepeat,
		McastGroup: v.McastGroup4, StartupDelay: v.StartupDelay,
		CheckUnicastSrc: v.CheckUnicastSrc, SkipCheckAdvAddr: v.SkipCheckAdvAddr, Strict: v.Strict,
	}
	// The config's 0 is keepalived's "garp_master_delay 0": no second burst;
	// vrrp.Config reserves 0 for its 5 s default.
	if v.GARPMasterDelay == 0 {
		c.GARPMasterDelay = -1
	}
	if v.State == config.StateMaster {
		c.InitialState = vrrp.StateMaster
	}
	if v.AuthType == config.AuthPass {
		c.AuthPass = v.AuthPass.Reveal()
	}
	for _, a := range v.VIPs {
		c.VIPs = append(c.VIPs, vrrp.VIP{Prefix: a.Prefix, Dev: a.Dev, Label: a.Label})
	}
	return c
}

// sync starts, restarts and stops instances to match cfg.
func (s *vrrpSet) sync(ctx context.Context, cfg *config.Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]config.VRRPInstance{}
	for _, v := range cfg.VRRP {
		want[v.Name] = v
	}
	for name, r := range s.instances {
		v, ok := want[name]
		if ok && reflect.DeepEqual(r.cfg, vrrpConfig(v)) {
			r.track = v
			continue
		}
		s.log.Info("vrrp instance stopping (removed or changed)", "instance", name)
		r.stop()
		delete(s.instances, name)
	}
	for _, v := range cfg.VRRP {
		if _, ok := s.instances[v.Name]; ok {
			continue
		}
		// vrrp.New removes VIPs a killed predecessor left behind: a backup
		// must not answer ARP for addresses the master owns.
		c := vrrpConfig(v)
		// The instance logs its own state changes.
		inst, err := vrrp.New(c, vrrp.Options{Logger: s.log.With("vrrp", v.Name)})
		if err != nil {
			s.log.Error("vrrp instance not started", "instance", v.Name, "error", err)
			continue
		}
		rctx, cancel := context.WithCancel(ctx)
		r := &vrrpRun{cfg: c, track: v, inst: inst, cancel: cancel, done: make(chan struct{})}
		s.instances[v.Name] = r
		go func() {
			defer close(r.done)
			if err := inst.Run(rctx); err != nil {
				s.log.Error("vrrp instance stopped", "instance", v.Name, "error", err)
			}
		}()
	}
}

func (r *vrrpRun) stop() {
	r.cancel()
	<-r.done
}

func (s *vrrpSet) stopAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, r := range s.instances {
		r.stop()
		delete(s.instances, name)
	}
}

func (s *vrrpSet) status() []vrrp.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []vrrp.Status
	for _, r := range s.instances {
		out = append(out, r.inst.Status())
	}
	return out
}

// updateTracking lowers the priority of instances that track a service with
// too little usable weight (track_service / quorum), so a director that
// cannot serve gives the VIP to one that can.
func (s *vrrpSet) updateTracking(planes map[string]*plane) {
	usable := map[string]uint32{} // service name -> sum of active weights
	quorum := map[string]uint32{}
	for _, p := range planes {
		byKey := map[loader.ServiceKey]*config.Service{}
		for _, ref := range p.plan.services {
			byKey[ref.key] = ref.cfg
		}
		for _, st := range p.rec.Status() {
			cfg := byKey[st.Key]
			if cfg == nil {
				continue
			}
			var sum uint32
			for _, b := range st.Backends {
				if b.State == loader.BackendActive {
					sum += b.Weight
				}
			}
			usable[cfg.Name] = sum
			quorum[cfg.Name] = max(cfg.Quorum, 1)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.instances {
		adjust := 0
		for _, name := range r.track.TrackServices {
			if usable[name] < quorum[name] {
				adjust = -int(r.track.NoBackendPriorityDrop)
			}
		}
		if r.inst.Status().PriorityAdjust != adjust {
			s.log.Warn("vrrp priority adjusted for tracked services", "instance", r.track.Name, "adjust", adjust)
			r.inst.SetPriorityAdjust(adjust)
		}
	}
}
