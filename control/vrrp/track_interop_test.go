package vrrp_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"xlb/control/vrrp"
	"xlb/test/keepalived"
	"xlb/test/testutil"
)

// TestInteropTrackScript: a keepalived.conf's vrrp_script (weight -100, fall
// 2, rise 2), loaded as xlbd loads it, drops our priority from 150 to 50
// when it fails, and keepalived (100) takes the VIP; when it succeeds again
// we preempt back.
func TestInteropTrackScript(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	dir := t.TempDir()
	healthy := filepath.Join(dir, "healthy")
	chk := filepath.Join(dir, "chk.sh")
	if err := os.WriteFile(healthy, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(chk, []byte("#!/bin/sh\ntest -f "+healthy+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	const interval = 200 * time.Millisecond
	d := startDirector(t, l.ours, fmt.Sprintf(`vrrp_script chk_file {
    script %s
    interval 0.2
    fall 2
    rise 2
    weight -100
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass %s
    }
    virtual_ipaddress {
        %s
    }
    track_script {
        chk_file
    }
}
`, chk, password, vipLine))
	o := d.members["VI_1"]
	waitUntil(t, "we become master", 10*time.Second, func() bool { return o.state() == vrrp.StateMaster })
	ka := keepalived.Start(t, l.ka, kaInstance(2, "1", 100, "BACKUP"))
	waitUntil(t, "keepalived backup", 10*time.Second, func() bool { return ka.Entered("BACKUP") > 0 })

	if err := os.Remove(healthy); err != nil {
		t.Fatal(err)
	}
	failing := time.Now()
	waitUntil(t, "two failures drop our priority to 50", 2*interval+slack, func() bool { return o.in.Status().Priority == 50 })
	waitUntil(t, "keepalived preempts", masterDown(2, 100, time.Second)+slack+time.Second, func() bool {
		return o.state() == vrrp.StateBackup && hasVIP(t, l.ka) && !hasVIP(t, l.ours)
	})
	t.Logf("keepalived master %v after our script started failing", time.Since(failing))
	if st := o.in.Status(); len(st.Scripts) != 1 || st.Scripts[0].State != vrrp.ScriptFailing || st.Scripts[0].Fails < 2 {
		t.Fatalf("script status %+v", st.Scripts)
	}

	if err := os.WriteFile(healthy, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "two successes restore 150", 2*interval+slack, func() bool { return o.in.Status().Priority == 150 })
	waitUntil(t, "we preempt back", masterDown(2, 150, time.Second)+slack+time.Second, func() bool {
		return o.state() == vrrp.StateMaster && hasVIP(t, l.ours) && !hasVIP(t, l.ka)
	})
}

// TestInteropGlobalVersion3: one keepalived.conf with vrrp_version 3 in
// global_defs (not in the instance) on both directors, at advert_int 1 and
// 0.1: we speak v3 and follow keepalived's master with no split brain, and
// take over within Master_Down_Interval when it dies. (Reading the global
// version was once dropped, which left xlb on v2 and both directors master.)
func TestInteropGlobalVersion3(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		advert   string
		interval time.Duration
	}{{"1", time.Second}, {"0.1", 100 * time.Millisecond}} {
		t.Run("advert_int "+tc.advert, func(t *testing.T) {
			t.Parallel()
			l := newLab(t)
			conf := func(state string, prio int) string {
				return fmt.Sprintf("global_defs {\n    vrrp_version 3\n}\nvrrp_instance VI_1 {\n    state %s\n    interface eth0\n"+
					"    virtual_router_id 51\n    priority %d\n    advert_int %s\n    virtual_ipaddress {\n        %s\n    }\n}\n",
					state, prio, tc.advert, vipLine)
			}
			ka := keepalived.StartConfig(t, l.ka, "VI_1", conf("MASTER", 150))
			waitUntil(t, "keepalived master", 10*time.Second, func() bool { return hasVIP(t, l.ka) })
			o := startDirector(t, l.ours, conf("BACKUP", 100)).members["VI_1"]
			if v := o.in.Config().Version; v != 3 {
				t.Fatalf("instance runs VRRPv%d, want the global vrrp_version 3", v)
			}
			waitUntil(t, "we follow keepalived", 5*time.Second, func() bool {
				st := o.in.Status()
				return st.State == vrrp.StateBackup && st.MasterAddr == kaAddr && st.MasterPriority == 150
			})
			// Longer than a Master_Down_Interval: adverts we did not
			// understand would have made us master by now.
			backups := ka.Entered("BACKUP")
			time.Sleep(masterDown(3, 100, tc.interval) + 2*tc.interval)
			st := o.in.Status()
			if st.State != vrrp.StateBackup || hasVIP(t, l.ours) || !hasVIP(t, l.ka) || ka.Entered("BACKUP") != backups {
				t.Fatalf("two masters or a flap: ours %v, keepalived log:\n%s", st.State, ka.Log())
			}
			if len(st.Mismatches) != 0 || st.Counters.Drops["version"] != 0 || st.Counters.AdvertsReceived < 3 {
				t.Fatalf("adverts not understood: %+v", st)
			}

			killed := time.Now()
			ka.Signal(syscall.SIGKILL)
			mdi := masterDown(3, 100, tc.interval)
			waitUntil(t, "takeover", mdi+slack, func() bool { return o.state() == vrrp.StateMaster && hasVIP(t, l.ours) })
			at := o.waitEntered(t, vrrp.StateMaster, killed)
			t.Logf("global v3, advert_int %s: takeover %v after SIGKILL (Master_Down_Interval %v)", tc.advert, at.Sub(killed), mdi)
		})
	}
}

// TestInteropVIPDeviceTracked: as in keepalived (vrrp_complete_instance in
// keepalived/vrrp/vrrp.c), a VIP on a device other than the instance's
// interface tracks that device: it losing its carrier puts us in FAULT and
// keepalived, the peer with the same keepalived.conf, takes over; with
// no_track on the address line we stay master.
func TestInteropVIPDeviceTracked(t *testing.T) {
	t.Parallel()
	const (
		otherVIP = "10.98.0.1"
		interval = 200 * time.Millisecond
	)
	for _, tc := range []struct {
		name, opt string
		fault     bool
	}{{"tracked", "", true}, {"no_track", " no_track", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t)
			conf := func(state string, prio int) string {
				return fmt.Sprintf("vrrp_instance VI_1 {\n    state %s\n    interface eth0\n    virtual_router_id 51\n"+
					"    priority %d\n    version 3\n    advert_int 0.2\n    virtual_ipaddress {\n        %s\n        %s/32 dev trk0%s\n    }\n}\n",
					state, prio, vipLine, otherVIP, tc.opt)
			}
			// No dummy driver on this kernel: a veth pair in each director's
			// namespace; setting trk1 down takes trk0's carrier. trk0 has
			// an address here; TestAnnounceOnDeviceWithoutAddress has none.
			for _, ns := range []*testutil.NetNS{l.ours, l.ka} {
				ns.MustRun(t, "ip", "link", "add", "trk0", "type", "veth", "peer", "name", "trk1")
				ns.MustRun(t, "ip", "addr", "add", "10.98.1.1/24", "dev", "trk0")
				ns.MustRun(t, "ip", "link", "set", "trk1", "up")
				ns.MustRun(t, "ip", "link", "set", "trk0", "up")
			}
			o := startDirector(t, l.ours, conf("BACKUP", 150)).members["VI_1"]
			waitUntil(t, "we become master", 10*time.Second, func() bool { return o.state() == vrrp.StateMaster })
			ka := keepalived.StartConfig(t, l.ka, "VI_1", conf("BACKUP", 100))
			waitUntil(t, "keepalived backup", 10*time.Second, func() bool { return ka.Entered("BACKUP") > 0 })
			onTrk0 := func() bool {
				return strings.Contains(l.ours.MustRun(t, "ip", "-o", "-4", "addr", "show", "dev", "trk0"), " "+otherVIP+"/32 ")
			}
			if !onTrk0() {
				t.Fatal("the VIP on trk0 was not added")
			}

			down := time.Now()
			l.ours.MustRun(t, "ip", "link", "set", "trk1", "down")
			if tc.fault {
				waitUntil(t, "FAULT", 2*time.Second, func() bool { return o.state() == vrrp.StateFault })
				waitUntil(t, "keepalived takes over", skew(3, 100, interval)+slack+time.Second, func() bool { return ka.Entered("MASTER") > 0 })
				t.Logf("keepalived master %v after the VIP's device went down", time.Since(down))
				if hasVIP(t, l.ours) || onTrk0() {
					t.Fatal("VIPs kept in FAULT")
				}
				o.waitEntered(t, vrrp.StateFault, down)
				if why := o.lastChange().Reason; !strings.Contains(why, "link trk0 down (virtual_ipaddress "+otherVIP+"/32 dev trk0)") {
					t.Errorf("FAULT reason %q does not name the VIP line", why)
				}
				l.ours.MustRun(t, "ip", "link", "set", "trk1", "up")
				waitUntil(t, "out of FAULT", 2*time.Second, func() bool { return o.state() != vrrp.StateFault })
				return
			}
			// A tracked link's event arrives in milliseconds; keepalived
			// would be master a Master_Down_Interval after our last advert.
			time.Sleep(masterDown(3, 100, interval) + slack)
			if _, fault := o.enteredAt(vrrp.StateFault, down); fault || o.state() != vrrp.StateMaster || ka.Entered("MASTER") > 0 || !onTrk0() {
				t.Fatalf("no_track: ours %v (FAULT entered: %v), keepalived log:\n%s", o.state(), fault, ka.Log())
			}
			if out := l.ours.MustRun(t, "ip", "-o", "link", "show", "trk0"); !strings.Contains(out, "NO-CARRIER") {
				t.Fatalf("trk0 still has its carrier: %s", out)
			}
		})
	}
}
