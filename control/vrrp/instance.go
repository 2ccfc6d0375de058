// Package vrrp implements VRRP v2 (RFC 3768) and v3 (RFC 5798/9568) for IPv4,
// and v3 for IPv6, the way keepalived speaks them, so an xlb director can
// replace a keepalived one host at a time.
//
// An Instance is one vrrp_instance. Its state machine is driven by a
// Transport (adverts in and out), a Clock, and an Actions side (VIPs,
// gratuitous ARP, notify scripts), so tests run it without a network.
package vrrp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"xlb/control/script"
)

// StateChange is reported through Options.OnStateChange.
type StateChange struct {
	Instance string
	From, To State
	Priority uint8
	// Reason says what caused the change, for logs.
	Reason string
	At     time.Time
}

// Options holds an Instance's collaborators. Nil Transport, Actions and
// Links make New open the real ones (raw socket, netlink, ARP) in the calling
// thread's network namespace.
type Options struct {
	Transport     Transport
	Actions       Actions
	Links         LinkWatcher
	Clock         Clock
	Logger        *slog.Logger
	OnStateChange func(StateChange)
	// Scripts runs the track scripts; nil means executing them.
	Scripts ScriptRunner
	// NotifyQueue runs the notify scripts of the default Actions in order
	// per instance; nil: a queue of the instance's own. A daemon shares one
	// so an instance restarted by a reload keeps the order of its scripts.
	NotifyQueue *script.Queue
	// SyncGroup is the vrrp_sync_group the instance is a member of; nil:
	// none.
	SyncGroup *SyncGroup
	// Pacer spaces the gratuitous ARPs and unsolicited neighbour
	// advertisements of the instances that share it (vrrp_garp_interval,
	// vrrp_gna_interval, garp_group); nil: each burst goes out back to
	// back.
	Pacer *Pacer
	// MayPreempt, when set and false, holds off preempting a live
	// lower-priority master (and an address owner's takeover at start):
	// xlbd waits until flow sync has the other directors' flow table, so
	// taking the VIP over breaks no connection. A master that is gone is
	// still replaced at once.
	MayPreempt func() bool
}

// Instance runs one VRRP virtual router.
type Instance struct {
	cfg     Config
	tr      Transport
	act     Actions
	links   LinkWatcher
	clock   Clock
	log     *slog.Logger
	onState func(StateChange)
	wake    chan struct{}
	scripts ScriptRunner
	group   *SyncGroup
	pacer   *Pacer
	// groupWake says the group's state changed; following is set while
	// the instance moves to it (see follow).
	groupWake <-chan struct{}
	following bool
	// mayPreempt is Options.MayPreempt; held says it last said no.
	mayPreempt func() bool
	held       bool

	mu           sync.Mutex
	state        State
	since        time.Time
	adjust       int
	prio         uint8 // effective priority
	masterInt    time.Duration
	masterAddr   netip.Addr
	masterPrio   uint8
	masterDownAt time.Time
	advertAt     time.Time
	garpAt       time.Time
	garpDelayed  bool // the next garpAt is the second burst, not a refresh
	preemptAt    time.Time
	rebindAt     time.Time // the next try to move sockets to a re-created netdev
	rebindErr    string    // its last error, logged once
	down         map[string]bool
	tracks       []*scriptTracker // one per cfg.TrackScripts
	ctr          counters
	mismatch     [numMismatchReasons]mismatchSeen
	dropWarn     [numDropReasons]rateLimit
	pending      []StateChange
}

type counters struct {
	advertsSent, advertsRecv uint64
	prio0Sent, prio0Recv     uint64
	becameMaster, leftMaster uint64
	garpSent                 uint64
	sendErrors, actionErrors uint64
	drops                    [numDropReasons]uint64
}

