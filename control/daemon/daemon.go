// Package daemon is xlbd: it attaches the data plane to the configured
// interfaces, keeps the maps in line with config, health and MACs, runs the
// VRRP instances, and serves metrics and the control socket.
//
// Restarts are hitless: the data plane is pinned, so a new xlbd adopts the
// services, backend ids and flows the previous one left, and forwarding never
// stops in between. SIGHUP reloads the config: an invalid file keeps the old
// one running.
package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"xlb/control"
	"xlb/control/announce"
	"xlb/control/api"
	"xlb/control/config"
	"xlb/control/flowsync"
	"xlb/control/script"
	"xlb/control/vrrp"
	"xlb/internal/hashseed"
	"xlb/loader"
	"xlb/loader/bpffs"
)

// Options configure a daemon run.
type Options struct {
	ConfigPath string
	Config     config.Options // how to read ConfigPath
	PinRoot    string
	Mode       loader.AttachMode
	MaxFlows   uint32
	// MetricsAddr serves Prometheus /metrics; empty disables it.
	MetricsAddr string
	// Socket is the control socket's path; empty disables it.
	Socket string
	// ARPTimeout bounds one ARP attempt; MACRefresh is how often every
	// backend's MAC is confirmed (control.MACTracker keeps it meanwhile).
	ARPTimeout time.Duration
	MACRefresh time.Duration
	Log        *slog.Logger
	// Version is reported on the control socket.
	Version string
	// FlowSync sends recorded flows to the other director and applies its
	// flows (when VRRP instances are configured): connections survive a
	// director failover even when their backend is no longer the table's
	// pick. FlowSyncGroup is the multicast group:port, IPv4 or IPv6 (zero:
	// the config's, else 224.0.0.81:8848; see FlowSyncGroup).
	// It needs FlowSyncKeys (one key file, two while rotating): without a
	// key flow sync stays off. FlowSyncPeers are the senders accepted
	// (default: the VRRP unicast peers).
	FlowSync      bool
	FlowSyncGroup netip.AddrPort
	// HashSeed seeds the data plane's flow hash (loader.Options.HashSeed):
	// the same on both directors, secret from clients. 0 keeps the public
	// default, with a warning.
	HashSeed      uint32
	FlowSyncKeys  []string
	FlowSyncPeers []netip.Addr
}

// Daemon is a running xlbd.
type Daemon struct {
	opts Options
	log  *slog.Logger

	// drained: the operator took this director out (xlbctl drain).
	drained atomic.Bool
	// quorum runs the services' quorum_up/quorum_down scripts.
	quorum quorumNotifier

	mu       sync.Mutex
	cfg      *config.Config
	loadedAt time.Time
	planes   map[string]*plane // by interface name

	checks *checkSet
	// vrrpNotify is the VRRP announcer's notify queue (its drops are a
	// metric).
	vrrpNotify *script.Queue
	// announcers make the network send the VIPs here (VRRP today).
	announcers []announce.Announcer
	kick       chan struct{}
	// reloadsApplied and reloadsRefused count SIGHUPs by outcome (metrics).
	reloadsApplied, reloadsRefused atomic.Uint64
	// failedBefore holds the backends a previous run had taken out (down, or
	// drained by inhibit_on_failure): after a restart they stay out until
	// their first check passes, instead of starting up as fresh ones do.
	failedBefore map[control.BackendRef]bool
	// hist is what the status page shows beyond the current state.
	hist *history
}

// plane is one attached interface.
type plane struct {
	plan  *ifacePlan
	dp    *loader.Dataplane
	rec   *control.Reconciler
	neigh *control.Neighbours
	macs  *control.MACTracker
	sync  *flowsync.Syncer // nil without flow sync
	// moveErr is the last error moving each of the plane's sockets to a
	// re-created netdev, by what they serve (followLink's goroutine only),
	// so each is logged once.
	moveErr map[string]string
}

