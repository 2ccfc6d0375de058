package vrrp

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"xlb/control/script"
	"xlb/control/secret"
)

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"complete", func(*Config) {}, true},
		{"priority 0", func(c *Config) { c.Priority = 0 }, false},
		{"version 0", func(c *Config) { c.Version = 0 }, false},
		{"advert_int 0", func(c *Config) { c.AdvertInterval = 0 }, false},
		{"initial INIT", func(c *Config) { c.InitialState = StateInit }, false},
		{"VIP without device", func(c *Config) { c.VIPs[0].Dev = "" }, false},
		{"no multicast group", func(c *Config) { c.McastGroup = netip.Addr{} }, false},
		{"unicast group", func(c *Config) { c.McastGroup = mustAddr("10.0.0.1") }, false},
		{"garp_master_repeat 0", func(c *Config) { c.GARPMasterRepeat = 0 }, false},
		{"garp_master_refresh_repeat 0", func(c *Config) { c.GARPMasterRefreshRepeat = 0 }, false},
		{"no second garp burst", func(c *Config) { c.GARPMasterDelay = 0 }, true},
		{"no name", func(c *Config) { c.Name = "" }, false},
		{"no interface", func(c *Config) { c.Interface = "" }, false},
		{"vrid 0", func(c *Config) { c.VRID = 0 }, false},
		{"version 4", func(c *Config) { c.Version = 4 }, false},
		{"v2 fractional interval", func(c *Config) { c.AdvertInterval = 1500 * time.Millisecond }, false},
		{"v3 100ms", func(c *Config) { c.Version, c.AdvertInterval = 3, 100*time.Millisecond }, true},
		{"v3 5ms", func(c *Config) { c.Version, c.AdvertInterval = 3, 5*time.Millisecond }, false},
		{"v3 with auth", func(c *Config) { c.Version, c.AuthPass = 3, secret.New("x") }, false},
		{"no VIPs", func(c *Config) { c.VIPs = nil }, false},
		{"IPv6 VIP in a v2 instance", func(c *Config) {
			c.VIPs[0].Prefix, c.McastGroup = mustPrefix("fd00::1/128"), Group6
		}, false},
		{"IPv6 VIP, v3", func(c *Config) {
			c.Version, c.VIPs[0].Prefix, c.McastGroup = 3, mustPrefix("fd00::1/128"), Group6
		}, true},
		{"IPv6 VIP, v3, IPv4 group", func(c *Config) { c.Version, c.VIPs[0].Prefix = 3, mustPrefix("fd00::1/128") }, false},
		{"IPv6 VIP, v3, site-local group", func(c *Config) {
			c.Version, c.VIPs[0].Prefix, c.McastGroup = 3, mustPrefix("fd00::1/128"), mustAddr("ff05::12")
		}, false},
		{"IPv6 VIP, v3, other link-local group", func(c *Config) {
			c.Version, c.VIPs[0].Prefix, c.McastGroup = 3, mustPrefix("fd00::1/128"), mustAddr("ff02::112")
		}, true},
		{"IPv4 and IPv6 VIPs in one instance", func(c *Config) {
			c.Version = 3
			c.VIPs = append(c.VIPs, VIP{Prefix: mustPrefix("fd00::1/128"), Dev: "eth0"})
		}, false},
		{"IPv6 instance, IPv4 unicast_src_ip", func(c *Config) {
			c.Version, c.VIPs[0].Prefix, c.McastGroup = 3, mustPrefix("fd00::1/128"), Group6
			c.UnicastSrc = mustAddr("10.0.0.1")
		}, false},
		{"IPv6 instance, IPv6 unicast peers", func(c *Config) {
			c.Version, c.VIPs[0].Prefix, c.McastGroup = 3, mustPrefix("fd00::1/128"), Group6
			c.UnicastSrc, c.UnicastPeers = mustAddr("fd00::a"), []netip.Addr{mustAddr("fd00::b")}
		}, true},
		{"IPv4 instance, IPv6 unicast peer", func(c *Config) { c.UnicastPeers = []netip.Addr{mustAddr("fd00::b")} }, false},
		{"initial FAULT", func(c *Config) { c.InitialState = StateFault }, false},
		{"negative preempt_delay", func(c *Config) { c.PreemptDelay = -time.Second }, false},
		{"vrrp_mcast_group4 224.0.0.19", func(c *Config) { c.McastGroup = mustAddr("224.0.0.19") }, true},
		{"vrrp_mcast_group4 not multicast", func(c *Config) { c.McastGroup = mustAddr("10.0.0.19") }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := baseConfig()
			tc.mod(&c)
			err := c.validate()
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v does not wrap ErrConfig", err)
			}
		})
	}
}

