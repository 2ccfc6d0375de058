package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"reflect"
	"regexp"
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
	monitors map[checkRef]*monitorRun
}

type checkRef struct {
	svc loader.ServiceKey
	ip  netip.Addr
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
	return &checkSet{d: d, log: log, monitors: map[checkRef]*monitorRun{}}
}

// known reports whether a monitor runs for the backend (it reports the
// backend's health itself).
func (s *checkSet) known(svc loader.ServiceKey, ip netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.monitors[checkRef{svc, ip}]
	return ok
}

// describe is the backend's check kind and last check latency.
func (s *checkSet) describe(svc loader.ServiceKey, ip netip.Addr) (string, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.monitors[checkRef{svc, ip}]
	if !ok {
		return "", 0
	}
	return string(m.cfg.Kind), time.Duration(m.latency.Load())
}

// sync starts, restarts and stops monitors to match the planes' services.
func (s *checkSet) sync(ctx context.Context, planes map[string]*plane) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[checkRef]bool{}
	for name, p := range planes {
		for _, ref := range p.plan.services {
			for _, r := range ref.cfg.Reals {
				if r.Check == nil {
					continue
				}
				cr := checkRef{ref.key, r.IP}
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
	checker, err := newChecker(r, s.log)
	if err != nil {
		return err
	}
	c := r.Check
	timeout := c.ConnectTimeout
	if c.Exec != nil && c.Exec.Timeout > 0 {
		timeout = c.Exec.Timeout
	}
	timing := health.Timing{
		Interval: c.Interval, Timeout: timeout, Retry: c.Retry, DelayBeforeRetry: c.DelayBeforeRetry,
		Rise: c.Rise, Fall: c.Fall, Alpha: ref.cfg.Alpha,
		// Spread the first checks over one interval (keepalived does too),
		// so a director with many servers does not check them all at once.
		Stagger: min(c.Interval, 5*time.Second),
	}
	name := fmt.Sprintf("%s %s", ref.cfg.Name, net.JoinHostPort(r.IP.String(), strconv.Itoa(int(r.Port))))
	mon, err := health.NewMonitor(name, checker, timing, int(r.Weight), s.log)
	if err != nil {
		return err
	}
	mctx, cancel := context.WithCancel(ctx)
	run := &monitorRun{iface: iface, cfg: *c, weight: r.Weight, alpha: ref.cfg.Alpha, cancel: cancel, done: make(chan struct{})}
	s.monitors[checkRef{ref.key, r.IP}] = run
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
			if !v.Up && !v.Initial {
				go s.d.backendFailed(iface, r.IP)
			}
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

// target is where a check connects: connect_ip/connect_port when set.
func target(r config.RealServer) string {
	ip, port := r.IP, r.Port
	if r.Check.ConnectIP.IsValid() {
		ip = r.Check.ConnectIP
	}
	if r.Check.ConnectPort != 0 {
		port = r.Check.ConnectPort
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
}

// newChecker builds the checker of a real server's configured kind.
func newChecker(r config.RealServer, log *slog.Logger) (health.Checker, error) {
	c := r.Check
	switch c.Kind {
	case config.CheckTCP:
		return health.NewTCP(health.TCPConfig{Addr: target(r)})
	case config.CheckMySQL:
		return &mysqlCheck{addr: target(r), cfg: c.MySQL, log: log}, nil
	case config.CheckExec:
		argv := c.Exec.Command
		if c.Exec.User != "" {
			// keepalived's MISC_CHECK "user": runuser drops to the user; the
			// whole process group is still killed on timeout.
			argv = append([]string{"runuser", "-u", c.Exec.User, "--"}, argv...)
		}
		return health.NewExec(health.ExecConfig{Command: argv, Dynamic: c.Exec.Dynamic})
	case config.CheckHTTP:
		var body *regexp.Regexp
		if c.HTTP.BodyRegex != "" {
			var err error
			if body, err = regexp.Compile(c.HTTP.BodyRegex); err != nil {
				return nil, fmt.Errorf("http check body_regex: %w", err)
			}
		}
		hc := health.HTTPConfig{URL: "http://" + target(r) + c.HTTP.Path, Host: c.HTTP.Host, Body: body}
		for i, sr := range c.HTTP.StatusCodes {
			if i == 0 {
				hc.StatusMin, hc.StatusMax = sr.Min, sr.Max
				continue
			}
			hc.Also = append(hc.Also, health.StatusRange{Min: sr.Min, Max: sr.Max})
		}
		return health.NewHTTP(hc)
	}
	return nil, fmt.Errorf("check kind %q is not supported", c.Kind)
}

// mysqlCheck reads the credentials at every check, so a rotated
// password_file is used at the next check without a reload.
type mysqlCheck struct {
	addr string
	cfg  *config.MySQLCheck
	log  *slog.Logger
}

func (m *mysqlCheck) Check(ctx context.Context) health.Result {
	user, pass, err := m.cfg.Credentials()
	if err != nil {
		return health.Result{Reason: err.Error(), Err: err}
	}
	c, err := health.NewMySQL(health.MySQLConfig{Addr: m.addr, User: user, Password: pass,
		Replication: m.cfg.ReplicationCheck, MaxLag: m.cfg.MaxReplicationLag, ReadOnly: m.cfg.ReadOnly, Logger: m.log})
	if err != nil {
		return health.Result{Reason: err.Error(), Err: err}
	}
	return c.Check(ctx)
}
