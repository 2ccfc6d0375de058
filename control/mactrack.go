package control

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// MACResolver is how a MACTracker asks the network: *Neighbours in the
// daemon, a fake in tests.
type MACResolver interface {
	// Lookup reads ip's entry in the kernel's neighbour table (no traffic).
	Lookup(ip netip.Addr) (net.HardwareAddr, bool)
	// Probe asks by ARP (IPv4) or neighbour solicitation (IPv6) until a
	// reply that accept takes arrives or ctx ends.
	Probe(ctx context.Context, ip netip.Addr, accept func(net.HardwareAddr) bool) (net.HardwareAddr, error)
	// OwnMACs are the director's own interface MACs.
	OwnMACs() []net.HardwareAddr
}

// MACSource says where a MAC came from.
type MACSource string

// MAC sources.
const (
	SourceStatic  MACSource = "static"
	SourceTable   MACSource = "neighbour table"
	SourceARP     MACSource = "arp"
	SourceNDP     MACSource = "ndp"
	SourceEvent   MACSource = "RTM_NEWNEIGH"
	SourceAdopted MACSource = "pinned data plane"
)

// NeighEvent is one change of the kernel's neighbour table.
type NeighEvent struct {
	IP netip.Addr
	// MAC is set when the entry is usable (reachable, stale, delay, probe or
	// permanent); nil when it was deleted, failed or is still incomplete.
	MAC net.HardwareAddr
}

// MACTrackerOptions tune a MACTracker; zero values take the defaults.
type MACTrackerOptions struct {
	// Refresh is how often a resolved MAC is confirmed (30 s).
	Refresh time.Duration
	// ProbeTimeout bounds one ARP or NDP attempt (1 s).
	ProbeTimeout time.Duration
	// RetryMin and RetryMax bound the backoff after failed attempts: the
	// wait doubles from RetryMin up to RetryMax (250 ms, 8 s).
	RetryMin, RetryMax time.Duration
	// OnChange is called whenever a backend's MAC changes (nil: none known),
	// one call at a time, never with the tracker's lock held.
	OnChange func(ip netip.Addr, mac net.HardwareAddr)
	Now      func() time.Time
	Log      *slog.Logger
}

// MACTracker keeps every backend's MAC, and the other directors' MACs so
// that a backend can never be given one of them.
//
// A MAC once known is kept through lost ARP replies, neighbour-table flushes
// and link flaps: losing it would take the backend out and reset all its
// connections, although the backend itself never changed (whether a backend
// is alive is the health check's business). It is replaced only by another
// acceptable MAC for the same address, and every such change is logged.
type MACTracker struct {
	res  MACResolver
	opts MACTrackerOptions
	log  *slog.Logger
	wake chan struct{}

	mu       sync.Mutex
	backends map[netip.Addr]*macEntry
	peers    map[netip.Addr]*macEntry
	refused  [numRefusals]uint64
	changes  uint64
	failures uint64
	attempts uint64
	notifyMu sync.Mutex
}

type macEntry struct {
	mac       net.HardwareAddr
	source    MACSource
	static    bool
	since     time.Time // when this MAC was first seen
	confirmed time.Time // last time any source confirmed it
	lastTry   time.Time
	next      time.Time // next attempt
	failures  int       // consecutive failed attempts
	lastErr   string
	inflight  bool
	refused   net.HardwareAddr // last MAC refused for this address, to log once
}

// MACStatus is one tracked address.
type MACStatus struct {
	IP        netip.Addr
	MAC       net.HardwareAddr // nil: unresolved
	Source    MACSource
	Static    bool
	Peer      bool // another director, not a backend
	Since     time.Time
	Confirmed time.Time
	Failures  int
	LastError string
}

// MACStats are the tracker's counters.
type MACStats struct {
	// Refused counts MACs not taken, by Refusal.String().
	Refused  map[string]uint64
	Changes  uint64 // a backend's known MAC replaced by another
	Attempts uint64 // table lookups and ARP or NDP probes
	Failures uint64 // attempts that found no acceptable MAC
}

