package vrrp

import (
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestPacingLaneFor: keepalived's precedence (vrrp_if.c
// set_default_garp_delay, vrrp_parser.c garp_group_*): an interface in a
// garp_group takes the group's intervals, a family the group leaves unset
// included (it does not fall back to the global one), and shares the pace
// with the group's other interfaces; any other interface has its own pace at
// the global intervals; ARPs and NAs never share one.
func TestPacingLaneFor(t *testing.T) {
	p := Pacing{GARPInterval: 10 * time.Millisecond, GNAInterval: 20 * time.Millisecond, Groups: []GARPGroup{
		{GARPInterval: 300 * time.Millisecond, Interfaces: []string{"eth1", "eth2"}},
		{GNAInterval: 400 * time.Millisecond, Interfaces: []string{"eth3"}},
	}}
	type lane struct {
		key laneKey
		d   time.Duration
	}
	at := func(dev string, v6 bool) lane {
		k, d := p.laneFor(dev, v6)
		return lane{k, d}
	}
	for _, tc := range []struct {
		dev  string
		v6   bool
		want time.Duration
	}{
		{"eth0", false, 10 * time.Millisecond}, // global
		{"eth0", true, 20 * time.Millisecond},
		{"eth1", false, 300 * time.Millisecond}, // group
		{"eth2", false, 300 * time.Millisecond},
		{"eth1", true, 0}, // the group's unset NA interval, not the global one
		{"eth3", false, 0},
		{"eth3", true, 400 * time.Millisecond},
	} {
		if got := at(tc.dev, tc.v6).d; got != tc.want {
			t.Errorf("%s v6=%v: interval %v, want %v", tc.dev, tc.v6, got, tc.want)
		}
	}
	if at("eth1", false).key != at("eth2", false).key {
		t.Error("a group's interfaces do not share one pace")
	}
	if at("eth0", false).key == at("eth4", false).key {
		t.Error("two interfaces outside any group share a pace")
	}
	if at("eth0", false).key == at("eth0", true).key {
		t.Error("ARPs and NAs share a pace")
	}
}

type fakeOwner struct{ name string }

func (fakeOwner) sendPaced(VIP) {}

// TestLaneTurns: the addresses of a burst take turns, one packet per pop,
// none before the interval is over; a second burst for a waiting address
// raises its count to the new repeat, never adds to it; cancel drops one
// owner's addresses only.
func TestLaneTurns(t *testing.T) {
	a, b := &fakeOwner{"a"}, &fakeOwner{"b"}
	va, vb := VIP{Prefix: vip1, Dev: "eth0"}, VIP{Prefix: vip2, Dev: "eth0"}
	l := &lane{interval: 100 * time.Millisecond}
	l.add(a, va, 3)
	l.add(b, vb, 2)
	l.add(a, va, 2) // keepalived: pending stays 3
	var order []string
	now := t0
	for {
		e, wait, ok := l.pop(now)
		if !ok {
			if wait == 0 {
				break
			}
			if wait != l.next.Sub(now) {
				t.Fatalf("wait %v, want until next", wait)
			}
			now = now.Add(wait)
			continue
		}
		order = append(order, e.owner.(*fakeOwner).name)
		l.next = now.Add(l.interval)
	}
	if want := []string{"a", "b", "a", "b", "a"}; !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	if got := now.Sub(t0); got != 4*l.interval {
		t.Fatalf("5 packets took %v, want 4 intervals", got)
	}

	l.add(a, va, 5)
	l.add(b, vb, 5)
	if !l.cancel(a) || len(l.queue) != 1 || l.queue[0].owner != b {
		t.Fatalf("cancel a left %+v", l.queue)
	}
	if l.cancel(a) {
		t.Fatal("second cancel reported a change")
	}
}

// recOwner records the clock time of each paced packet.
type recOwner struct {
	clock *fakeClock
	mu    sync.Mutex
	at    []time.Time
	vips  []netip.Prefix
}

func (r *recOwner) sendPaced(v VIP) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.at = append(r.at, r.clock.Now())
	r.vips = append(r.vips, v.Prefix)
}

