package vrrp

import (
	"slices"
	"sync"
	"testing"
	"time"

	"xlb/control/script"
)

// groupSim drives the members of one sync group in shared virtual time, as
// Run would: after every step, each member woken by the group follows it.
type groupSim struct {
	t       *testing.T
	clock   *fakeClock
	g       *SyncGroup
	members []*sim
	mu      sync.Mutex
	notes   []State // the group's notifications
}

func newGroupSim(t *testing.T, cfgs ...Config) *groupSim {
	t.Helper()
	gs := &groupSim{t: t, clock: &fakeClock{now: t0}}
	gc := SyncGroupConfig{Name: "G"}
	for _, c := range cfgs {
		gc.Members = append(gc.Members, c.Name)
	}
	g, err := NewSyncGroup(gc, SyncGroupOptions{Notify: func(n Notification) {
		gs.mu.Lock()
		defer gs.mu.Unlock()
		if n.Instance != "G" || n.Priority != 0 {
			t.Errorf("group notification %+v: want instance G, priority 0", n)
		}
		gs.notes = append(gs.notes, n.State)
	}})
	if err != nil {
		t.Fatal(err)
	}
	gs.g = g
	for _, c := range cfgs {
		s := &sim{t: t, tr: newFakeTransport(), act: &fakeActions{}, clock: gs.clock}
		in, err := New(c, Options{Transport: s.tr, Actions: s.act, Links: fakeLinks{}, Clock: gs.clock, SyncGroup: g,
			OnStateChange: func(c StateChange) { s.changes = append(s.changes, c) }})
		if err != nil {
			t.Fatal(err)
		}
		s.in = in
		gs.members = append(gs.members, s)
	}
	return gs
}

func (gs *groupSim) step(s *sim, fn func(time.Time)) {
	s.in.step(fn)
	for again := true; again; {
		again = false
		for _, m := range gs.members {
			select {
			case <-m.in.groupWake:
				m.in.step(m.in.follow)
				again = true
			default:
			}
		}
	}
}

func (gs *groupSim) start() {
	for _, m := range gs.members {
		gs.step(m, m.in.start)
	}
}

// at moves virtual time to t0+d, firing each member's timers in order.
func (gs *groupSim) at(d time.Duration) {
	target := t0.Add(d)
	for {
		var first *sim
		var next time.Time
		for _, m := range gs.members {
			m.in.mu.Lock()
			n := m.in.nextDeadline()
			m.in.mu.Unlock()
			if !n.IsZero() && (next.IsZero() || n.Before(next)) {
				first, next = m, n
			}
		}
		if first == nil || next.After(target) {
			break
		}
		gs.clock.set(next)
		gs.step(first, first.in.fire)
	}
	gs.clock.set(target)
}

func (gs *groupSim) states() []State {
	var st []State
	for _, m := range gs.members {
		st = append(st, m.state())
	}
	return st
}

func (gs *groupSim) want(what string, states ...State) {
	gs.t.Helper()
	if got := gs.states(); !slices.Equal(got, states) {
		gs.t.Fatalf("%s: at %v states %v, want %v", what, gs.clock.Now().Sub(t0), got, states)
	}
	for i, m := range gs.members {
		if vips, _, _ := m.act.snapshot(); vips != (states[i] == StateMaster) {
			gs.t.Fatalf("%s: %s holds VIPs %v in %v", what, m.in.cfg.Name, vips, states[i])
		}
	}
}

func (gs *groupSim) takeNotes() []State {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	n := gs.notes
	gs.notes = nil
	return n
}

func groupMembers() (Config, Config) {
	a, b := baseConfig(), baseConfig()
	a.Name, b.Name = "VI_A", "VI_B"
	b.Interface, b.VRID = "eth1", 52
	b.VIPs = []VIP{{Prefix: vip2, Dev: "eth1"}}
	b.Priority = 100
	return a, b
}

func prio0Sent(s *sim) bool {
	for _, x := range s.tr.take() {
		if x.adv.Priority == 0 {
			return true
		}
	}
	return false
}

// One member going FAULT takes the other master to FAULT with a priority 0
// advert, and both come back together once it recovers (vrrp_sync_fault,
// try_up_instance + vrrp_sync_backup).
func TestSyncGroupFaultTakesAllMembers(t *testing.T) {
	a, b := groupMembers()
	gs := newGroupSim(t, a, b)
	gs.start()
	gs.want("start", StateBackup, StateBackup)
	if n := gs.takeNotes(); !slices.Equal(n, []State{StateBackup}) {
		t.Fatalf("group notifications at start %v, want [BACKUP]", n)
	}
	gs.at(4 * time.Second)
	gs.want("no master heard", StateMaster, StateMaster)
	if n := gs.takeNotes(); !slices.Equal(n, []State{StateMaster}) {
		t.Fatalf("group notifications %v, want [MASTER]", n)
	}
	ma, mb := gs.members[0], gs.members[1]
	ma.tr.take()
	mb.tr.take()

	gs.step(mb, func(now time.Time) { mb.in.handleLink(now, LinkEvent{Name: "eth1", Up: false}) })
	gs.want("VI_B's link down", StateFault, StateFault)
	if !prio0Sent(ma) || !prio0Sent(mb) {
		t.Fatal("a master leaving for FAULT must send priority 0, the member taken along too")
	}
	if n := gs.takeNotes(); !slices.Equal(n, []State{StateFault}) {
		t.Fatalf("group notifications %v, want [FAULT]", n)
	}
	if got := gs.g.State(); got != StateFault {
		t.Fatalf("group state %v, want FAULT", got)
	}
	// VI_A's own tracking is fine, yet it stays in FAULT with its group.
	gs.at(20 * time.Second)
	gs.want("while VI_B is down", StateFault, StateFault)

	gs.step(mb, func(now time.Time) { mb.in.handleLink(now, LinkEvent{Name: "eth1", Up: true}) })
	gs.want("VI_B's link up", StateBackup, StateBackup)
	if n := gs.takeNotes(); !slices.Equal(n, []State{StateBackup}) {
		t.Fatalf("group notifications %v, want [BACKUP]", n)
	}
}

