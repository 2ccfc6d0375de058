package vrrp

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

var (
	addrUs   = netip.MustParseAddr("10.0.0.1")
	addrPeer = netip.MustParseAddr("10.0.0.2")
	addrLow  = netip.MustParseAddr("10.0.0.0")
	vip1     = netip.MustParsePrefix("10.0.0.100/32")
	vip2     = netip.MustParsePrefix("10.0.0.101/32")
	// IPv6: link-local sources (RFC 5798 5.1.2.1), a ULA VIP.
	addrUs6   = netip.MustParseAddr("fe80::1")
	addrPeer6 = netip.MustParseAddr("fe80::2")
	vip6      = netip.MustParsePrefix("fd00::100/64")
	t0        = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

type sent struct {
	dst netip.Addr
	adv Advert
}

// fakeTransport records what the instance sends and delivers what tests
// inject.
type fakeTransport struct {
	local netip.Addr
	dsts  []netip.Addr
	rx    chan Packet
	done  chan struct{}
	once  sync.Once

	mu   sync.Mutex
	sent []sent
	out  chan sent // optional: Run-level tests wait on it
}

func newFakeTransport() *fakeTransport {
	return &fakeTransport{local: addrUs, dsts: []netip.Addr{Group}, rx: make(chan Packet, 16), done: make(chan struct{})}
}

func (f *fakeTransport) LocalAddr() netip.Addr      { return f.local }
func (f *fakeTransport) Destinations() []netip.Addr { return f.dsts }

func (f *fakeTransport) Send(dst netip.Addr, msg []byte) error {
	a, err := ParseAdvert(msg, f.local.Is6())
	if err != nil {
		return err
	}
	s := sent{dst, a}
	f.mu.Lock()
	f.sent = append(f.sent, s)
	f.mu.Unlock()
	if f.out != nil {
		f.out <- s
	}
	return nil
}

func (f *fakeTransport) Receive() (Packet, error) {
	select {
	case p := <-f.rx:
		return p, nil
	case <-f.done:
		return Packet{}, ErrClosed
	}
}

func (f *fakeTransport) Close() error {
	f.once.Do(func() { close(f.done) })
	return nil
}

func (f *fakeTransport) take() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.sent
	f.sent = nil
	return s
}

// fakeActions records the side effects in order.
type fakeActions struct {
	mu     sync.Mutex
	vips   bool
	garps  int
	events []string
	notes  []Notification
	closed bool
}

func (f *fakeActions) rec(e string) { f.events = append(f.events, e) }

func (f *fakeActions) AddVIPs([]VIP) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vips = true
	f.rec("add")
	return nil
}

func (f *fakeActions) RemoveVIPs([]VIP) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vips = false
	f.rec("remove")
	return nil
}

func (f *fakeActions) SendGARP([]VIP) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.garps++
	return nil
}

func (f *fakeActions) AddRoutes(routes []Route, rules []Rule) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rec(fmt.Sprintf("routes+%d rules+%d", len(routes), len(rules)))
	return nil
}

func (f *fakeActions) RemoveRoutes(routes []Route, rules []Rule) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rec(fmt.Sprintf("routes-%d rules-%d", len(routes), len(rules)))
	return nil
}

func (f *fakeActions) Notify(n Notification) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notes = append(f.notes, n)
}

func (f *fakeActions) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *fakeActions) snapshot() (vips bool, garps int, notes []Notification) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.vips, f.garps, slices.Clone(f.notes)
}

// fakeClock's time moves only when a test says so; its timers fire then.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	clock   *fakeClock // its mu guards stopped
	at      time.Time
	c       chan time.Time
	stopped bool
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }
func (t *fakeTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clock: c, at: c.now.Add(d), c: make(chan time.Time, 1)}
	c.timers = append(c.timers, t)
	return t
}

func (c *fakeClock) set(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
	live := c.timers[:0]
	for _, t := range c.timers {
		if t.stopped {
			continue
		}
		if !t.at.After(now) {
			t.c <- now
			continue
		}
		live = append(live, t)
	}
	c.timers = live
}

