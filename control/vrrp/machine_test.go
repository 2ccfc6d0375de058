package vrrp

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestTimerFormulas(t *testing.T) {
	tests := []struct {
		name              string
		version, priority uint8
		interval          time.Duration
		skew, down        time.Duration
	}{
		// RFC 3768: Skew_Time = (256 - 100)/256 s whatever the interval.
		{"v2 prio 100 1s", 2, 100, time.Second, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{"v2 prio 100 3s", 2, 100, 3 * time.Second, 609375 * time.Microsecond, 9609375 * time.Microsecond},
		{"v2 prio 254", 2, 254, time.Second, 7812500 * time.Nanosecond, 3007812500 * time.Nanosecond},
		// RFC 5798: Skew_Time scales with Master_Adver_Interval.
		{"v3 prio 100 1s", 3, 100, time.Second, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{"v3 prio 200 100ms", 3, 200, 100 * time.Millisecond, 21875 * time.Microsecond, 321875 * time.Microsecond},
		{"v3 prio 1 10ms", 3, 1, 10 * time.Millisecond, 9960937 * time.Nanosecond, 39960937 * time.Nanosecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := skewTime(tc.version, tc.priority, tc.interval); got != tc.skew {
				t.Errorf("skew %v, want %v", got, tc.skew)
			}
			if got := masterDownInterval(tc.version, tc.priority, tc.interval); got != tc.down {
				t.Errorf("master down %v, want %v", got, tc.down)
			}
		})
	}
}

func TestBackupTakesOverAfterMasterDownInterval(t *testing.T) {
	for _, v := range []uint8{2, 3} {
		t.Run("v"+string('0'+v), func(t *testing.T) {
			cfg := baseConfig()
			cfg.Version = v
			s := newSim(t, cfg)
			s.start()
			s.wantState(StateBackup)
			mdi := masterDownInterval(v, 100, time.Second)
			s.at(mdi - time.Nanosecond)
			s.wantState(StateBackup)
			if n := len(s.tr.take()); n != 0 {
				t.Fatalf("backup sent %d adverts", n)
			}
			s.at(mdi)
			s.wantState(StateMaster)
			sent := s.tr.take()
			if len(sent) != 1 || sent[0].adv.Priority != 100 || sent[0].dst != Group || sent[0].adv.Version != v {
				t.Fatalf("on takeover sent %+v, want one priority-100 v%d advert to the group", sent, v)
			}
			vips, garps, notes := s.act.snapshot()
			if !vips || garps != 5 {
				t.Fatalf("on takeover vips=%v garps=%d, want VIPs added and 5 GARPs", vips, garps)
			}
			if len(notes) != 2 || notes[1].State != StateMaster {
				t.Fatalf("notifications %+v, want BACKUP then MASTER", notes)
			}
			if len(s.changes) != 2 || s.changes[1].From != StateBackup || s.changes[1].To != StateMaster {
				t.Fatalf("state changes %+v", s.changes)
			}
			st := s.in.Status()
			if st.MasterAddr != addrUs.String() || st.Counters.BecameMaster != 1 {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

func TestStartRemovesStaleVIPs(t *testing.T) {
	s := newSim(t, baseConfig())
	s.act.vips = true // left behind by a killed predecessor
	s.start()
	s.wantState(StateBackup)
	if vips, _, _ := s.act.snapshot(); vips {
		t.Fatal("backup kept stale VIPs")
	}
}

func TestAdvertRestartsMasterDownTimer(t *testing.T) {
	cfg := baseConfig()
	s := newSim(t, cfg)
	s.start()
	mdi := masterDownInterval(2, 100, time.Second)
	s.at(3 * time.Second)
	s.recv(advertFrom(cfg, addrPeer, 200, nil))
	s.at(3*time.Second + mdi - time.Nanosecond)
	s.wantState(StateBackup)
	st := s.in.Status()
	if st.MasterAddr != addrPeer.String() || st.MasterPriority != 200 || st.Counters.AdvertsReceived != 1 {
		t.Fatalf("status after advert: %+v", st)
	}
	s.at(3*time.Second + mdi)
	s.wantState(StateMaster)
}

func TestPriorityZeroTakeoverAfterSkew(t *testing.T) {
	for _, tc := range []struct {
		name     string
		version  uint8
		interval time.Duration
	}{
		{"v2", 2, time.Second},
		{"v3 100ms", 3, 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig()
			cfg.Version, cfg.AdvertInterval = tc.version, tc.interval
			s := newSim(t, cfg)
			s.start()
			s.at(tc.interval)
			s.recv(advertFrom(cfg, addrPeer, 200, nil))
			s.at(2 * tc.interval)
			s.recv(advertFrom(cfg, addrPeer, 0, nil))
			skew := skewTime(tc.version, 100, tc.interval)
			s.at(2*tc.interval + skew - time.Nanosecond)
			s.wantState(StateBackup)
			s.at(2*tc.interval + skew)
			s.wantState(StateMaster)
			if got := s.changes[len(s.changes)-1].Reason; got != "master sent priority 0" {
				t.Fatalf("reason %q", got)
			}
		})
	}
}

func TestV3BackupAdoptsMasterInterval(t *testing.T) {
	cfg := baseConfig()
	cfg.Version = 3
	cfg.AdvertInterval = time.Second
	s := newSim(t, cfg)
	s.start()
	s.recv(advertFrom(cfg, addrPeer, 200, func(a *Advert) { a.Interval = 50 }))
	if got := s.in.Status().MasterAdvInterval; got != 500*time.Millisecond {
		t.Fatalf("master interval %v, want 500ms adopted", got)
	}
	mdi := masterDownInterval(3, 100, 500*time.Millisecond)
	s.at(mdi - time.Nanosecond)
	s.wantState(StateBackup)
	s.at(mdi)
	s.wantState(StateMaster)
	// As master it advertises its own interval again.
	s.tr.take()
	s.at(mdi + time.Second)
	sent := s.tr.take()
	if len(sent) != 1 || sent[0].adv.Interval != 100 {
		t.Fatalf("master adverts %+v, want one with 100cs", sent)
	}
}

func TestV2IntervalIsNotAdopted(t *testing.T) {
	cfg := baseConfig()
	s := newSim(t, cfg)
	s.start()
	s.recv(advertFrom(cfg, addrPeer, 200, func(a *Advert) { a.Interval = 3 }))
	if got := s.in.Status().Counters.Drops["interval"]; got != 1 {
		t.Fatalf("interval drops %d, want 1", got)
	}
	s.at(masterDownInterval(2, 100, time.Second))
	s.wantState(StateMaster)
}

func TestMasterSendsAdvertEveryInterval(t *testing.T) {
	cfg := baseConfig()
	cfg.Priority = PriorityOwner
	s := newSim(t, cfg)
	s.start()
	s.wantState(StateMaster)
	s.at(10 * time.Second)
	if n := len(s.tr.take()); n != 11 {
		t.Fatalf("%d adverts in 10s, want 11 (one at start, one each second)", n)
	}
}

func TestPreemption(t *testing.T) {
	mdi := masterDownInterval(2, 150, time.Second)
	tests := []struct {
		name      string
		mod       func(*Config)
		masterAt  time.Duration // zero: stays backup through 20s
		beforeDur time.Duration
	}{
		// A lower-priority advert is discarded, so Master_Down_Interval runs
		// out from start.
		{name: "preempt", masterAt: mdi},
		{name: "nopreempt", mod: func(c *Config) { c.NoPreempt = true }},
		// Lower-priority adverts count as the master's until 10s after start.
		{name: "preempt_delay", mod: func(c *Config) { c.PreemptDelay = 10 * time.Second }, masterAt: 10*time.Second + mdi - time.Second/2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig()
			cfg.Priority = 150
			if tc.mod != nil {
				tc.mod(&cfg)
			}
			s := newSim(t, cfg)
			s.start()
			var becameAt time.Duration
			// The lower-priority master advertises every second until we
			// take over, at which point it would go backup and fall silent.
			for ms := time.Duration(0); ms <= 20*time.Second; ms += time.Second / 2 {
				s.at(ms)
				if s.state() == StateMaster {
					if becameAt == 0 {
						becameAt = s.changes[len(s.changes)-1].At.Sub(t0)
					}
					continue
				}
				if ms%time.Second == time.Second/2 {
					s.recv(advertFrom(cfg, addrPeer, 100, nil))
				}
			}
			if becameAt != tc.masterAt {
				t.Fatalf("became master at %v, want %v (0 = never)", becameAt, tc.masterAt)
			}
		})
	}
}

func TestOwnerBecomesMasterAtOnce(t *testing.T) {
	cfg := baseConfig()
	cfg.Priority = PriorityOwner
	s := newSim(t, cfg)
	s.start()
	s.wantState(StateMaster)
	// An owner never yields to anyone: nothing can out-rank 255, and a tie
	// only with a higher address.
	s.recv(advertFrom(cfg, addrLow, 255, nil))
	s.wantState(StateMaster)
}

func TestInitialStateMaster(t *testing.T) {
	t.Run("waits for a better master like keepalived", func(t *testing.T) {
		cfg := baseConfig()
		cfg.InitialState = StateMaster
		s := newSim(t, cfg)
		s.start()
		s.wantState(StateBackup)
		s.recv(advertFrom(cfg, addrPeer, 200, nil))
		s.at(masterDownInterval(2, 100, time.Second) - time.Nanosecond)
		s.wantState(StateBackup)
		if vips, _, _ := s.act.snapshot(); vips {
			t.Fatal("took the VIPs from a live master at start")
		}
	})
	for _, tc := range []struct {
		name      string
		noPreempt bool
		want      State
	}{
		{"preempt: lower master is preempted", false, StateMaster},
		{"nopreempt trap avoided: holds", true, StateBackup},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig()
			cfg.InitialState = StateMaster
			cfg.NoPreempt = tc.noPreempt
			cfg.Priority = 200
			s := newSim(t, cfg)
			s.start()
			for i := range 20 {
				s.at(time.Duration(i) * time.Second)
				if s.state() == StateBackup {
					s.recv(advertFrom(cfg, addrPeer, 100, nil))
				}
			}
			s.wantState(tc.want)
		})
	}
}

func TestMasterReceives(t *testing.T) {
	tests := []struct {
		name      string
		src       byte
		prio      uint8
		wantState State
		// wantReply: the master answers at once instead of waiting for its
		// advert timer.
		wantReply bool
		// higherPrioSendAdvert is keepalived's higher_prio_send_advert.
		higherPrioSendAdvert bool
	}{
		{"higher priority", 2, 200, StateBackup, false, false},
		{"equal priority higher address", 2, 100, StateBackup, false, false},
		{"equal priority lower address", 0, 100, StateMaster, true, false},
		{"lower priority", 2, 50, StateMaster, true, false},
		{"priority 0", 2, 0, StateMaster, true, false},
		{"higher priority, higher_prio_send_advert", 2, 200, StateBackup, true, true},
		{"equal priority higher address, higher_prio_send_advert", 2, 100, StateBackup, true, true},
		{"lower priority, higher_prio_send_advert", 2, 50, StateMaster, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig()
			cfg.HigherPrioSendAdvert = tc.higherPrioSendAdvert
			s := newSim(t, cfg)
			s.start()
			s.at(masterDownInterval(2, 100, time.Second))
			s.wantState(StateMaster)
			s.tr.take()
			src := addrPeer
			if tc.src == 0 {
				src = addrLow
			}
			s.recv(advertFrom(cfg, src, tc.prio, nil))
			s.wantState(tc.wantState)
			replies := s.tr.take()
			if replied := len(replies) > 0; replied != tc.wantReply {
				t.Fatalf("replied %v, want %v", replied, tc.wantReply)
			}
			for _, r := range replies {
				if r.adv.Priority != 100 {
					t.Fatalf("reply with priority %d, want ours (100)", r.adv.Priority)
				}
			}
			vips, _, _ := s.act.snapshot()
			if vips != (tc.wantState == StateMaster) {
				t.Fatalf("VIPs present %v in state %v", vips, tc.wantState)
			}
			if tc.wantState == StateBackup {
				// No priority 0 when yielding to a better master.
				s.at(2*masterDownInterval(2, 100, time.Second) - time.Nanosecond)
				s.wantState(StateBackup)
			}
		})
	}
}

func TestGratuitousARPSchedule(t *testing.T) {
	tests := []struct {
		name   string
		mod    func(*Config)
		checks map[time.Duration]int // cumulative GARPs at time after takeover
	}{
		{"defaults 5 now and 5 after 5s", nil, map[time.Duration]int{0: 5, 4999 * time.Millisecond: 5, 5 * time.Second: 10, time.Minute: 10}},
		{"refresh every 10s", func(c *Config) { c.GARPMasterRefresh = 10 * time.Second },
			map[time.Duration]int{0: 5, 5 * time.Second: 10, 15*time.Second - 1: 10, 15 * time.Second: 11, 25 * time.Second: 12}},
		{"no second burst", func(c *Config) { c.GARPMasterDelay = 0; c.GARPMasterRepeat = 3 }, map[time.Duration]int{0: 3, time.Minute: 3}},
		{"refresh 4 at a time", func(c *Config) { c.GARPMasterRefresh, c.GARPMasterRefreshRepeat = 10*time.Second, 4 },
			map[time.Duration]int{0: 5, 5 * time.Second: 10, 15*time.Second - 1: 10, 15 * time.Second: 14, 25 * time.Second: 18}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig()
			cfg.Priority = PriorityOwner
			if tc.mod != nil {
				tc.mod(&cfg)
			}
			s := newSim(t, cfg)
			s.start()
			var ds []time.Duration
			for d := range tc.checks {
				ds = append(ds, d)
			}
			slicesSort(ds)
			for _, d := range ds {
				s.at(d)
				if _, garps, _ := s.act.snapshot(); garps != tc.checks[d] {
					t.Fatalf("at %v: %d GARPs, want %d", d, garps, tc.checks[d])
				}
			}
		})
	}
}

