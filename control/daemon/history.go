package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"xlb/control"
	"xlb/control/announce"
	"xlb/control/api"
	"xlb/control/vrrp"
	"xlb/loader"
)

// What the daemon remembers for the status page: the last state changes and
// why, when each backend's state last changed, and a few minutes of traffic.
const (
	maxEvents       = 200
	trafficInterval = 2 * time.Second
	trafficSamples  = 150 // five minutes
)

// history records what the status model cannot read back from the data plane
// or the announcers: it is only ever appended to, by the applier (backend
// states), the VRRP instances (their transitions), reloads, and a sampler
// (traffic).
type history struct {
	mu       sync.Mutex
	events   []api.Event
	backends map[string]backendSeen // by backendKey
	traffic  map[string]*series     // by trafficKey
}

type backendSeen struct {
	state string
	since time.Time
	seen  bool // in the latest observation
}

func newHistory() *history {
	return &history{backends: map[string]backendSeen{}, traffic: map[string]*series{}}
}

func backendKey(iface string, svc loader.ServiceKey, b control.BackendStatus) string {
	return iface + " " + svc.String() + " " + b.IP.String()
}

func (h *history) add(e api.Event) {
	h.events = append(h.events, e)
	if len(h.events) > maxEvents {
		h.events = slices.Delete(h.events, 0, len(h.events)-maxEvents)
	}
}

// observeBackends records every backend whose state changed since the last
// call, with the reconciler's reason. A backend seen for the first time
// starts its clock without an event: a start or reload is not a failure.
func (h *history) observeBackends(now time.Time, byIface map[string][]control.ServiceStatus) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, v := range h.backends {
		v.seen = false
		h.backends[k] = v
	}
	for iface, svcs := range byIface {
		for _, svc := range svcs {
			for _, b := range svc.Backends {
				k := backendKey(iface, svc.Key, b)
				st := b.StateName()
				old, ok := h.backends[k]
				switch {
				case !ok:
					h.backends[k] = backendSeen{state: st, since: now, seen: true}
				case old.state != st:
					h.add(api.Event{Time: now, Kind: api.EventBackend, Subject: svc.Key.String() + " " + b.IP.String(),
						From: old.state, To: st, Reason: b.Reason})
					h.backends[k] = backendSeen{state: st, since: now, seen: true}
				default:
					old.seen = true
					h.backends[k] = old
				}
			}
		}
	}
	for k, v := range h.backends {
		if !v.seen {
			delete(h.backends, k)
		}
	}
}

// vrrpChanged records a VRRP transition with the instance's own reason.
func (h *history) vrrpChanged(c vrrp.StateChange) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.add(api.Event{Time: c.At, Kind: api.EventVRRP, Subject: c.Instance, From: c.From.String(), To: c.To.String(),
		Reason: fmt.Sprintf("%s (priority %d)", c.Reason, c.Priority)})
}

// reloaded records a reload's outcome; a refused one keeps the old config.
func (h *history) reloaded(now time.Time, config string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := api.Event{Time: now, Kind: api.EventConfig, Subject: config, To: "reloaded"}
	if err != nil {
		e.To, e.Reason = "reload refused", err.Error()
	}
	h.add(e)
}

// series is one counter's rate over the last trafficSamples intervals.
type series struct {
	last     loader.Counter
	lastAt   time.Time
	pps, bps []float64
	seen     bool
}

// sample turns a counter reading into a rate. The first reading only sets
// the base; a counter that went backwards (a backend id reused after a
// restart) restarts the base too.
func (s *series) sample(now time.Time, c loader.Counter) {
	if !s.lastAt.IsZero() && c.Packets >= s.last.Packets && c.Bytes >= s.last.Bytes {
		dt := now.Sub(s.lastAt).Seconds()
		s.pps = appendCapped(s.pps, float64(c.Packets-s.last.Packets)/dt)
		s.bps = appendCapped(s.bps, float64(c.Bytes-s.last.Bytes)/dt)
	}
	s.last, s.lastAt = c, now
}