// LoadConfig reads and validates a config file, logging its warnings.
func LoadConfig(path string, o config.Options, log *slog.Logger) (*config.Config, error) {
	cfg, warnings, err := config.LoadWith(path, o)
	for _, w := range warnings {
		log.Warn("config", "warning", w.String())
	}
	return cfg, err
}

// Run runs the daemon until ctx ends or SIGTERM/SIGINT arrives.
func Run(ctx context.Context, opts Options) error {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.ARPTimeout == 0 {
		opts.ARPTimeout = time.Second
	}
	if opts.MACRefresh == 0 {
		opts.MACRefresh = 30 * time.Second
	}
	cfg, err := LoadConfig(opts.ConfigPath, opts.Config, opts.Log)
	if err != nil {
		return err
	}
	if err := chooseInterfaces(cfg, opts.Log); err != nil {
		return fmt.Errorf("%s: %w", opts.ConfigPath, err)
	}
	plans, err := planInterfaces(cfg, net.InterfaceByName, control.OnLink)
	if err != nil {
		return fmt.Errorf("%s: %w", opts.ConfigPath, err)
	}
	if opts.HashSeed, err = hashSeed(opts, cfg); err != nil {
		return fmt.Errorf("%s: hash_seed_file: %w", opts.ConfigPath, err)
	}

	opts.FlowSyncGroup = FlowSyncGroup(opts.FlowSyncGroup, cfg)
	// One xlbd per interface, decided before anything is touched.
	if err := bpffs.Ensure(); err != nil {
		return err
	}
	release, err := lockInterfaces(filepath.Dir(cmp.Or(opts.Socket, api.DefaultSocket)), loader.PinRoot(opts.PinRoot), cfg.Interfaces)
	if err != nil {
		return err
	}
	defer release()
	d := &Daemon{opts: opts, log: opts.Log, quorum: quorumNotifier{log: opts.Log}, cfg: cfg, loadedAt: time.Now(), planes: map[string]*plane{}, kick: make(chan struct{}, 1),
		failedBefore: map[control.BackendRef]bool{}, hist: newHistory()}
	va := newVRRPAnnouncer(d.log, d.hist.vrrpChanged, d.flowsSynced)
	d.vrrpNotify = va.notify
	d.announcers = []announce.Announcer{va, newBGPAnnouncer(d.log, d.flowsSynced)}
	// Flow sync only matters where another director may take over.
	flowSync := false
	for _, a := range d.announcers {
		flowSync = flowSync || (opts.FlowSync && a.SharesFlows(cfg))
	}
	var syncKeys *flowsync.Keyring
	if flowSync {
		if syncKeys, err = flowSyncKeys(opts); err != nil {
			return err
		}
	}
	defer d.closePlanes()
	for _, p := range plans {
		if err := d.attach(p, syncKeys); err != nil {
			return err
		}
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	d.checks = newCheckSet(d, d.log)
	d.applyConfig(ctx, cfg)
	if err := d.applyNow(); err != nil {
		d.log.Error("first apply", "error", err)
	}

	for _, p := range d.planes {
		if p.sync == nil {
			continue
		}
		wait, err := p.sync.Start(ctx)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() { defer wg.Done(); wait() }()
	}
	wg.Add(2)
	go func() { defer wg.Done(); d.applier(ctx) }()
	go func() { defer wg.Done(); d.announceWhenSynced(ctx) }() // announce_bgp.go
	for _, p := range d.planes {
		wg.Add(3)
		go func() { defer wg.Done(); p.macs.Run(ctx) }()
		go func() { defer wg.Done(); p.neigh.Watch(ctx, p.macs.Observe) }()
		go func() { defer wg.Done(); d.followLink(ctx, p) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); d.followPeers(ctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); d.sampleTraffic(ctx) }()
	errc := make(chan error, 2)
	if opts.Socket != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := api.ServeControl(ctx, opts.Socket, api.Control{Status: d.Status, Drain: d.setDrained}); err != nil {
				errc <- fmt.Errorf("control socket: %w", err)
			}
		}()
	}
	if opts.MetricsAddr != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := serveMetrics(ctx, opts.MetricsAddr, d); err != nil {
				errc <- fmt.Errorf("metrics: %w", err)
			}
		}()
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	d.log.Info("xlbd running", "config", opts.ConfigPath, "interfaces", cfg.Interfaces, "services", len(cfg.Services), "vrrp_instances", len(cfg.VRRP))
	for {
		select {
		case <-ctx.Done():
			d.log.Info("stopping: the data plane stays pinned and keeps forwarding; `xlbd detach` removes it")
			d.stopRuns()
			return nil
		case err := <-errc:
			d.stopRuns()
			return err
		case <-hup:
			d.hist.reloaded(time.Now(), opts.ConfigPath, d.reload(ctx))
		}
	}
}