// NewMACTracker tracks nothing until Track and SetPeers.
func NewMACTracker(res MACResolver, opts MACTrackerOptions) *MACTracker {
	if opts.Refresh == 0 {
		opts.Refresh = 30 * time.Second
	}
	if opts.ProbeTimeout == 0 {
		opts.ProbeTimeout = time.Second
	}
	if opts.RetryMin == 0 {
		opts.RetryMin = 250 * time.Millisecond
	}
	if opts.RetryMax == 0 {
		opts.RetryMax = 8 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &MACTracker{res: res, opts: opts, log: opts.Log, wake: make(chan struct{}, 1),
		backends: map[netip.Addr]*macEntry{}, peers: map[netip.Addr]*macEntry{}}
}

// Track sets the backend addresses to follow. A non-nil value is the
// configured static MAC: it is used as is and never resolved nor replaced.
// A new address is resolved at once; one no longer listed is forgotten.
func (t *MACTracker) Track(backends map[netip.Addr]net.HardwareAddr) {
	now := t.opts.Now()
	var changed []netip.Addr
	t.mu.Lock()
	for ip := range t.backends {
		if _, ok := backends[ip]; !ok {
			delete(t.backends, ip)
			changed = append(changed, ip)
		}
	}
	for ip, static := range backends {
		e, ok := t.backends[ip]
		if !ok {
			e = &macEntry{next: now}
			t.backends[ip] = e
		}
		switch {
		case static != nil:
			if !e.static || !bytes.Equal(e.mac, static) {
				changed = append(changed, ip)
			}
			e.mac, e.static, e.source, e.since, e.confirmed = slices.Clone(static), true, SourceStatic, now, now
			e.failures, e.lastErr = 0, ""
		case e.static:
			// No longer static: keep the MAC as the last known one until
			// resolution confirms or replaces it.
			e.static, e.next = false, now
		}
	}
	t.mu.Unlock()
	t.notify(changed...)
	t.poke()
}

// SetPeers sets the other directors' addresses (VRRP unicast peers, the
// current master): their MACs are resolved like backends' and refused for
// any backend.
func (t *MACTracker) SetPeers(ips []netip.Addr) {
	now := t.opts.Now()
	t.mu.Lock()
	keep := map[netip.Addr]bool{}
	for _, ip := range ips {
		keep[ip] = true
		if _, ok := t.peers[ip]; !ok {
			t.peers[ip] = &macEntry{next: now}
		}
	}
	for ip := range t.peers {
		if !keep[ip] {
			delete(t.peers, ip)
		}
	}
	t.mu.Unlock()
	t.poke()
}

// Adopt takes a MAC the previous xlbd wrote to the pinned data plane for a
// backend that has none yet, so a restart does not take backends out while
// they are resolved again (at once, to confirm it).
func (t *MACTracker) Adopt(ip netip.Addr, mac net.HardwareAddr) {
	now := t.opts.Now()
	t.mu.Lock()
	e, ok := t.backends[ip]
	// Checked without counting: a backend that was unresolved left the
	// zero MAC in the map, which is no refusal of anything on the network.
	if !ok || e.mac != nil || CheckMAC(mac, t.res.OwnMACs(), t.peerMACsLocked()) != RefusedNone {
		t.mu.Unlock()
		return
	}
	t.setLocked(ip, e, mac, SourceAdopted, now)
	e.next = now
	t.mu.Unlock()
	t.notify(ip)
	t.poke()
}

// CheckResult tells the tracker a health check's outcome. A failed check
// resolves again (the backend may have moved: NIC swap, IP failover), but
// the MAC is kept unless another one answers. A passed check resolves again
// only when the MAC is unknown or the last attempt failed: the check's own
// connection has just made the kernel resolve the address, so the neighbour
// table holds it.
func (t *MACTracker) CheckResult(ip netip.Addr, up bool) {
	now := t.opts.Now()
	t.mu.Lock()
	e, ok := t.backends[ip]
	if !ok || e.static {
		t.mu.Unlock()
		return
	}
	soon := false
	if up {
		soon = e.mac == nil || e.failures > 0
	} else {
		// Verdicts come on changes only, but a flapping check must
		// not turn into an ARP storm: at most one attempt per RetryMin.
		soon = now.Sub(e.lastTry) >= t.opts.RetryMin
	}
	if soon && e.next.After(now) {
		e.next = now
	}
	t.mu.Unlock()
	if soon {
		t.poke()
	}
}

// Observe applies one neighbour-table change. A usable entry with an
// acceptable MAC is taken at once; a deleted or failed one is not a reason
// to forget the MAC, only to confirm it soon.
func (t *MACTracker) Observe(ev NeighEvent) {
	now := t.opts.Now()
	t.mu.Lock()
	e, peer := t.peers[ev.IP], true
	if e == nil {
		e, peer = t.backends[ev.IP], false
	}
	if e == nil || e.static {
		t.mu.Unlock()
		return
	}
	var changed []netip.Addr
	if ev.MAC == nil {
		if e.next.After(now.Add(t.opts.RetryMin)) {
			e.next = now.Add(t.opts.RetryMin)
		}
	} else if t.refuseLocked(ev.IP, ev.MAC, peer) == RefusedNone {
		if t.setLocked(ev.IP, e, ev.MAC, SourceEvent, now) && !peer {
			changed = append(changed, ev.IP)
		}
		if peer {
			changed = append(changed, t.dropPeerMACsLocked()...)
		}
		e.failures, e.lastErr, e.next = 0, "", now.Add(t.opts.Refresh)
	}
	t.mu.Unlock()
	t.notify(changed...)
	t.poke()
}

// MAC is ip's current MAC, nil when unresolved.
func (t *MACTracker) MAC(ip netip.Addr) net.HardwareAddr {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.backends[ip]; ok {
		return slices.Clone(e.mac)
	}
	return nil
}

// Status lists the tracked addresses (backends, then peers, by address) and
// the counters.
func (t *MACTracker) Status() ([]MACStatus, MACStats) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []MACStatus
	for _, peer := range []bool{false, true} {
		start := len(out)
		for ip, e := range t.entriesLocked(peer) {
			out = append(out, MACStatus{IP: ip, MAC: slices.Clone(e.mac), Source: e.source, Static: e.static, Peer: peer,
				Since: e.since, Confirmed: e.confirmed, Failures: e.failures, LastError: e.lastErr})
		}
		slices.SortFunc(out[start:], func(a, b MACStatus) int { return a.IP.Compare(b.IP) })
	}
	st := MACStats{Refused: map[string]uint64{}, Changes: t.changes, Attempts: t.attempts, Failures: t.failures}
	for r := RefusedMalformed; r < numRefusals; r++ {
		st.Refused[r.String()] = t.refused[r]
	}
	return out, st
}