func TestFaultOnTrackedLink(t *testing.T) {
	cfg := baseConfig()
	cfg.Priority = PriorityOwner
	cfg.TrackInterfaces = []string{"eth1"}
	s := newSim(t, cfg)
	s.start()
	s.tr.take()
	s.in.step(func(now time.Time) { s.in.handleLink(now, LinkEvent{Name: "eth1", Up: false}) })
	s.wantState(StateFault)
	sent := s.tr.take()
	if len(sent) != 1 || sent[0].adv.Priority != 0 {
		t.Fatalf("leaving master for FAULT sent %+v, want one priority-0 advert", sent)
	}
	if vips, _, notes := s.act.snapshot(); vips || notes[len(notes)-1].State != StateFault {
		t.Fatalf("in FAULT: vips=%v notes=%+v", vips, notes)
	}
	// Adverts do not move a FAULT instance.
	s.at(time.Minute)
	s.wantState(StateFault)
	s.in.step(func(now time.Time) { s.in.handleLink(now, LinkEvent{Name: "eth1", Up: true}) })
	s.wantState(StateMaster)
}

func TestFaultThenBackup(t *testing.T) {
	cfg := baseConfig()
	s := newSim(t, cfg)
	s.in.down["eth0"] = true
	s.start()
	s.wantState(StateFault)
	s.at(time.Minute)
	s.wantState(StateFault)
	s.in.step(func(now time.Time) { s.in.handleLink(now, LinkEvent{Name: "eth0", Up: true}) })
	s.wantState(StateBackup)
	s.at(time.Minute + masterDownInterval(2, 100, time.Second))
	s.wantState(StateMaster)
}