func (d *Daemon) stopRuns() {
	d.checks.stopAll()
	for _, a := range d.announcers {
		a.Stop()
	}
}

// hashSeed is the flow hash seed: the one xlbd run was given
// (--hash-seed-file), else the config's hash_seed_file's, else 0 (the
// public default). It is read once, at start: the program holds it as a
// constant, so a new seed takes a restart (which keeps the flow table).
func hashSeed(opts Options, cfg *config.Config) (uint32, error) {
	if opts.HashSeed != 0 || cfg.Global.HashSeedFile == "" {
		return opts.HashSeed, nil
	}
	return hashseed.Read(cfg.Global.HashSeedFile)
}

// loaderOptions are the data plane's options; flowEvents: flow sync needs
// the program to report the flows it records.
func (o Options) loaderOptions(flowEvents bool) loader.Options {
	return loader.Options{PinRoot: o.PinRoot, Mode: o.Mode, MaxFlows: o.MaxFlows,
		FlowEvents: flowEvents, HashSeed: o.HashSeed, Log: o.Log}
}

// attach opens (or re-opens, after a restart) the interface's data plane and
// adopts what it holds.
func (d *Daemon) attach(p *ifacePlan, syncKeys *flowsync.Keyring) error {
	dp, err := loader.Open(p.name, d.opts.loaderOptions(syncKeys != nil))
	if err != nil {
		return err
	}
	if d.opts.HashSeed == 0 {
		d.log.Warn("flow hash seed not set: the public default lets anyone compute which backend a connection reaches; set the same seed on both directors (xlbd run --hash-seed-file FILE, or the config's global hash_seed_file)",
			"interface", p.name)
	}
	svcs, err := dp.Services()
	if err != nil {
		dp.Close()
		return err
	}
	backends, err := dp.Backends()
	if err != nil {
		dp.Close()
		return err
	}
	rec := control.New(dp, d.log.With("interface", p.name))
	rec.Adopt(svcs, backends)
	maps.Copy(d.failedBefore, failedBackends(svcs, backends))
	if len(svcs) > 0 {
		d.log.Info("adopted pinned data plane", "interface", p.name, "services", len(svcs), "backends", len(backends))
	}
	neigh, err := control.OpenNeighbours(p.iface, d.log.With("interface", p.name))
	if err != nil {
		dp.Close()
		return err
	}
	macs := control.NewMACTracker(neigh, control.MACTrackerOptions{Refresh: d.opts.MACRefresh, ProbeTimeout: d.opts.ARPTimeout,
		Log: d.log.With("interface", p.name), OnChange: func(ip netip.Addr, mac net.HardwareAddr) {
			rec.SetMAC(ip, mac)
			d.trigger()
		}})
	// The MACs the previous xlbd wrote keep backends usable while they are
	// confirmed, so a restart breaks no connection.
	macs.Track(p.macTargets())
	for _, b := range backends {
		macs.Adopt(b.IP, b.MAC)
	}
	pl := &plane{plan: p, dp: dp, rec: rec, neigh: neigh, macs: macs}
	if syncKeys != nil {
		// The VRRP instances of this interface name the other directors
		// and the address to speak from, unless flags say otherwise.
		peers, src := FlowSyncVRRP(d.cfg, p.name, d.opts.FlowSyncGroup)
		if len(d.opts.FlowSyncPeers) > 0 {
			peers = d.opts.FlowSyncPeers
		}
		pl.sync, err = flowsync.New(dp, p.iface, flowsync.Options{Group: d.opts.FlowSyncGroup, Keys: syncKeys, Peers: peers,
			Source: src, Ready: func() bool { return resolved(rec.Status()) }, Log: d.log.With("interface", p.name)})
		if err != nil {
			neigh.Close()
			dp.Close()
			return err
		}
	}
	d.planes[p.name] = pl
	return nil
}