func appendCapped(xs []float64, x float64) []float64 {
	xs = append(xs, x)
	if len(xs) > trafficSamples {
		xs = slices.Delete(xs, 0, len(xs)-trafficSamples)
	}
	return xs
}

func (s *series) traffic() *api.Traffic {
	if len(s.pps) == 0 {
		return nil
	}
	return &api.Traffic{Interval: trafficInterval, End: s.lastAt, Packets: slices.Clone(s.pps), Bytes: slices.Clone(s.bps)}
}

// observeTraffic takes one reading of every counter.
func (h *history) observeTraffic(now time.Time, counters map[string]loader.Counter) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.traffic {
		s.seen = false
	}
	for k, c := range counters {
		s := h.traffic[k]
		if s == nil {
			s = &series{}
			h.traffic[k] = s
		}
		s.sample(now, c)
		s.seen = true
	}
	for k, s := range h.traffic {
		if !s.seen {
			delete(h.traffic, k)
		}
	}
}

func serviceTrafficKey(iface string, svc loader.ServiceKey) string { return iface + " " + svc.String() }

// sampleTraffic reads the data plane's counters every trafficInterval.
func (d *Daemon) sampleTraffic(ctx context.Context) {
	t := time.NewTicker(trafficInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			d.hist.observeTraffic(now, d.counters())
		}
	}
}

// counters reads every service's and backend's counter, keyed as the
// history keys them.
func (d *Daemon) counters() map[string]loader.Counter {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]loader.Counter{}
	for name, p := range d.planes {
		for _, svc := range p.rec.Status() {
			if c, err := p.dp.ServiceCounter(svc.ID); err == nil {
				out[serviceTrafficKey(name, svc.Key)] = c
			}
			for _, b := range svc.Backends {
				if c, err := p.dp.BackendCounter(b.ID); err == nil {
					out[backendKey(name, svc.Key, b)] = c
				}
			}
		}
	}
	return out
}

// fillHistory adds the history and the flow tables to s; d.mu is held.
func (d *Daemon) fillHistory(s *api.Status) {
	for _, p := range d.planes {
		n, _ := p.dp.RecentFlowCount(loader.FlowCountMaxAge)
		s.Planes = append(s.Planes, api.Plane{Interface: p.plan.name, Flows: n, MaxFlows: p.dp.MaxFlows()})
	}
	slices.SortFunc(s.Planes, func(a, b api.Plane) int { return strings.Compare(a.Interface, b.Interface) })
	usable := d.usableServices()
	h := d.hist
	h.mu.Lock()
	defer h.mu.Unlock()
	s.Events = slices.Clone(h.events)
	for i := range s.Services {
		svc := &s.Services[i]
		key := svc.Interface + " " + netip.AddrPortFrom(svc.VIP, svc.Port).String() + "/" + svc.Protocol
		if u, ok := usable[key]; ok {
			svc.Name, svc.Usable, svc.ActiveWeight, svc.Quorum = u.Name, u.Usable, u.Weight, u.Quorum
		}
		if t := h.traffic[key]; t != nil {
			svc.Traffic = t.traffic()
		}
		for j := range svc.Backends {
			b := &svc.Backends[j]
			bk := key + " " + b.IP.String()
			b.Since = h.backends[bk].since
			if t := h.traffic[bk]; t != nil {
				b.Traffic = t.traffic()
			}
		}
	}
}

// backendStates is every plane's reconciled services; d.mu is held.
func (d *Daemon) backendStates() map[string][]control.ServiceStatus {
	m := make(map[string][]control.ServiceStatus, len(d.planes))
	for name, p := range d.planes {
		m[name] = p.rec.Status()
	}
	return m
}

// usableServices is every programmed service's usability, keyed as
// serviceTrafficKey; d.mu is held.
func (d *Daemon) usableServices() map[string]announce.Service {
	usable := map[string]announce.Service{}
	for _, p := range d.planes {
		sts := p.rec.Status()
		for _, ref := range p.plan.services {
			for _, st := range sts {
				if st.Key == ref.key {
					usable[serviceTrafficKey(p.plan.name, st.Key)] = usability(ref.cfg, st)
				}
			}
		}
	}
	return usable
}