// New validates cfg and builds an Instance. See Options for what it opens.
func New(cfg Config, opt Options) (*Instance, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := cfg
	// A track script's keepalived defaults are the vrrp package's own: the
	// config package hands vrrp_script blocks over as written.
	if len(cfg.TrackScripts) > 0 {
		c.TrackScripts = make([]Script, len(cfg.TrackScripts))
		for i, sc := range cfg.TrackScripts {
			c.TrackScripts[i], _ = sc.withDefaults(c.Name)
		}
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("vrrp_instance", c.Name, "vrid", c.VRID)
	in := &Instance{
		cfg:        c,
		tr:         opt.Transport,
		act:        opt.Actions,
		links:      opt.Links,
		clock:      opt.Clock,
		log:        log,
		onState:    opt.OnStateChange,
		wake:       make(chan struct{}, 1),
		state:      StateInit,
		prio:       c.Priority,
		down:       map[string]bool{},
		scripts:    opt.Scripts,
		mayPreempt: opt.MayPreempt,
		pacer:      opt.Pacer,
	}
	if in.clock == nil {
		in.clock = realClock{}
	}
	if in.scripts == nil {
		in.scripts = execRunner{policy: c.ScriptPolicy}
	}
	for _, s := range c.TrackScripts {
		in.tracks = append(in.tracks, newScriptTracker(s))
	}
	if g := opt.SyncGroup; g != nil {
		wake, err := g.join(in)
		if err != nil {
			return nil, err
		}
		in.group, in.groupWake = g, wake
	}
	if c.NoPreempt && c.InitialState == StateMaster {
		// keepalived ignores nopreempt with "state MASTER" and preempts
		// anyway (a known trap); we honour nopreempt.
		log.Warn("nopreempt with state MASTER: keepalived would preempt anyway; nopreempt holds here")
	}
	var opened []func() error
	closeAll := func() {
		for _, f := range opened {
			_ = f()
		}
	}
	if in.tr == nil {
		tr, err := OpenRawTransport(c)
		if err != nil {
			return nil, err
		}
		in.tr = tr
		opened = append(opened, tr.Close)
	}
	if in.act == nil {
		act, err := NewNetActions(c, opt.NotifyQueue, log)
		if err != nil {
			closeAll()
			return nil, err
		}
		in.act = act
		opened = append(opened, act.Close)
	}
	if in.links == nil {
		w, err := NewNetlinkWatcher()
		if err != nil {
			closeAll()
			return nil, err
		}
		in.links = w
	}
	return in, nil
}

// Config returns the configuration the instance runs.
func (in *Instance) Config() Config { return in.cfg }

// SetPriorityAdjust lowers (negative) or raises the advertised priority by
// delta, e.g. when no backend of the service is usable. The result stays in
// 1-254 unless delta is 0 (a 255 owner stays the owner only unadjusted).
func (in *Instance) SetPriorityAdjust(delta int) {
	in.mu.Lock()
	in.adjust = delta
	in.mu.Unlock()
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// Run drives the instance until ctx is done, then leaves gracefully: a
// master sends priority 0 and removes its VIPs. It closes the transport and
// actions on return, so it can be called once.
func (in *Instance) Run(ctx context.Context) error {
	defer in.act.Close()
	if in.group != nil {
		defer in.group.leave(in)
	}
	if c, ok := in.links.(io.Closer); ok {
		defer c.Close()
	}
	pkts := make(chan Packet, 64)
	rxErr := make(chan error, 1)
	var rxDone sync.WaitGroup
	rxDone.Add(1)
	go func() {
		defer rxDone.Done()
		for {
			p, err := in.tr.Receive()
			if err != nil {
				if !errors.Is(err, ErrClosed) {
					rxErr <- err
				}
				return
			}
			select {
			case pkts <- p:
			case <-ctx.Done():
				return
			}
		}
	}()
	stopRx := func() {
		_ = in.tr.Close()
		rxDone.Wait()
	}

	linkDone := make(chan struct{})
	defer close(linkDone)
	var linkEvents <-chan LinkEvent
	if track := in.tracked(); in.links != nil {
		ch, err := in.links.Watch(track, linkDone)
		if err != nil {
			stopRx()
			return fmt.Errorf("vrrp %s: watch links: %w", in.cfg.Name, err)
		}
		linkEvents = ch
		// The initial link states decide whether we start in FAULT.
		in.drainLinks(ch, len(track))
	}

	// Track scripts stop, and their runs are killed, when Run returns.
	scriptRes := make(chan scriptResult)
	scriptCtx, stopScripts := context.WithCancel(ctx)
	var scriptsDone sync.WaitGroup
	defer func() {
		stopScripts()
		scriptsDone.Wait()
	}()
	if len(in.tracks) > 0 {
		in.runScripts(scriptCtx, &scriptsDone, scriptRes)
	}

	in.step(func(now time.Time) { in.start(now) })
	for {
		timer := in.clock.NewTimer(in.untilNext())
		select {
		case <-ctx.Done():
			timer.Stop()
			in.step(func(now time.Time) { in.shutdown(now) })
			stopRx()
			return nil
		case err := <-rxErr:
			timer.Stop()
			in.step(func(now time.Time) { in.shutdown(now) })
			stopRx()
			return fmt.Errorf("vrrp %s: receive: %w", in.cfg.Name, err)
		case p := <-pkts:
			in.step(func(now time.Time) { in.handlePacket(now, p) })
		case ev, ok := <-linkEvents:
			if !ok {
				linkEvents = nil
				break
			}
			in.step(func(now time.Time) { in.handleLink(now, ev) })
		case r := <-scriptRes:
			in.step(func(now time.Time) { in.handleScript(now, r) })
		case <-in.wake:
			in.step(func(now time.Time) { in.updatePriority(now) })
		case <-in.groupWake:
			in.step(func(now time.Time) { in.follow(now) })
		case <-timer.C():
			in.step(func(now time.Time) {
				in.handleWaiting(now, pkts)
				in.fire(now)
			})
		}
		timer.Stop()
	}
}

// drainLinks takes the n initial link reports without waiting long for them.
func (in *Instance) drainLinks(ch <-chan LinkEvent, n int) {
	deadline := time.After(2 * time.Second)
	for range n {
		select {
		case ev, ok := <-ch:
			if !ok {
				return
			}
			in.mu.Lock()
			in.down[ev.Name] = !ev.Up
			in.mu.Unlock()
		case <-deadline:
			return
		}
	}
}

func (in *Instance) tracked() []string {
	var names []string
	for _, l := range in.cfg.TrackedLinks() {
		names = append(names, l.Name)
	}
	return names
}

// step runs fn under the lock and then reports state changes outside it, so
// a callback may call Status.
func (in *Instance) step(fn func(now time.Time)) {
	in.mu.Lock()
	fn(in.clock.Now())
	pending := in.pending
	in.pending = nil
	in.mu.Unlock()
	if in.onState != nil {
		for _, c := range pending {
			in.onState(c)
		}
	}
}

// untilNext is how long Run may sleep before the next timer is due.
func (in *Instance) untilNext() time.Duration {
	in.mu.Lock()
	defer in.mu.Unlock()
	next := in.nextDeadline()
	if next.IsZero() {
		return time.Hour
	}
	return max(next.Sub(in.clock.Now()), 0)
}

func (in *Instance) nextDeadline() time.Time {
	var next time.Time
	for _, t := range []time.Time{in.masterDownAt, in.advertAt, in.garpAt, in.rebindAt} {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next
}

func (in *Instance) effectivePriority() uint8 {
	delta := in.adjust
	// keepalived never moves an address owner's priority with a script
	// (vrrp_track.c: "Don't change effective priority if address owner").
	if in.cfg.Priority != PriorityOwner {
		delta += in.scriptWeight()
	}
	if delta == 0 {
		return in.cfg.Priority
	}
	return uint8(min(max(int(in.cfg.Priority)+delta, 1), PriorityOwner-1))
}

func (in *Instance) faulty() bool {
	for _, d := range in.down {
		if d {
			return true
		}
	}
	for _, t := range in.tracks {
		if t.faulty() {
			return true
		}
	}
	return false
}

func (in *Instance) start(now time.Time) {
	in.prio = in.effectivePriority()
	in.masterInt = in.cfg.AdvertInterval
	if in.cfg.PreemptDelay > 0 {
		in.preemptAt = now.Add(in.cfg.PreemptDelay)
	}
	if in.prio != PriorityOwner || in.faulty() {
		// A killed predecessor may have left the VIPs behind, and a backup
		// must not answer for them (keepalived clears them at start too).
		if len(in.cfg.Routes)+len(in.cfg.Rules) > 0 {
			if err := in.act.RemoveRoutes(in.cfg.Routes, in.cfg.Rules); err != nil {
				in.ctr.actionErrors++
				in.log.Warn("remove stale virtual routes and rules", "err", err)
			}
		}
		if err := in.act.RemoveVIPs(in.allVIPs()); err != nil {
			in.ctr.actionErrors++
			in.log.Warn("remove stale VIPs", "err", err)
		}
	}
	switch {
	case in.faulty():
		in.enterFault(now, "tracked interface down or track_script failing at start")
	case in.group != nil && in.group.othersFaulty(in):
		// keepalived's vrrp_init_state: a member of a group in FAULT
		// starts in FAULT.
		in.following = true
		in.enterFault(now, "sync group "+in.group.cfg.Name+" has a member in FAULT at start")
		in.following = false
	case in.prio == PriorityOwner && !in.preemptHeld() && in.mayBecomeMaster():
		in.becomeMaster(now, "address owner (priority 255)")
	default:
		in.becomeBackup(now, "start")
	}
}

// mayBecomeMaster records that the instance wants to be master and asks its
// sync group, if any, whether it may be.
func (in *Instance) mayBecomeMaster() bool {
	if in.group == nil {
		return true
	}
	in.group.setWant(in, StateMaster)
	return in.group.canGoMaster(in)
}

func (in *Instance) transition(now time.Time, to State, reason string) {
	from := in.state
	in.state = to
	in.since = now
	in.log.Info("vrrp state change", "from", from, "to", to, "priority", in.prio, "reason", reason)
	n := Notification{Instance: in.cfg.Name, State: to, Priority: in.prio}
	in.act.Notify(n)
	in.pending = append(in.pending, StateChange{
		Instance: in.cfg.Name, From: from, To: to, Priority: in.prio, Reason: reason, At: now,
	})
	if in.group != nil && !in.following {
		in.group.moved(in, to, in.faulty())
	}
}

func (in *Instance) becomeMaster(now time.Time, reason string) {
	in.masterDownAt = time.Time{}
	in.masterInt = in.cfg.AdvertInterval
	in.masterAddr = in.tr.LocalAddr()
	in.masterPrio = in.prio
	in.sendAdvert(in.prio)
	in.advertAt = now.Add(in.cfg.AdvertInterval)
	if err := in.act.AddVIPs(in.allVIPs()); err != nil {
		in.ctr.actionErrors++
		in.log.Error("add VIPs", "err", err)
	}
	if len(in.cfg.Routes)+len(in.cfg.Rules) > 0 {
		if err := in.act.AddRoutes(in.cfg.Routes, in.cfg.Rules); err != nil {
			in.ctr.actionErrors++
			in.log.Error("add virtual routes and rules", "err", err)
		}
	}
	in.garpBurst(in.cfg.GARPMasterRepeat)
	in.garpAt, in.garpDelayed = time.Time{}, false
	switch {
	case in.cfg.GARPMasterDelay > 0:
		in.garpAt, in.garpDelayed = now.Add(in.cfg.GARPMasterDelay), true
	case in.cfg.GARPMasterRefresh > 0:
		in.garpAt = now.Add(in.cfg.GARPMasterRefresh)
	}
	in.ctr.becameMaster++
	in.transition(now, StateMaster, reason)
}

// leaveMaster gives up the addresses; with prio0 it first tells the backups
// to take over after Skew_Time instead of Master_Down_Interval.
func (in *Instance) leaveMaster(prio0 bool) {
	if in.state != StateMaster {
		return
	}
	if prio0 {
		in.sendAdvert(0)
	}
	in.advertAt, in.garpAt = time.Time{}, time.Time{}
	in.pacer.cancel(in)
	if len(in.cfg.Routes)+len(in.cfg.Rules) > 0 {
		if err := in.act.RemoveRoutes(in.cfg.Routes, in.cfg.Rules); err != nil {
			in.ctr.actionErrors++
			in.log.Error("remove virtual routes and rules", "err", err)
		}
	}
	if err := in.act.RemoveVIPs(in.allVIPs()); err != nil {
		in.ctr.actionErrors++
		in.log.Error("remove VIPs", "err", err)
	}
	in.ctr.leftMaster++
}

func (in *Instance) becomeBackup(now time.Time, reason string) {
	in.leaveMaster(false)
	in.masterDownAt = now.Add(masterDownInterval(in.cfg.Version, in.prio, in.masterInt))
	in.transition(now, StateBackup, reason)
}

func (in *Instance) enterFault(now time.Time, reason string) {
	in.leaveMaster(true)
	in.masterDownAt = time.Time{}
	in.transition(now, StateFault, reason)
}

func (in *Instance) shutdown(now time.Time) {
	in.leaveMaster(true)
	in.masterDownAt = time.Time{}
	in.transition(now, StateStop, "shutdown")
}

// waitingMargin is how many packets beyond the receive queue's capacity
// handleWaiting may take before the timer is acted on.
const waitingMargin = 16

// handleWaiting handles the packets that arrived before a due timer is acted
// on: those the receive goroutine queued, then those still in the socket
// when the transport can take them without waiting (Poller). Else a backup
// that wakes from a scheduling stall with a live master's advert waiting
// would see Master_Down_Interval expired, as select picks among ready cases
// at random, and take over. keepalived does the same: its scheduler
// (lib/scheduler.c, thread_fetch_next_queue) queues every fd epoll_wait
// reported before running any, and its timerfd handler turns into timeouts
// only the read threads still waiting, so the VRRP socket's read beats its
// own Master_Down timeout; the read (vrrp_scheduler.c, vrrp_dispatcher_read)
// then drains the non-blocking socket until EAGAIN or a VRID's second
// advert. The bound, cap(pkts)+waitingMargin, keeps a flood from holding
// the timer off; fire re-checks each deadline against now.
func (in *Instance) handleWaiting(now time.Time, pkts <-chan Packet) {
	poller, _ := in.tr.(Poller)
	for range cap(pkts) + waitingMargin {
		var p Packet
		select {
		case p = <-pkts:
		default:
			var ok bool
			if poller == nil {
				return
			}
			if p, ok = poller.TryReceive(); !ok {
				return
			}
		}
		in.handlePacket(now, p)
	}
}

func (in *Instance) fire(now time.Time) {
	if !in.rebindAt.IsZero() && !now.Before(in.rebindAt) {
		in.rebind(now)
	}
	if in.state == StateBackup && !in.masterDownAt.IsZero() && !now.Before(in.masterDownAt) {
		if !in.mayBecomeMaster() {
			// vrrp_sync_can_goto_master: wait for the other members,
			// another master-down interval at most.
			in.log.Debug("vrrp master down, waiting for the sync group's other members", "sync_group", in.group.cfg.Name)
			in.masterDownAt = now.Add(masterDownInterval(in.cfg.Version, in.prio, in.masterInt))
			return
		}
		reason := "master down interval expired"
		if in.masterPrio == 0 && in.masterAddr.IsValid() {
			reason = "master sent priority 0"
		}
		in.becomeMaster(now, reason)
		return
	}
	if in.state != StateMaster {
		return
	}
	if !in.advertAt.IsZero() && !now.Before(in.advertAt) {
		in.sendAdvert(in.prio)
		in.advertAt = now.Add(in.cfg.AdvertInterval)
	}
	if !in.garpAt.IsZero() && !now.Before(in.garpAt) {
		if in.garpDelayed {
			in.garpBurst(in.cfg.GARPMasterRepeat)
		} else {
			in.garpBurst(in.cfg.GARPMasterRefreshRepeat)
		}
		in.garpAt, in.garpDelayed = time.Time{}, false
		if in.cfg.GARPMasterRefresh > 0 {
			in.garpAt = now.Add(in.cfg.GARPMasterRefresh)
		}
	}
}

// allVIPs are the addresses a master holds: the advertised ones, then the
// excluded ones.
func (in *Instance) allVIPs() []VIP {
	if len(in.cfg.ExcludedVIPs) == 0 {
		return in.cfg.VIPs
	}
	return append(slices.Clip(in.cfg.VIPs), in.cfg.ExcludedVIPs...)
}

// garpBurst announces every VIP n times: a gratuitous ARP for an IPv4 one,
// an unsolicited neighbour advertisement for an IPv6 one (keepalived's
// vrrp_send_link_update). The packets of a VIP whose interface is paced go
// to the Pacer, which sends them one interval apart, in turn with the
// other instances' on that interface; the rest go out now.
func (in *Instance) garpBurst(n int) {
	var direct []VIP
	for _, v := range in.allVIPs() {
		if dev := in.devOf(v); !in.pacer.direct(dev, v) {
			in.pacer.queue(in, dev, v, n)
			continue
		}
		direct = append(direct, v)
	}
	if len(direct) == 0 {
		return
	}
	for range n {
		if err := in.act.SendGARP(direct); err != nil {
			in.ctr.actionErrors++
			in.log.Warn("gratuitous ARP", "err", err)
			return
		}
		in.ctr.garpSent += uint64(len(direct))
	}
}

// sendPaced sends the Pacer's packet for v, if the instance is still
// master (leaving MASTER cancels the queued ones; this catches one that was
// already on its way).
func (in *Instance) sendPaced(v VIP) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.state != StateMaster {
		return
	}
	if err := in.act.SendGARP([]VIP{v}); err != nil {
		in.ctr.actionErrors++
		in.log.Warn("gratuitous ARP", "err", err)
		return
	}
	in.ctr.garpSent++
}

// devOf is the interface v is on.
func (in *Instance) devOf(v VIP) string {
	if v.Dev != "" {
		return v.Dev
	}
	return in.cfg.Interface
}

func (in *Instance) advert(prio uint8) Advert {
	a := Advert{
		Version:  in.cfg.Version,
		Type:     TypeAdvertisement,
		VRID:     in.cfg.VRID,
		Priority: prio,
		Count:    uint8(len(in.cfg.VIPs)),
		Interval: intervalUnits(in.cfg.Version, in.cfg.AdvertInterval),
	}
	for _, v := range in.cfg.VIPs {
		a.Addrs = append(a.Addrs, v.Prefix.Addr())
	}
	if in.cfg.Version == 2 && !in.cfg.AuthPass.IsZero() {
		a.AuthType = AuthPass
		a.AuthData = passData(in.cfg.AuthPass.Reveal())
	}
	return a
}

func (in *Instance) sendAdvert(prio uint8) {
	a := in.advert(prio)
	src := in.tr.LocalAddr()
	for _, dst := range in.tr.Destinations() {
		if err := in.tr.Send(dst, a.Seal(src, dst)); err != nil {
			in.ctr.sendErrors++
			in.log.Warn("send advert", "dst", dst, "err", err)
			continue
		}
		in.ctr.advertsSent++
		if prio == 0 {
			in.ctr.prio0Sent++
		}
	}
}

// authentic applies the checks that decide whether a packet is an advert
// for this virtual router at all, returning the advert or the reason to drop
// it. Only what passes may count as a peer's configuration mismatch.
func (in *Instance) authentic(p Packet) (Advert, error) {
	// RFC 5798 and RFC 3768 section 7.1: TTL (IPv6: hop limit) 255, so
	// nothing that crossed a router is believed. keepalived skips this in unicast mode
	// (keepalived/vrrp/vrrp.c vrrp_check_packet: "MUST verify that the IPv4
	// TTL/IPv6 HL is 255 (but not if unicast)", acassen/keepalived 9cbce3e);
	// xlb does not: a unicast advert with TTL 64 from an off-link address
	// made a master step down. keepalived's own unicast adverts carry TTL
	// 255 unless unicast_ttl says otherwise (vrrp.c: vrrp->ttl = VRRP_IP_TTL).
	if p.TTL != 255 {
		return Advert{}, DropTTL
	}
	if len(in.cfg.UnicastPeers) > 0 {
		// keepalived checks the source only with vrrp_check_unicast_src or
		// check_unicast_src (vrrp_check_packet: "check a unicast source
		// address is in the unicast_peer list", off by default); xlb always
		// does, so a stranger cannot take part in the election.
		if !slices.Contains(in.cfg.UnicastPeers, p.Src) {
			return Advert{}, DropPeer
		}
		// keepalived refuses a multicast advert in unicast mode ("Expected
		// unicast packet but received multicast packet").
		if p.Dst.IsMulticast() {
			return Advert{}, DropDest
		}
	} else if p.Dst != in.cfg.McastGroup {
		// Multicast mode: the raw socket also sees unicast to our addresses
		// and every group joined on the interface; only our group counts.
		return Advert{}, DropDest
	} else if !p.Src.IsLinkLocalUnicast() && !p.Src.IsGlobalUnicast() {
		// A sender has a unicast address: an unspecified, loopback or
		// multicast source is forged. RFC 5798 5.1.2.1 has the sender use
		// its link-local address, but its receive rules (7.1) check only
		// the hop limit, which already proves the sender is on the link,
		// and keepalived takes any source (vrrp.c vrrp_check_packet): a
		// keepalived peer with a global mcast_src_ip must be heard, or
		// both would be master.
		return Advert{}, DropSource
	}
	if p.Src.Is6() != in.cfg.IPv6() {
		// A raw socket is one family: only a broken transport gets here.
		return Advert{}, DropVersion
	}
	a, err := ParseAdvert(p.Payload, in.cfg.IPv6())
	if err != nil {
		return a, err
	}
	// The advert's own version decides the checksum, so that a valid advert
	// of the other version is recognised as a version mismatch, not noise.
	if Checksum(a.Version, p.Src, p.Dst, p.Payload) != 0 {
		return a, DropChecksum
	}
	if a.VRID != in.cfg.VRID {
		return a, DropVRID
	}
	return a, nil
}

// agree decides whether an authentic advert is usable by this instance
// (RFC 3768/5798 section 7.1): same version, v2 authentication and interval,
// and the same addresses.
func (in *Instance) agree(a Advert) error {
	if a.Version != in.cfg.Version {
		return DropVersion
	}
	if a.Version == 2 {
		want := in.advert(0)
		if a.AuthType != want.AuthType || (a.AuthType == AuthPass && a.AuthData != want.AuthData) {
			return DropAuth
		}
		if a.Interval != want.Interval {
			return DropInterval
		}
	}
	if int(a.Count) != len(in.cfg.VIPs) {
		return DropAddrCount
	}
	for _, v := range in.cfg.VIPs {
		if !slices.Contains(a.Addrs, v.Prefix.Addr()) {
			return DropAddrList
		}
	}
	return nil
}

func (in *Instance) drop(now time.Time, p Packet, err error) {
	var r DropReason
	if !errors.As(err, &r) {
		return
	}
	in.ctr.drops[r]++
	if !r.warns() {
		in.log.Debug("drop advert", "src", p.Src, "reason", r)
		return
	}
	if n, ok := in.dropWarn[r].allow(now); ok {
		in.log.Warn("vrrp advert refused", "reason", r.String(), "from", p.Src, "to", p.Dst, "ttl", p.TTL, "packets", n)
	}
}

func (in *Instance) handlePacket(now time.Time, p Packet) {
	if p.Src == in.tr.LocalAddr() {
		return // our own advert looped back
	}
	a, err := in.authentic(p)
	if err != nil {
		in.drop(now, p, err)
		return
	}
	disagree := in.agree(a)
	in.noteMismatches(now, p.Src, in.compare(a), disagree != nil)
	if disagree != nil {
		in.drop(now, p, disagree)
		return
	}
	in.ctr.advertsRecv++
	if a.Priority == 0 {
		in.ctr.prio0Recv++
	}
	switch in.state {
	case StateBackup:
		in.backupRx(now, p.Src, a)
	case StateMaster:
		in.masterRx(now, p.Src, a)
	}
}

func (in *Instance) backupRx(now time.Time, src netip.Addr, a Advert) {
	if a.Priority == 0 {
		in.masterAddr, in.masterPrio = src, 0
		in.masterDownAt = now.Add(skewTime(in.cfg.Version, in.prio, in.masterInt))
		return
	}
	delaying := in.cfg.PreemptDelay > 0 && (in.preemptAt.IsZero() || now.Before(in.preemptAt))
	if !in.cfg.NoPreempt && a.Priority < in.prio && !delaying && !in.preemptHeld() {
		// RFC: discard, so Master_Down_Interval runs out and we preempt.
		return
	}
	if in.cfg.PreemptDelay > 0 {
		if a.Priority >= in.prio {
			in.preemptAt = time.Time{}
		} else if in.preemptAt.IsZero() {
			in.preemptAt = now.Add(in.cfg.PreemptDelay)
		}
	}
	if in.cfg.Version == 3 && a.Interval > 0 {
		in.masterInt = unitsInterval(3, a.Interval)
	}
	in.masterAddr, in.masterPrio = src, a.Priority
	in.masterDownAt = now.Add(masterDownInterval(in.cfg.Version, in.prio, in.masterInt))
	if in.group != nil {
		// vrrp_state_backup: "Now we have received a higher priority
		// advert, we want to be in BACKUP state."
		in.group.setWant(in, StateBackup)
	}
}

func (in *Instance) masterRx(now time.Time, src netip.Addr, a Advert) {
	switch {
	case a.Priority == 0:
		// Another master left: answer at once so its backups do not wait.
		in.sendAdvert(in.prio)
		in.advertAt = now.Add(in.cfg.AdvertInterval)
	case a.Priority > in.prio || (a.Priority == in.prio && addrGreater(src, in.tr.LocalAddr())):
		if in.cfg.HigherPrioSendAdvert {
			// keepalived's vrrp_state_master_rx does the same: the
			// advert goes out with our priority, before we step down.
			in.sendAdvert(in.prio)
		}
		if in.cfg.Version == 3 && a.Interval > 0 {
			in.masterInt = unitsInterval(3, a.Interval)
		}
		in.masterAddr, in.masterPrio = src, a.Priority
		in.becomeBackup(now, fmt.Sprintf("higher priority advert from %v (priority %d)", src, a.Priority))
	default:
		// A lower-priority master (e.g. after a partition healed): assert
		// ourselves now and re-announce the VIPs, as keepalived does,
		// rather than wait a whole interval in split brain.
		in.sendAdvert(in.prio)
		in.advertAt = now.Add(in.cfg.AdvertInterval)
		in.garpBurst(1)
	}
}

func addrGreater(a, b netip.Addr) bool { return a.Compare(b) > 0 }

// preemptHeld asks Options.MayPreempt, logging when the answer changes.
func (in *Instance) preemptHeld() bool {
	held := in.mayPreempt != nil && !in.mayPreempt()
	if held != in.held {
		in.held = held
		if held {
			in.log.Info("vrrp preemption held: waiting for the flow table from the other directors (flow sync)")
		} else {
			in.log.Info("vrrp preemption allowed: flow table synced")
		}
	}
	return held
}

func (in *Instance) handleLink(now time.Time, ev LinkEvent) {
	in.down[ev.Name] = !ev.Up
	if ev.Up {
		// A link that comes up may be a netdev deleted and created again:
		// the sockets move to it before the instance may become master.
		in.rebind(now)
	}
	in.reassessFault(now, "link "+ev.Name+" down ("+in.trackedWhy(ev.Name)+")", "links up")
}

// trackedWhy is the configuration line that makes link name tracked.
func (in *Instance) trackedWhy(name string) string {
	for _, l := range in.cfg.TrackedLinks() {
		if l.Name == name {
			return l.Why
		}
	}
	return "not tracked"
}

// rebindRetry is how soon moving the sockets to a re-created netdev is
// tried again after it failed (the new netdev has no address yet, say).
const rebindRetry = time.Second

// rebind moves the transport's and the actions' sockets to re-created
// netdevs; state, timers and counters stay. While it fails it is tried
// again every rebindRetry: no link event says an address was added.
func (in *Instance) rebind(now time.Time) {
	in.rebindAt = time.Time{}
	var errs []error
	movedAny := false
	for _, x := range []any{in.tr, in.act} {
		if r, ok := x.(Rebinder); ok {
			moved, err := r.Rebind()
			movedAny = movedAny || moved
			errs = append(errs, err)
		}
	}
	if movedAny {
		in.log.Info("vrrp sockets follow a re-created interface", "interface", in.cfg.Interface, "source", in.tr.LocalAddr())
	}
	if err := errors.Join(errs...); err != nil {
		if err.Error() != in.rebindErr {
			in.log.Error("vrrp sockets could not follow a re-created interface yet: adverts are not sent or heard on it until they can", "err", err)
		}
		in.rebindErr = err.Error()
		in.rebindAt = now.Add(rebindRetry)
		return
	}
	in.rebindErr = ""
}

// reassessFault enters FAULT when a tracked link or weight-0 script says so,
// and leaves it when none does any more.
func (in *Instance) reassessFault(now time.Time, downReason, upReason string) {
	if in.group != nil {
		in.group.setFaulty(in, in.faulty())
	}
	switch {
	case in.faulty() && in.state != StateFault && in.state != StateStop:
		in.enterFault(now, downReason)
	case !in.faulty() && in.state == StateFault:
		if in.group != nil && in.group.othersFaulty(in) {
			in.log.Info("vrrp "+upReason+", staying in FAULT: another member of the sync group is faulty", "sync_group", in.group.cfg.Name)
			return
		}
		in.masterInt = in.cfg.AdvertInterval
		if in.prio == PriorityOwner && in.mayBecomeMaster() {
			in.becomeMaster(now, upReason+", address owner")
		} else {
			in.becomeBackup(now, upReason)
		}
	}
}

func (in *Instance) updatePriority(now time.Time) {
	p := in.effectivePriority()
	if p == in.prio {
		return
	}
	in.log.Info("vrrp priority change", "from", in.prio, "to", p)
	in.prio = p
	if in.state == StateMaster {
		// Advertise the new priority now, so a better backup preempts one
		// Master_Down_Interval from now rather than one interval later.
		in.sendAdvert(in.prio)
		in.advertAt = now.Add(in.cfg.AdvertInterval)
		in.masterPrio = p
	}
}