func (r *recOwner) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.at)
}

// TestPacerSpacesInstancesInAGroup: two instances' bursts on two
// interfaces of one garp_group are sent one interval apart in all
// (keepalived paces per interface or group, not per instance), and a
// cancelled instance's packets stop.
func TestPacerSpacesInstancesInAGroup(t *testing.T) {
	clock := &fakeClock{now: t0}
	p := NewPacer(clock)
	const interval = 100 * time.Millisecond
	p.Configure(Pacing{Groups: []GARPGroup{{GARPInterval: interval, Interfaces: []string{"eth0", "eth1"}}}})
	a, b := &recOwner{clock: clock}, &recOwner{clock: clock}
	va, vb := VIP{Prefix: vip1, Dev: "eth0"}, VIP{Prefix: vip2, Dev: "eth1"}
	if p.direct("eth0", va) || !p.direct("eth0", VIP{Prefix: vip6, Dev: "eth0"}) || !p.direct("eth2", va) {
		t.Fatal("direct: want IPv4 on the group's interfaces paced, IPv6 (no gna_interval) and other interfaces at once")
	}
	p.queue(a, "eth0", va, 3)
	p.queue(b, "eth1", vb, 3)
	// Advance in steps of a tenth of the interval until all six are out.
	deadline := time.Now().Add(5 * time.Second)
	for a.count()+b.count() < 6 {
		if time.Now().After(deadline) {
			t.Fatalf("sent %d+%d of 6", a.count(), b.count())
		}
		time.Sleep(time.Millisecond)
		clock.set(clock.Now().Add(interval / 10))
	}
	all := append(slices.Clone(a.at), b.at...)
	slices.SortFunc(all, func(x, y time.Time) int { return x.Compare(y) })
	for i := 1; i < len(all); i++ {
		if gap := all[i].Sub(all[i-1]); gap < interval {
			t.Fatalf("packets %d and %d %v apart, want at least %v (all: %v)", i-1, i, gap, interval, all)
		}
	}
	if a.count() != 3 || b.count() != 3 {
		t.Fatalf("sent %d and %d, want 3 each", a.count(), b.count())
	}

	// A cancelled burst sends nothing more.
	p.queue(a, "eth0", va, 5)
	p.cancel(a)
	for range 20 {
		clock.set(clock.Now().Add(interval))
		time.Sleep(time.Millisecond)
	}
	if n := a.count(); n > 4 {
		t.Fatalf("cancelled burst sent %d more", n-3)
	}
}

// An instance that leaves MASTER drops what its burst still had queued
// (keepalived's vrrp_remove_delayed_arp), and counts only what was sent.
func TestInstanceCancelsPacedBurst(t *testing.T) {
	cfg := baseConfig()
	cfg.GARPMasterDelay = 0
	s := newSim(t, cfg)
	s.in.pacer = NewPacer(s.clock)
	s.in.pacer.Configure(Pacing{GARPInterval: time.Second})
	garps := func(want int) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for {
			_, n, _ := s.act.snapshot()
			if n == want {
				break
			}
			if n > want || time.Now().After(deadline) {
				t.Fatalf("at %v: %d gratuitous ARPs, want %d", s.clock.Now().Sub(t0), n, want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	s.start()
	s.at(4 * time.Second) // master down: 3 s + skew
	s.wantState(StateMaster)
	garps(1) // the first at once, the other 4 one second apart
	s.at(4*time.Second + 500*time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	garps(1)
	s.at(5 * time.Second)
	garps(2)
	s.recv(advertFrom(cfg, addrPeer, 200, nil))
	s.wantState(StateBackup)
	for d := 5 * time.Second; d <= 12*time.Second; d += time.Second {
		s.clock.set(t0.Add(d))
		time.Sleep(5 * time.Millisecond)
	}
	garps(2)
	if n := s.in.Status().Counters.GARPSent; n != 2 {
		t.Fatalf("GARPSent %d, want 2", n)
	}
}