// Run resolves whatever is due until ctx ends.
func (t *MACTracker) Run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		t.startDue(ctx)
		wait := t.nextDue().Sub(t.opts.Now())
		timer.Reset(max(wait, 0))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-t.wake:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

func (t *MACTracker) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// nextDue is when the next attempt is due (an hour away when nothing is).
func (t *MACTracker) nextDue() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	next := t.opts.Now().Add(time.Hour)
	for _, set := range []map[netip.Addr]*macEntry{t.backends, t.peers} {
		for _, e := range set {
			if !e.static && !e.inflight && e.next.Before(next) {
				next = e.next
			}
		}
	}
	return next
}

// startDue starts one attempt for every address that is due and returns a
// function that waits for them all.
func (t *MACTracker) startDue(ctx context.Context) (wait func()) {
	now := t.opts.Now()
	// Backends wait for the peers of the same round: a backend must not
	// take a MAC that the peer's answer is about to show is a director's.
	var peers, all sync.WaitGroup
	t.mu.Lock()
	for _, peer := range []bool{true, false} {
		for ip, e := range t.entriesLocked(peer) {
			if e.static || e.inflight || e.next.After(now) {
				continue
			}
			e.inflight = true
			all.Add(1)
			if peer {
				peers.Add(1)
			}
			go func() {
				defer all.Done()
				if peer {
					defer peers.Done()
				} else {
					peers.Wait()
				}
				t.attempt(ctx, ip, e, peer)
				t.poke()
			}()
		}
	}
	t.mu.Unlock()
	return all.Wait
}

// attempt resolves one address: the neighbour table first, then ARP or NDP.
func (t *MACTracker) attempt(ctx context.Context, ip netip.Addr, e *macEntry, peer bool) {
	t.mu.Lock()
	t.attempts++
	e.lastTry = t.opts.Now()
	t.mu.Unlock()

	mac, source, err := t.resolve(ctx, ip, peer)
	now := t.opts.Now()
	var changed []netip.Addr
	t.mu.Lock()
	e.inflight = false
	if set := t.entriesLocked(peer); set[ip] != e || e.static {
		// Forgotten or made static meanwhile: the answer is not wanted.
		t.mu.Unlock()
		return
	}
	if err != nil {
		t.failures++
		e.failures++
		e.lastErr = err.Error()
		e.next = now.Add(t.backoff(e.failures))
		if e.failures == 1 {
			if e.mac != nil {
				t.log.Info("MAC not confirmed: keeping the last known one", "address", ip, "peer", peer, "mac", e.mac.String(), "error", err)
			} else {
				t.log.Warn("MAC unresolved: retrying with backoff", "address", ip, "peer", peer, "error", err)
			}
		}
	} else {
		if t.setLocked(ip, e, mac, source, now) && !peer {
			changed = append(changed, ip)
		}
		if peer {
			changed = append(changed, t.dropPeerMACsLocked()...)
		}
		if e.failures > 0 {
			t.log.Info("MAC resolved again", "address", ip, "peer", peer, "mac", mac.String(), "failed_attempts", e.failures)
		}
		e.failures, e.lastErr, e.next = 0, "", now.Add(t.opts.Refresh)
	}
	t.mu.Unlock()
	t.notify(changed...)
}