// FlowSyncGroup is the group flow sync uses: flag's (xlbd run
// --flow-sync-group), else the config's flow_sync_group (or keepalived's
// lvs_sync_daemon group), else flowsync.DefaultGroup. It is read at start.
func FlowSyncGroup(flag netip.AddrPort, cfg *config.Config) netip.AddrPort {
	switch {
	case flag.IsValid():
		return flag
	case cfg.Global.FlowSyncGroup.IsValid():
		return cfg.Global.FlowSyncGroup
	}
	return flowsync.DefaultGroup
}

// FlowSyncVRRP is what the VRRP instances on iface ("": any) say of flow
// sync over g's family: the other directors (their unicast peers) and the
// address to speak from (the first unicast_src_ip). An instance of the other
// family says nothing: its addresses could not be flow sync's.
func FlowSyncVRRP(cfg *config.Config, iface string, g netip.AddrPort) (peers []netip.Addr, src netip.Addr) {
	for _, v := range cfg.VRRP {
		if (iface == "" || v.Interface == iface) && v.IPv6() == g.Addr().Is6() {
			peers = append(peers, v.UnicastPeers...)
			if !src.IsValid() {
				src = v.UnicastSrc
			}
		}
	}
	return peers, src
}

// resolved reports whether every backend of the last apply has a MAC: a
// fresh director (after a reboot) asks the others for their flow tables
// only then, or it would drop every entry naming a backend it cannot
// forward to yet.
func resolved(svcs []control.ServiceStatus) bool {
	for _, s := range svcs {
		for _, b := range s.Backends {
			if b.Unresolved {
				return false
			}
		}
	}
	return true
}

// flowSyncKeys reads the flow-sync keys; nil (flow sync off, said in the
// log) when none is configured.
func flowSyncKeys(opts Options) (*flowsync.Keyring, error) {
	if len(opts.FlowSyncKeys) == 0 {
		opts.Log.Warn("flow sync is off: no key; connections on a backend that is not the Maglev pick break at a director failover",
			"how", flowsync.HowToEnable)
		return nil, nil
	}
	return flowsync.LoadKeyring(opts.FlowSyncKeys)
}

func (d *Daemon) closePlanes() {
	for _, p := range d.planes {
		p.neigh.Close()
		p.dp.Close()
	}
}

// applyConfig hands cfg to the reconcilers, seeds health (servers start up as
// in keepalived, or down with alpha), and (re)starts checks and VRRP
// instances that changed.
func (d *Daemon) applyConfig(ctx context.Context, cfg *config.Config) {
	for _, p := range d.planes {
		p.rec.SetDesired(p.plan.specs())
		for _, ref := range p.plan.services {
			for _, r := range ref.cfg.Reals {
				br := control.BackendRef{Service: ref.key, IP: r.IP}
				if !d.checks.known(br) {
					p.rec.SetHealth(ref.key, r.IP, initialHealth(r, ref.cfg.Alpha, d.failedBefore[br]))
				}
			}
		}
	}
	d.checks.sync(ctx, d.planes, cfg.Global.ScriptPolicy())
	for _, a := range d.announcers {
		a.Configure(ctx, cfg)
	}
	for _, p := range d.planes {
		p.macs.Track(p.plan.macTargets())
	}
	d.setPeers()
}