func TestNotifyCommands(t *testing.T) {
	c := baseConfig()
	c.NotifyMaster = script.Command{Argv: []string{"/bin/m"}, User: "u1"}
	c.Notify = script.Command{Argv: []string{"/bin/n", "arg"}, User: "u2", Group: "g2"}
	got := notifyCommands(c, Notification{Instance: "VI_1", State: StateMaster, Priority: 100})
	want := []script.Command{{Argv: []string{"/bin/m"}, User: "u1"}, {Argv: []string{"/bin/n", "arg", "INSTANCE", "VI_1", "MASTER", "100"}, User: "u2", Group: "g2"}}
	if !slices.EqualFunc(got, want, script.Command.Equal) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if len(c.Notify.Argv) != 2 {
		t.Fatalf("notifyCommands changed the config's argv: %q", c.Notify.Argv)
	}
	if got := notifyCommands(c, Notification{Instance: "VI_1", State: StateFault, Priority: 7}); len(got) != 1 || got[0].Argv[4] != "FAULT" {
		t.Fatalf("fault: %q", got)
	}
}

// TestRunWithFakeClock drives Run itself: the timer it arms, the packets it
// reads, and its graceful exit.
func TestRunWithFakeClock(t *testing.T) {
	cfg := baseConfig()
	tr := newFakeTransport()
	tr.out = make(chan sent, 16)
	act := &fakeActions{}
	clock := &fakeClock{now: t0}
	changes := make(chan StateChange, 16)
	in, err := New(cfg, Options{Transport: tr, Actions: act, Links: fakeLinks{}, Clock: clock,
		OnStateChange: func(c StateChange) { changes <- c }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	waitChange := func(want State) {
		t.Helper()
		select {
		case c := <-changes:
			if c.To != want {
				t.Fatalf("changed to %v, want %v", c.To, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no change to %v", want)
		}
	}
	waitChange(StateBackup)
	mdi := t0.Add(masterDownInterval(2, 100, time.Second))
	waitFor(t, func() bool { return clock.pendingAt(mdi) })
	clock.set(mdi)
	waitChange(StateMaster)
	if s := <-tr.out; s.adv.Priority != 100 {
		t.Fatalf("takeover advert %+v", s)
	}
	tr.rx <- advertFrom(cfg, addrPeer, 200, nil)
	waitChange(StateBackup)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	waitChange(StateStop)
	if !act.closed {
		t.Fatal("Run did not close its actions")
	}
}

// TestRunShutdownAsMaster: cancelling a master's Run sends priority 0 and
// removes the VIPs.
func TestRunShutdownAsMaster(t *testing.T) {
	cfg := baseConfig()
	cfg.Priority = PriorityOwner
	tr := newFakeTransport()
	tr.out = make(chan sent, 16)
	act := &fakeActions{}
	in, err := New(cfg, Options{Transport: tr, Actions: act, Links: fakeLinks{}, Clock: &fakeClock{now: t0}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	if s := <-tr.out; s.adv.Priority != PriorityOwner {
		t.Fatalf("first advert %+v", s)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := <-tr.out; s.adv.Priority != 0 {
		t.Fatalf("shutdown advert %+v, want priority 0", s)
	}
	if vips, _, _ := act.snapshot(); vips {
		t.Fatal("VIPs still present after shutdown")
	}
}

// TestRunTracksLinks: a link event from the watcher moves Run into FAULT.
func TestRunTracksLinks(t *testing.T) {
	cfg := baseConfig()
	cfg.Priority = PriorityOwner
	links := fakeLinks{events: make(chan LinkEvent)}
	in, err := New(cfg, Options{Transport: newFakeTransport(), Actions: &fakeActions{}, Links: links, Clock: &fakeClock{now: t0}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = in.Run(ctx) }()
	waitFor(t, func() bool { return in.Status().State == StateMaster })
	links.events <- LinkEvent{Name: "eth0", Up: false}
	waitFor(t, func() bool { return in.Status().State == StateFault })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// Every state survives JSON, so xlbctl can read the status of an instance
// in FAULT; FAULT is still no state to configure.
func TestStateText(t *testing.T) {
	for _, s := range []State{StateInit, StateBackup, StateMaster, StateFault, StateStop} {
		b, _ := s.MarshalText()
		var got State
		if err := got.UnmarshalText(b); err != nil || got != s {
			t.Fatalf("%v: round trip gave %v, %v", s, got, err)
		}
	}
	var s State
	if err := s.UnmarshalText([]byte("LEADER")); !errors.Is(err, ErrConfig) {
		t.Fatalf("LEADER: %v", err)
	}
	cfg := baseConfig()
	cfg.InitialState = StateFault
	if err := cfg.validate(); !errors.Is(err, ErrConfig) {
		t.Fatalf("FAULT as a configured state: %v", err)
	}
}