func (t *MACTracker) resolve(ctx context.Context, ip netip.Addr, peer bool) (net.HardwareAddr, MACSource, error) {
	if mac, ok := t.res.Lookup(ip); ok {
		t.mu.Lock()
		r := t.refuseLocked(ip, mac, peer)
		t.mu.Unlock()
		if r == RefusedNone {
			return mac, SourceTable, nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, t.opts.ProbeTimeout)
	defer cancel()
	mac, err := t.res.Probe(ctx, ip, func(m net.HardwareAddr) bool {
		t.mu.Lock()
		defer t.mu.Unlock()
		return t.refuseLocked(ip, m, peer) == RefusedNone
	})
	source := SourceARP
	if !ip.Is4() {
		source = SourceNDP
	}
	if err != nil {
		return nil, "", fmt.Errorf("no acceptable %s reply from %s within %s: %w", source, ip, t.opts.ProbeTimeout, err)
	}
	return mac, source, nil
}

func (t *MACTracker) backoff(failures int) time.Duration {
	d := t.opts.RetryMin
	for i := 1; i < failures && d < t.opts.RetryMax; i++ {
		d *= 2
	}
	return min(d, t.opts.RetryMax)
}

func (t *MACTracker) entriesLocked(peer bool) map[netip.Addr]*macEntry {
	if peer {
		return t.peers
	}
	return t.backends
}

// refuseLocked checks mac for ip, counts a refusal and logs the first of
// each refused MAC per address. A peer's own MAC is not refused as a peer's.
func (t *MACTracker) refuseLocked(ip netip.Addr, mac net.HardwareAddr, peer bool) Refusal {
	var peers []net.HardwareAddr
	if !peer {
		peers = t.peerMACsLocked()
	}
	r := CheckMAC(mac, t.res.OwnMACs(), peers)
	if r == RefusedNone {
		return r
	}
	t.refused[r]++
	if e := t.entriesLocked(peer)[ip]; e != nil && !bytes.Equal(e.refused, mac) {
		e.refused = slices.Clone(mac)
		t.log.Warn("MAC refused", "address", ip, "peer", peer, "mac", mac.String(), "reason", r.String())
	}
	return r
}

// peerMACsLocked are all MACs known to be other directors'.
func (t *MACTracker) peerMACsLocked() []net.HardwareAddr {
	var out []net.HardwareAddr
	for _, e := range t.peers {
		if e.mac != nil {
			out = append(out, e.mac)
		}
	}
	return out
}

// dropPeerMACsLocked forgets any backend MAC that turned out to be another
// director's: frames sent there would bounce between the directors.
func (t *MACTracker) dropPeerMACsLocked() []netip.Addr {
	peers := t.peerMACsLocked()
	var changed []netip.Addr
	for ip, e := range t.backends {
		if e.static || e.mac == nil || !containsMAC(peers, e.mac) {
			continue
		}
		t.refused[RefusedPeer]++
		t.log.Error("backend MAC is another director's: dropped", "backend", ip, "mac", e.mac.String())
		e.mac, e.source, e.next = nil, "", t.opts.Now()
		changed = append(changed, ip)
	}
	return changed
}

// setLocked takes mac for e and reports whether it changed.
func (t *MACTracker) setLocked(ip netip.Addr, e *macEntry, mac net.HardwareAddr, source MACSource, now time.Time) bool {
	e.confirmed = now
	if bytes.Equal(e.mac, mac) {
		e.source = source
		return false
	}
	old := e.mac
	e.mac, e.source, e.since = slices.Clone(mac), source, now
	if old == nil {
		t.log.Info("MAC resolved", "address", ip, "mac", mac.String(), "source", string(source))
		return true
	}
	t.changes++
	t.log.Warn("MAC changed", "address", ip, "old", old.String(), "new", mac.String(), "source", string(source))
	return true
}

// notify hands the current MACs of the changed backends to OnChange (nil
// for one no longer tracked), one call at a time and reading the value under
// notifyMu, so a slower caller can never overwrite a newer MAC with an older
// one.
func (t *MACTracker) notify(ips ...netip.Addr) {
	if t.opts.OnChange == nil || len(ips) == 0 {
		return
	}
	t.notifyMu.Lock()
	defer t.notifyMu.Unlock()
	for _, ip := range ips {
		t.mu.Lock()
		var mac net.HardwareAddr
		if e, ok := t.backends[ip]; ok {
			mac = slices.Clone(e.mac)
		}
		t.mu.Unlock()
		t.opts.OnChange(ip, mac)
	}
}