// reload applies a new config file on SIGHUP, or keeps the old one and
// returns why.
func (d *Daemon) reload(ctx context.Context) error {
	d.reloadSyncKeys()
	cfg, err := d.replaceConfig()
	if err != nil {
		d.reloadsRefused.Add(1)
		d.log.Error("reload refused: the running config stays", "config", d.opts.ConfigPath, "error", err)
		return err
	}
	d.reloadsApplied.Add(1)
	d.applyConfig(ctx, cfg)
	d.trigger()
	d.log.Info("config reloaded", "services", len(cfg.Services), "vrrp_instances", len(cfg.VRRP))
	return nil
}

// replaceConfig reads the config file and makes it the running one, or
// changes nothing and says why: a file that does not load or plan, another
// set of interfaces, or more than the pinned maps hold.
func (d *Daemon) replaceConfig() (*config.Config, error) {
	cfg, err := LoadConfig(d.opts.ConfigPath, d.opts.Config, d.log)
	if err != nil {
		return nil, err
	}
	if err := chooseInterfaces(cfg, d.log); err != nil {
		return nil, err
	}
	plans, err := planInterfaces(cfg, net.InterfaceByName, control.OnLink)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !sameInterfaces(d.planes, plans) {
		return nil, fmt.Errorf("the set of interfaces changed from %v to %v; restart xlbd to attach or detach interfaces", keys(d.planes), cfg.Interfaces)
	}
	for _, p := range plans {
		if err := d.planes[p.name].rec.Fits(p.specs()); err != nil {
			return nil, fmt.Errorf("interface %s: %w", p.name, err)
		}
	}
	for _, p := range plans {
		d.planes[p.name].plan = p
	}
	d.cfg = cfg
	d.loadedAt = time.Now()
	return cfg, nil
}

// reloadSyncKeys re-reads the flow-sync key files: a rotation step is a
// file change and a SIGHUP. Unreadable keys keep the running ones.
func (d *Daemon) reloadSyncKeys() {
	if len(d.opts.FlowSyncKeys) == 0 {
		return
	}
	keys, err := flowsync.LoadKeyring(d.opts.FlowSyncKeys)
	if err != nil {
		d.log.Error("flow sync keys not reloaded: the running keys stay", "error", err)
		return
	}
	for _, p := range d.planes {
		if p.sync != nil {
			p.sync.SetKeys(keys)
		}
	}
	d.log.Info("flow sync keys reloaded", "key_ids", keys.IDs())
}

func sameInterfaces(planes map[string]*plane, plans []*ifacePlan) bool {
	if len(planes) != len(plans) {
		return false
	}
	for _, p := range plans {
		if _, ok := planes[p.name]; !ok {
			return false
		}
	}
	return true
}

func keys(m map[string]*plane) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// trigger asks the applier to reconcile soon; bursts of verdicts coalesce.
func (d *Daemon) trigger() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// applyNow reconciles every plane, then tells the announcers what this
// director can now serve (outside the lock: an announcer never holds up
// verdicts, metrics or the control socket).
func (d *Daemon) applyNow() error {
	d.mu.Lock()
	var errs []error
	for name, p := range d.planes {
		if err := p.rec.Apply(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	intent := d.intent()
	d.hist.observeBackends(time.Now(), d.backendStates())
	d.mu.Unlock()
	for _, a := range d.announcers {
		a.Announce(intent)
	}
	return errors.Join(errs...)
}

// intent is every programmed service and whether this director can serve
// it; d.mu is held.
func (d *Daemon) intent() announce.Intent {
	in := announce.Intent{Drained: d.drained.Load()}
	for _, p := range d.planes {
		byKey := map[loader.ServiceKey]*config.Service{}
		for _, ref := range p.plan.services {
			byKey[ref.key] = ref.cfg
		}
		for _, st := range p.rec.Status() {
			if svc := byKey[st.Key]; svc != nil {
				in.Services = append(in.Services, usability(svc, st))
			}
		}
	}
	return in
}

// applier reconciles whenever something changed, and retries failed writes.
func (d *Daemon) applier(ctx context.Context) {
	retry := time.NewTicker(time.Second)
	defer retry.Stop()
	failed := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.kick:
		case <-retry.C:
			if !failed {
				continue
			}
		}
		err := d.applyNow()
		if err != nil {
			d.log.Error("apply to the data plane failed; retrying", "error", err)
		}
		failed = err != nil
		d.quorumScripts(ctx)
	}
}

