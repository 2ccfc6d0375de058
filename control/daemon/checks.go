package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"strconv"
	"sync/atomic"
	"time"

	"xlb/control"
	"xlb/control/config"
	"xlb/control/script"
	"xlb/health"
)

// checkSet runs one health monitor per real server with a check. A monitor
// whose check did not change keeps running (and keeps its state) across a
// reload.
type checkSet struct {
	d    *Daemon
	log  *slog.Logger
	runs *supervisor[control.BackendRef, checkConfig, *monitorRun]
	// notify orders each real server's notify_up/notify_down scripts, also
	// across a reload that restarts its check.
	notify *script.Queue
}

// checkConfig is what a monitor runs from.
type checkConfig struct {
	plane  *plane
	svc    *config.Service
	real   config.RealServer
	policy script.Policy // who runs the notify scripts that name no user
}

// sameCheck: a monitor keeps running while its interface, check, weight,
// notify scripts and the service's alpha stay; anything else about the
// service does not matter to it.
func sameCheck(a, b checkConfig) bool {
	return a.plane == b.plane && reflect.DeepEqual(*a.real.Check, *b.real.Check) &&
		a.real.Weight == b.real.Weight && a.svc.Alpha == b.svc.Alpha &&
		a.real.NotifyUp.Equal(b.real.NotifyUp) && a.real.NotifyDown.Equal(b.real.NotifyDown) && a.policy == b.policy
}

type monitorRun struct {
	kind config.CheckKind
	// latency is written by the monitor's callback.
	latency atomic.Int64
}

func newCheckSet(d *Daemon, log *slog.Logger) *checkSet {
	s := &checkSet{d: d, log: log, notify: script.NewQueue(log.With("scripts", "real server notify"))}
	s.runs = newSupervisor(s.start, sameCheck)
	return s
}

// known reports whether a monitor runs for the backend (it reports the
// backend's health itself).
func (s *checkSet) known(ref control.BackendRef) bool {
	_, _, ok := s.runs.get(ref)
	return ok
}

// describe is the backend's check kind and last check latency.
func (s *checkSet) describe(ref control.BackendRef) (string, time.Duration) {
	m, _, ok := s.runs.get(ref)
	if !ok {
		return "", 0
	}
	return string(m.kind), time.Duration(m.latency.Load())
}

// sync starts, restarts and stops monitors to match the planes' services.
func (s *checkSet) sync(ctx context.Context, planes map[string]*plane, policy script.Policy) {
	want := map[control.BackendRef]checkConfig{}
	for _, p := range planes {
		for _, ref := range p.plan.services {
			for _, r := range ref.cfg.Reals {
				if r.Check != nil {
					want[control.BackendRef{Service: ref.key, IP: r.IP}] = checkConfig{plane: p, svc: ref.cfg, real: r, policy: policy}
				}
			}
		}
	}
	for ref, err := range s.runs.sync(ctx, want) {
		// Validated config makes this rare; the backend stays down, and the
		// reason says why.
		c := want[ref]
		s.log.Error("health check not started", "service", c.svc.Name, "backend", ref.IP, "error", err)
		c.plane.rec.SetHealth(ref.Service, ref.IP, control.Health{Up: false, Reason: "check not started: " + err.Error()})
	}
}

func (s *checkSet) start(ref control.BackendRef, c checkConfig) (*monitorRun, func(context.Context), error) {
	r := c.real
	checker, err := health.NewChecker(r, s.log)
	if err != nil {
		return nil, nil, err
	}
	name := fmt.Sprintf("%s %s", c.svc.Name, net.JoinHostPort(r.IP.String(), strconv.Itoa(int(r.Port))))
	mon, err := health.NewMonitor(name, checker, health.TimingOf(r.Check, c.svc.Alpha), int(r.Weight), s.log)
	if err != nil {
		return nil, nil, err
	}
	run := &monitorRun{kind: r.Check.Kind}
	// Kinds whose verdicts carry a weight: misc_dynamic, and a FILE_CHECK
	// whose file's value is added to the weight.
	dynamic := r.Check.Exec != nil && r.Check.Exec.Dynamic || r.Check.File != nil && r.Check.File.Weight != 0
	failedBefore := stillFailed(r, s.d.failedBefore[ref])
	notify := &health.Notify{Up: r.NotifyUp, Down: r.NotifyDown, Log: s.log, Policy: c.policy, Queue: s.notify}
	return run, func(ctx context.Context) {
		defer notify.Wait()
		mon.Run(ctx, func(v health.Verdict) {
			run.latency.Store(int64(v.Latency))
			notify.Verdict(ctx, v)
			if v.Initial && v.Up && failedBefore {
				return // keep the seeded "down" until a real check says up
			}
			h := control.Health{Up: v.Up, Reason: v.Reason}
			if dynamic && v.Up {
				w := uint32(v.Weight)
				h.Weight = &w
			}
			s.log.Info("health", "service", c.svc.Name, "backend", r.IP, "up", v.Up, "weight", v.Weight, "reason", v.Reason, "latency", v.Latency.Round(time.Microsecond))
			c.plane.rec.SetHealth(ref.Service, ref.IP, h)
			c.plane.macs.CheckResult(r.IP, v.Up)
			s.d.trigger()
		})
	}, nil
}

func (s *checkSet) stopAll() { s.runs.stopAll() }