// rebindTransport is a fake transport bound to a netdev: each Rebind takes
// the next of results (then "nothing moved").
type rebindTransport struct {
	*fakeTransport
	results []error
	calls   []time.Duration // since t0
	clock   *fakeClock
}

func (r *rebindTransport) Rebind() (bool, error) {
	r.calls = append(r.calls, r.clock.Now().Sub(t0))
	if len(r.calls) > len(r.results) {
		return false, nil
	}
	err := r.results[len(r.calls)-1]
	return err == nil, err
}

// A link coming up moves the sockets to the netdev (it may be a new one)
// before the instance may become master; while that fails it is tried
// again every second, and not once more after it worked. State and
// counters go on.
func TestRebindOnLinkUp(t *testing.T) {
	clock := &fakeClock{now: t0}
	tr := &rebindTransport{fakeTransport: newFakeTransport(), clock: clock,
		results: []error{errors.New("interface eth0 has no IPv4 address"), errors.New("interface eth0 has no IPv4 address"), nil}}
	s := &sim{t: t, tr: tr.fakeTransport, act: &fakeActions{}, clock: clock}
	in, err := New(baseConfig(), Options{Transport: tr, Actions: s.act, Links: fakeLinks{}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	s.in = in
	s.start()
	s.at(masterDownInterval(2, 100, time.Second))
	s.wantState(StateMaster)
	sentBefore := s.in.Status().Counters.AdvertsSent
	s.at(10 * time.Second)
	s.in.step(func(now time.Time) { s.in.handleLink(now, LinkEvent{Name: "eth0", Up: false}) })
	s.wantState(StateFault)
	if len(tr.calls) != 0 {
		t.Fatalf("a link going down rebound the sockets: %v", tr.calls)
	}
	s.at(20 * time.Second)
	s.in.step(func(now time.Time) { s.in.handleLink(now, LinkEvent{Name: "eth0", Up: true}) })
	s.wantState(StateBackup)
	s.at(time.Minute)
	if want := []time.Duration{20 * time.Second, 21 * time.Second, 22 * time.Second}; !slices.Equal(tr.calls, want) {
		t.Fatalf("rebind tried at %v, want %v (on the link event, then every second until it worked)", tr.calls, want)
	}
	s.wantState(StateMaster)
	if st := s.in.Status(); st.Counters.AdvertsSent <= sentBefore {
		t.Fatalf("counters restarted: %d adverts sent, %d before", st.Counters.AdvertsSent, sentBefore)
	}
}

func TestPriorityAdjust(t *testing.T) {
	cfg := baseConfig()
	cfg.Priority = 150
	s := newSim(t, cfg)
	s.start()
	s.at(masterDownInterval(2, 150, time.Second))
	s.wantState(StateMaster)
	s.tr.take()
	s.in.SetPriorityAdjust(-100)
	s.in.step(func(now time.Time) { s.in.updatePriority(now) })
	sent := s.tr.take()
	if len(sent) != 1 || sent[0].adv.Priority != 50 {
		t.Fatalf("after adjust sent %+v, want an immediate priority-50 advert", sent)
	}
	// The peer (100) now out-ranks us.
	s.recv(advertFrom(cfg, addrPeer, 100, nil))
	s.wantState(StateBackup)
	// Clamped to 1..254.
	s.in.SetPriorityAdjust(-1000)
	s.in.step(func(now time.Time) { s.in.updatePriority(now) })
	if p := s.in.Status().Priority; p != 1 {
		t.Fatalf("priority %d, want clamped to 1", p)
	}
}

func TestShutdown(t *testing.T) {
	cfg := baseConfig()
	cfg.Priority = PriorityOwner
	s := newSim(t, cfg)
	s.start()
	s.tr.take()
	s.in.step(func(now time.Time) { s.in.shutdown(now) })
	sent := s.tr.take()
	if len(sent) != 1 || sent[0].adv.Priority != 0 {
		t.Fatalf("shutdown sent %+v, want one priority-0 advert", sent)
	}
	vips, _, notes := s.act.snapshot()
	if vips || notes[len(notes)-1].State != StateStop {
		t.Fatalf("after shutdown vips=%v notes=%+v", vips, notes)
	}
	st := s.in.Status()
	if st.Counters.PriorityZeroSent != 1 || st.Counters.ReleasedMaster != 1 {
		t.Fatalf("counters %+v", st.Counters)
	}
}

func TestUnicastSendsToEachPeer(t *testing.T) {
	cfg := baseConfig()
	cfg.Priority = PriorityOwner
	cfg.Version = 3
	peers := []string{"10.0.1.2", "10.0.2.2"}
	s := newSim(t, cfg)
	s.tr.dsts = nil
	for _, p := range peers {
		s.tr.dsts = append(s.tr.dsts, mustAddr(p))
	}
	s.start()
	sent := s.tr.take()
	if len(sent) != 2 || sent[0].dst.String() != peers[0] || sent[1].dst.String() != peers[1] {
		t.Fatalf("sent %+v, want one advert per peer", sent)
	}
	// The v3 checksum covers the destination, so each copy differs.
	if sent[0].adv.Checksum == sent[1].adv.Checksum {
		t.Fatal("v3 checksums equal for different destinations")
	}
}