// followPeers keeps the trackers' peer list in line with who VRRP says the
// master is (a backup learns it from adverts, with no state change).
func (d *Daemon) followPeers(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.setPeers()
		}
	}
}

// setPeers tells the MAC trackers which addresses are other directors' (the
// VRRP unicast peers, and the master when it is not us): their MACs are
// refused for any backend.
func (d *Daemon) setPeers() {
	d.mu.Lock()
	defer d.mu.Unlock()
	byIface := map[string][]netip.Addr{}
	for _, v := range d.cfg.VRRP {
		byIface[v.Interface] = append(byIface[v.Interface], v.UnicastPeers...)
	}
	for _, st := range d.announced().VRRP {
		if a, err := netip.ParseAddr(st.MasterAddr); err == nil && st.State != vrrp.StateMaster {
			byIface[st.Interface] = append(byIface[st.Interface], a)
		}
	}
	for name, p := range d.planes {
		p.macs.SetPeers(byIface[name])
	}
}

// announced is what the announcers report of themselves.
func (d *Daemon) announced() api.Status {
	var s api.Status
	for _, a := range d.announcers {
		a.Status(&s)
	}
	return s
}

// Status is the control socket's answer.
func (d *Daemon) Status() api.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := api.Status{Version: d.opts.Version, Config: d.opts.ConfigPath, LoadedAt: d.loadedAt, Interfaces: d.cfg.Interfaces,
		Drained: d.drained.Load()}
	for _, p := range d.planes {
		sched := map[loader.ServiceKey]string{}
		for _, ref := range p.plan.services {
			sched[ref.key] = string(ref.cfg.Scheduler)
		}
		for _, st := range p.rec.Status() {
			svc := api.Service{Interface: p.plan.name, VIP: st.Key.VIP, Port: st.Key.Port, Protocol: st.Key.Proto.String(), ID: st.ID,
				Scheduler: sched[st.Key], Balancing: st.Balancing.String(), Error: st.Error}
			for _, b := range st.Backends {
				kind, latency := d.checks.describe(control.BackendRef{Service: st.Key, IP: b.IP})
				svc.Backends = append(svc.Backends, api.Backend{ID: b.ID, IP: b.IP, MAC: b.MAC.String(), Weight: b.Weight,
					State: b.StateName(), Reason: b.Reason, HealthUp: b.Health.Up, Check: kind, LastLatency: latency})
			}
			s.Services = append(s.Services, svc)
		}
	}
	for _, p := range d.planes {
		if p.sync != nil {
			s.FlowSync = append(s.FlowSync, p.sync.Status())
		}
		s.MACs = append(s.MACs, macTracking(p.plan.name, p.macs))
	}
	d.fillHistory(&s)
	for _, a := range d.announcers {
		a.Status(&s)
	}
	return s
}

func macTracking(iface string, t *control.MACTracker) api.MACTracking {
	list, st := t.Status()
	out := api.MACTracking{Interface: iface, Refused: st.Refused, Changes: st.Changes, Attempts: st.Attempts, Failures: st.Failures}
	for _, a := range list {
		mac := ""
		if a.MAC != nil {
			mac = a.MAC.String()
		}
		out.Addresses = append(out.Addresses, api.MACAddress{IP: a.IP, Peer: a.Peer, MAC: mac, Source: string(a.Source), Static: a.Static,
			Since: a.Since, Confirmed: a.Confirmed, Failures: a.Failures, LastError: a.LastError})
	}
	return out
}