// pendingAt reports whether a live timer is due at exactly at.
func (c *fakeClock) pendingAt(at time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.timers {
		if !t.stopped && t.at.Equal(at) {
			return true
		}
	}
	return false
}

// sim drives an Instance's state machine step by step in virtual time, the
// same entry points Run uses, with no goroutines.
type sim struct {
	t       *testing.T
	in      *Instance
	tr      *fakeTransport
	act     *fakeActions
	clock   *fakeClock
	changes []StateChange
}

func baseConfig() Config {
	// Complete, as the config package hands it over: keepalived's defaults.
	return Config{
		Name: "VI_1", Interface: "eth0", VRID: 51, Priority: 100, Version: 2, AdvertInterval: time.Second,
		InitialState: StateBackup, VIPs: []VIP{{Prefix: vip1, Dev: "eth0"}}, McastGroup: Group,
		GARPMasterDelay: 5 * time.Second, GARPMasterRepeat: 5, GARPMasterRefreshRepeat: 1,
	}
}

// baseConfig6 is baseConfig for an IPv6 virtual router (version 3).
func baseConfig6() Config {
	c := baseConfig()
	c.Version, c.VIPs, c.McastGroup = 3, []VIP{{Prefix: vip6, Dev: "eth0"}}, Group6
	return c
}

func newSim(t *testing.T, cfg Config) *sim {
	t.Helper()
	s := &sim{t: t, tr: newFakeTransport(), act: &fakeActions{}, clock: &fakeClock{now: t0}}
	if cfg.IPv6() {
		s.tr.local, s.tr.dsts = addrUs6, []netip.Addr{cfg.McastGroup}
	}
	in, err := New(cfg, Options{
		Transport: s.tr, Actions: s.act, Links: fakeLinks{}, Clock: s.clock,
		OnStateChange: func(c StateChange) { s.changes = append(s.changes, c) },
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.in = in
	return s
}

func (s *sim) start() {
	s.in.step(func(now time.Time) { s.in.start(now) })
}

// at moves virtual time to t0+d, firing every timer due on the way at its
// exact deadline.
func (s *sim) at(d time.Duration) {
	target := t0.Add(d)
	for {
		s.in.mu.Lock()
		next := s.in.nextDeadline()
		s.in.mu.Unlock()
		if next.IsZero() || next.After(target) {
			break
		}
		s.clock.set(next)
		s.in.step(func(now time.Time) { s.in.fire(now) })
	}
	s.clock.set(target)
}

func (s *sim) recv(p Packet) { s.in.step(func(now time.Time) { s.in.handlePacket(now, p) }) }

func (s *sim) state() State { return s.in.Status().State }

func (s *sim) wantState(want State) {
	s.t.Helper()
	if got := s.state(); got != want {
		s.t.Fatalf("at %v: state %v, want %v", s.clock.Now().Sub(t0), got, want)
	}
}

// advertFrom builds a valid advert from src matching cfg, as a peer running
// the same configuration would send it: to the group, or in unicast mode to
// addrUs.
func advertFrom(cfg Config, src netip.Addr, prio uint8, mod func(*Advert)) Packet {
	if err := cfg.validate(); err != nil {
		panic(err)
	}
	c := cfg
	in := &Instance{cfg: c}
	a := in.advert(prio)
	if mod != nil {
		mod(&a)
	}
	dst := c.McastGroup
	if len(c.UnicastPeers) > 0 {
		dst = addrUs
		if c.IPv6() {
			dst = addrUs6
		}
	}
	return Packet{Src: src, Dst: dst, TTL: 255, Payload: a.Seal(src, dst)}
}

// fakeLinks reports every tracked link up and then nothing.
type fakeLinks struct{ events chan LinkEvent }

func (f fakeLinks) Watch(names []string, done <-chan struct{}) (<-chan LinkEvent, error) {
	out := make(chan LinkEvent, len(names))
	for _, n := range names {
		out <- LinkEvent{Name: n, Up: true}
	}
	if f.events == nil {
		return out, nil
	}
	go func() {
		for {
			select {
			case ev := <-f.events:
				out <- ev
			case <-done:
				return
			}
		}
	}()
	return out, nil
}

func slicesSort(ds []time.Duration) { slices.Sort(ds) }

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