// A member that hears a better master goes BACKUP and takes the other
// master along, without priority 0 (vrrp_sync_backup); the other stays
// backup though its own master-down timer runs out, since its partner no
// longer wants to be master (vrrp_sync_can_goto_master).
func TestSyncGroupBackupTakesAllMembers(t *testing.T) {
	a, b := groupMembers()
	gs := newGroupSim(t, a, b)
	gs.start()
	gs.at(4 * time.Second)
	gs.want("no master heard", StateMaster, StateMaster)
	gs.takeNotes()
	ma, mb := gs.members[0], gs.members[1]
	ma.tr.take()
	mb.tr.take()

	gs.step(ma, func(now time.Time) { ma.in.handlePacket(now, advertFrom(a, addrPeer, 200, nil)) })
	gs.want("better master for VI_A", StateBackup, StateBackup)
	if prio0Sent(mb) {
		t.Fatal("a member taken to BACKUP must not send priority 0")
	}
	if n := gs.takeNotes(); !slices.Equal(n, []State{StateBackup}) {
		t.Fatalf("group notifications %v, want [BACKUP]", n)
	}
	// The peer keeps advertising VI_A; nobody speaks for VI_B, whose
	// timer runs out, but VI_A wants BACKUP, so VI_B waits.
	for s := 5; s <= 20; s++ {
		gs.at(time.Duration(s) * time.Second)
		gs.step(ma, func(now time.Time) { ma.in.handlePacket(now, advertFrom(a, addrPeer, 200, nil)) })
	}
	gs.want("VI_A's master alive", StateBackup, StateBackup)

	// Once VI_A's master is gone too, both time out and go together.
	gs.at(40 * time.Second)
	gs.want("both masters gone", StateMaster, StateMaster)
}

// A backup member whose master-down timer runs out first waits for the
// other, then both become master at the same moment.
func TestSyncGroupMasterWaitsForAll(t *testing.T) {
	a, b := groupMembers()
	b.Priority = 50 // longer skew: VI_B's timer runs out later
	gs := newGroupSim(t, a, b)
	gs.start()
	aDown := masterDownInterval(2, a.Priority, time.Second)
	bDown := masterDownInterval(2, b.Priority, time.Second)
	gs.at(aDown)
	gs.want("VI_A timed out alone", StateBackup, StateBackup)
	gs.at(bDown)
	gs.want("VI_B timed out too", StateMaster, StateMaster)
	if since := gs.members[0].in.Status().Since; !since.Equal(t0.Add(bDown)) {
		t.Fatalf("VI_A became master at %v, want with VI_B at %v", since.Sub(t0), bDown)
	}
}

// With both members faulty, the first to recover stays in FAULT until the
// other recovers too.
func TestSyncGroupStaysFaultWhileAMemberIs(t *testing.T) {
	a, b := groupMembers()
	gs := newGroupSim(t, a, b)
	gs.start()
	ma, mb := gs.members[0], gs.members[1]
	gs.step(ma, func(now time.Time) { ma.in.handleLink(now, LinkEvent{Name: "eth0", Up: false}) })
	gs.step(mb, func(now time.Time) { mb.in.handleLink(now, LinkEvent{Name: "eth1", Up: false}) })
	gs.want("both down", StateFault, StateFault)
	gs.step(ma, func(now time.Time) { ma.in.handleLink(now, LinkEvent{Name: "eth0", Up: true}) })
	gs.want("VI_A up, VI_B down", StateFault, StateFault)
	gs.step(mb, func(now time.Time) { mb.in.handleLink(now, LinkEvent{Name: "eth1", Up: true}) })
	gs.want("both up", StateBackup, StateBackup)
	if n := gs.takeNotes(); !slices.Equal(n, []State{StateBackup, StateFault, StateBackup}) {
		t.Fatalf("group notifications %v, want [BACKUP FAULT BACKUP]", n)
	}
}

func TestSyncGroupMembership(t *testing.T) {
	g, err := NewSyncGroup(SyncGroupConfig{Name: "G", Members: []string{"VI_A"}}, SyncGroupOptions{Notify: func(Notification) {}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig()
	cfg.Name = "VI_X"
	if _, err := New(cfg, Options{Transport: newFakeTransport(), Actions: &fakeActions{}, Links: fakeLinks{}, SyncGroup: g}); err == nil {
		t.Fatal("New accepted an instance that is not a member of its sync group")
	}
	if _, err := NewSyncGroup(SyncGroupConfig{Name: "G"}, SyncGroupOptions{}); err == nil {
		t.Fatal("NewSyncGroup accepted a group without members")
	}
}

func TestGroupNotifyCommands(t *testing.T) {
	c := SyncGroupConfig{Name: "G", Notifies: Notifies{NotifyMaster: script.Command{Argv: []string{"/m"}}, Notify: script.Command{Argv: []string{"/n", "x"}, User: "u"}}}
	got := groupNotifyCommands(c, StateMaster)
	want := []script.Command{{Argv: []string{"/m"}}, {Argv: []string{"/n", "x", "GROUP", "G", "MASTER", "0"}, User: "u"}}
	if !slices.EqualFunc(got, want, script.Command.Equal) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := groupNotifyCommands(c, StateFault); len(got) != 1 || got[0].Argv[4] != "FAULT" {
		t.Fatalf("FAULT: got %q", got)
	}
}
