package vrrp

import (
	"sync/atomic"
	"testing"
	"time"
)

func newHeldSim(t *testing.T, cfg Config, synced *atomic.Bool) *sim {
	t.Helper()
	s := &sim{t: t, tr: newFakeTransport(), act: &fakeActions{}, clock: &fakeClock{now: t0}}
	in, err := New(cfg, Options{Transport: s.tr, Actions: s.act, Links: fakeLinks{}, Clock: s.clock, MayPreempt: synced.Load})
	if err != nil {
		t.Fatal(err)
	}
	s.in = in
	return s
}

// A backup that outranks the live master waits for MayPreempt (xlbd: the
// flow table synced) before preempting; a master that is gone is replaced
// at once all the same.
func TestPreemptHeldUntilSynced(t *testing.T) {
	cfg := baseConfig()
	cfg.Priority = 200
	var synced atomic.Bool
	s := newHeldSim(t, cfg, &synced)
	s.start()
	for sec := range 10 {
		s.at(time.Duration(sec) * time.Second)
		s.recv(advertFrom(cfg, addrPeer, 100, nil))
	}
	s.wantState(StateBackup)
	if !s.in.Status().PreemptHeld {
		t.Fatal("status does not say preemption is held")
	}
	synced.Store(true)
	s.recv(advertFrom(cfg, addrPeer, 100, nil))
	s.at(9*time.Second + masterDownInterval(2, 200, time.Second))
	s.wantState(StateMaster)
	if s.in.Status().PreemptHeld {
		t.Fatal("status still says held")
	}

	// Not synced, but the master is gone: take over.
	var never atomic.Bool
	s = newHeldSim(t, cfg, &never)
	s.start()
	s.recv(advertFrom(cfg, addrPeer, 100, nil))
	s.at(masterDownInterval(2, 200, time.Second))
	s.wantState(StateMaster)
}

// An address owner does not take the VIP from a live master at start while
// held; once allowed, it preempts.
func TestOwnerStartHeldUntilSynced(t *testing.T) {
	cfg := baseConfig()
	cfg.Priority = PriorityOwner
	var synced atomic.Bool
	s := newHeldSim(t, cfg, &synced)
	s.start()
	s.wantState(StateBackup)
	for sec := range 6 {
		s.at(time.Duration(sec) * time.Second)
		s.recv(advertFrom(cfg, addrPeer, 100, nil))
	}
	s.wantState(StateBackup)
	synced.Store(true)
	s.recv(advertFrom(cfg, addrPeer, 100, nil))
	s.at(5*time.Second + masterDownInterval(2, PriorityOwner, time.Second))
	s.wantState(StateMaster)
}
