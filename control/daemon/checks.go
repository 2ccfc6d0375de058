package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"xlb/control"
	"xlb/control/config"
	"xlb/health"
	"xlb/loader"
)

// checkSet runs one health monitor per real server with a check. A monitor
// whose check did not change keeps running (and keeps its state) across a
// reload.
type checkSet struct {
	d   *Daemon
	log *slog.Logger

	mu       sync.Mutex
	monitors map[control.BackendRef]*monitorRun
}

type monitorRun struct {
	iface  string
	cfg    config.Check
	weight uint16
	alpha  bool
	cancel context.CancelFunc
	done   chan struct{}
	// latency is written by the monitor's callback, which must not take
	// checkSet.mu: sync holds it while waiting for monitors to stop.
	latency atomic.Int64
}

func newCheckSet(d *Daemon, log *slog.Logger) *checkSet {
	return &checkSet{d: d, log: log, monitors: map[control.BackendRef]*monitorRun{}}
}

// known reports whether a monitor runs for the backend (it reports the
// backend's health itself).
func (s *checkSet) known(svc loader.ServiceKey, ip netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.monitors[control.BackendRef{Service: svc, IP: ip}]
	return ok
}

// describe is the backend's check kind and last check latency.
func (s *checkSet) describe(svc loader.ServiceKey, ip netip.Addr) (string, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.monitors[control.BackendRef{Service: svc, IP: ip}]
	if !ok {
		return "", 0
	}
	return string(m.cfg.Kind), time.Duration(m.latency.Load())
}

// sync starts, restarts and stops monitors to match the planes' services.
func (s *checkSet) sync(ctx context.Context, planes map[string]*plane) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[control.BackendRef]bool{}
	for name, p := range planes {
		for _, ref := range p.plan.services {
			for _, r := range ref.cfg.Reals {
				if r.Check == nil {
					continue
				}
				cr := control.BackendRef{Service: ref.key, IP: r.IP}
				want[cr] = true
				if m, ok := s.monitors[cr]; ok {
					if m.iface == name && reflect.DeepEqual(m.cfg, *r.Check) && m.weight == r.Weight && m.alpha == ref.cfg.Alpha {
						continue
					}
					m.stop()
					delete(s.monitors, cr)
				}
				if err := s.start(ctx, name, p, ref, r); err != nil {
					// Validated config makes this rare; the backend stays
					// in whatever state it had, and the reason says why.
					s.log.Error("health check not started", "service", ref.cfg.Name, "backend", r.IP, "error", err)
					p.rec.SetHealth(ref.key, r.IP, control.Health{Up: false, Reason: "check not started: " + err.Error()})
				}
			}
		}
	}
	for cr, m := range s.monitors {
		if !want[cr] {
			m.stop()
			delete(s.monitors, cr)
		}
	}
}

func (s *checkSet) start(ctx context.Context, iface string, p *plane, ref serviceRef, r config.RealServer) error {
	checker, err := health.NewChecker(r, s.log)
	if err != nil {
		return err
	}
	c := r.Check
	timing := health.TimingOf(c, ref.cfg.Alpha)
	name := fmt.Sprintf("%s %s", ref.cfg.Name, net.JoinHostPort(r.IP.String(), strconv.Itoa(int(r.Port))))
	mon, err := health.NewMonitor(name, checker, timing, int(r.Weight), s.log)
	if err != nil {
		return err
	}
	mctx, cancel := context.WithCancel(ctx)
	run := &monitorRun{iface: iface, cfg: *c, weight: r.Weight, alpha: ref.cfg.Alpha, cancel: cancel, done: make(chan struct{})}
	s.monitors[control.BackendRef{Service: ref.key, IP: r.IP}] = run
	dynamic := c.Exec != nil && c.Exec.Dynamic
	go func() {
		defer close(run.done)
		mon.Run(mctx, func(v health.Verdict) {
			run.latency.Store(int64(v.Latency))
			if v.Initial && v.Up && s.d.wasFailed(ref.key, r) {
				return // keep the seeded "down" until a real check says up
			}
			h := control.Health{Up: v.Up, Reason: v.Reason}
			if dynamic && v.Up {
				w := uint32(v.Weight)
				h.Weight = &w
			}
			s.log.Info("health", "service", ref.cfg.Name, "backend", r.IP, "up", v.Up, "weight", v.Weight, "reason", v.Reason, "latency", v.Latency.Round(time.Microsecond))
			p.rec.SetHealth(ref.key, r.IP, h)
			p.macs.CheckResult(r.IP, v.Up)
			s.d.trigger()
		})
	}()
	return nil
}

func (m *monitorRun) stop() {
	m.cancel()
	<-m.done
}

func (s *checkSet) stopAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for cr, m := range s.monitors {
		m.stop()
		delete(s.monitors, cr)
	}
}
