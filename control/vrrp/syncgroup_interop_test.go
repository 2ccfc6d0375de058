package vrrp_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"xlb/control/config"
	"xlb/control/vrrp"
	"xlb/test/keepalived"
	"xlb/test/testutil"
)

const vip2 = "10.99.0.101"

// syncConf is one director's keepalived.conf: VI_1 (VRID 51) and VI_2
// (VRID 52) on eth0 in sync group G, VI_1 also tracking trk0 when track is
// set, the group's notify script appending its arguments to notes.
func syncConf(prio int, track bool, notify string) string {
	var b strings.Builder
	b.WriteString("vrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\n")
	if notify != "" {
		fmt.Fprintf(&b, "    notify %s\n", notify)
	}
	b.WriteString("}\n")
	for i, v := range []string{vip, vip2} {
		fmt.Fprintf(&b, "vrrp_instance VI_%d {\n    state BACKUP\n    interface eth0\n    virtual_router_id %d\n    priority %d\n    advert_int 1\n",
			i+1, 51+i, prio)
		if track && i == 0 {
			b.WriteString("    track_interface {\n        trk0\n    }\n")
		}
		fmt.Fprintf(&b, "    virtual_ipaddress {\n        %s/32 dev eth0\n    }\n}\n", v)
	}
	return b.String()
}

// director is an xlb director running the VRRP part of a keepalived.conf
// loaded as xlbd loads it (config.Load), wired as xlbd's VRRP announcer
// does: one SyncGroup per vrrp_sync_group, one Instance per vrrp_instance.
type director struct {
	members map[string]*ours
}

func startDirector(t *testing.T, ns *testutil.NetNS, text string) *director {
	t.Helper()
	file := filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(file)
	if err != nil {
		t.Fatalf("load:\n%s\n%v", text, err)
	}
	d := &director{members: map[string]*ours{}}
	groupOf := map[string]*vrrp.SyncGroup{}
	for _, gc := range cfg.SyncGroups {
		g, err := vrrp.NewSyncGroup(gc, vrrp.SyncGroupOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range gc.Members {
			groupOf[m] = g
		}
	}
	for _, v := range cfg.VRRP {
		d.members[v.Name] = startMember(t, ns, v.Config, groupOf[v.Name])
	}
	return d
}

func (d *director) all(s vrrp.State) bool {
	for _, o := range d.members {
		if o.state() != s {
			return false
		}
	}
	return true
}

func hasAddr(t *testing.T, ns *testutil.NetNS, a string) bool {
	t.Helper()
	return strings.Contains(ns.MustRun(t, "ip", "-o", "-4", "addr", "show", "dev", "eth0"), " "+a+"/32 ")
}

// trackLink gives ns a link trk0 whose carrier the test controls through
// its peer trk1 (no dummy driver on this kernel).
func trackLink(t *testing.T, ns *testutil.NetNS) {
	t.Helper()
	ns.MustRun(t, "ip", "link", "add", "trk0", "type", "veth", "peer", "name", "trk1")
	ns.MustRun(t, "ip", "link", "set", "trk1", "up")
	ns.MustRun(t, "ip", "link", "set", "trk0", "up")
}

// TestSyncGroupOnTheWire: two directors each run VI_1 and VI_2 in sync group
// G. On the master, only VI_1 tracks a link; when it goes down, both
// instances leave (VI_2 is taken along, as keepalived's vrrp_sync.c does) and
// the peer takes both VIPs; when it comes back, the master preempts both
// back. The peer is a second xlb director, or keepalived itself in either
// role.
func TestSyncGroupOnTheWire(t *testing.T) {
	t.Parallel()
	t.Run("xlb to xlb", func(t *testing.T) {
		t.Parallel()
		l := newLab(t)
		trackLink(t, l.ours)
		notes := filepath.Join(t.TempDir(), "notes")
		script := filepath.Join(t.TempDir(), "notify.sh")
		if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+notes+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		a := startDirector(t, l.ours, syncConf(150, true, script))
		waitUntil(t, "A master of both", 10*time.Second, func() bool { return a.all(vrrp.StateMaster) })
		b := startDirector(t, l.ka, syncConf(100, false, ""))
		waitUntil(t, "B backup of both", 5*time.Second, func() bool {
			return b.all(vrrp.StateBackup) && b.members["VI_2"].in.Status().MasterAddr == ourAddr
		})

		down := time.Now()
		l.ours.MustRun(t, "ip", "link", "set", "trk1", "down")
		waitUntil(t, "A in FAULT, both instances", 2*time.Second, func() bool { return a.all(vrrp.StateFault) })
		if st := a.members["VI_2"].in.Status(); st.SyncGroup != "G" || st.SyncGroupState != vrrp.StateFault || st.Counters.PriorityZeroSent == 0 {
			t.Fatalf("VI_2 taken to FAULT without its group or a priority 0 advert: %+v", st)
		}
		waitUntil(t, "B master of both", skew(2, 100, time.Second)+slack+time.Second, func() bool { return b.all(vrrp.StateMaster) })
		t.Logf("B master of both %v after A's VI_1 lost its link", time.Since(down))
		if hasAddr(t, l.ours, vip) || hasAddr(t, l.ours, vip2) || !hasAddr(t, l.ka, vip) || !hasAddr(t, l.ka, vip2) {
			t.Fatal("VIPs did not both move to B")
		}

		l.ours.MustRun(t, "ip", "link", "set", "trk1", "up")
		waitUntil(t, "A preempts both back", masterDown(2, 150, time.Second)+slack+2*time.Second, func() bool {
			return a.all(vrrp.StateMaster) && b.all(vrrp.StateBackup)
		})
		want := []string{"GROUP G BACKUP 0", "GROUP G MASTER 0", "GROUP G FAULT 0", "GROUP G BACKUP 0", "GROUP G MASTER 0"}
		waitUntil(t, "group notify scripts", 5*time.Second, func() bool {
			got, _ := os.ReadFile(notes)
			return strings.TrimSpace(string(got)) == strings.Join(want, "\n")
		})
	})
	t.Run("xlb master, keepalived backup", func(t *testing.T) {
		t.Parallel()
		l := newLab(t)
		trackLink(t, l.ours)
		a := startDirector(t, l.ours, syncConf(150, true, ""))
		waitUntil(t, "A master of both", 10*time.Second, func() bool { return a.all(vrrp.StateMaster) })
		ka := keepalived.StartConfig(t, l.ka, "G", syncConf(100, false, ""))
		waitUntil(t, "keepalived backup", 10*time.Second, func() bool {
			return ka.EnteredBy("VI_1", "BACKUP") > 0 && ka.EnteredBy("VI_2", "BACKUP") > 0
		})
		l.ours.MustRun(t, "ip", "link", "set", "trk1", "down")
		waitUntil(t, "keepalived master of both", skew(2, 100, time.Second)+slack+2*time.Second, func() bool {
			return hasAddr(t, l.ka, vip) && hasAddr(t, l.ka, vip2)
		})
		if !a.all(vrrp.StateFault) || hasAddr(t, l.ours, vip2) {
			t.Fatalf("A's VI_2 kept the VIP: %v", a.members["VI_2"].state())
		}
	})
	t.Run("keepalived master, xlb backup", func(t *testing.T) {
		t.Parallel()
		l := newLab(t)
		trackLink(t, l.ka)
		ka := keepalived.StartConfig(t, l.ka, "G", syncConf(150, true, ""))
		waitUntil(t, "keepalived master of both", 10*time.Second, func() bool { return hasAddr(t, l.ka, vip) && hasAddr(t, l.ka, vip2) })
		b := startDirector(t, l.ours, syncConf(100, false, ""))
		waitUntil(t, "B backup of both", 5*time.Second, func() bool {
			return b.all(vrrp.StateBackup) && b.members["VI_2"].in.Status().MasterAddr == kaAddr
		})
		// keepalived's VI_1 loses its link: its group takes VI_2 to FAULT
		// too, both send priority 0, and our group takes both over.
		l.ka.MustRun(t, "ip", "link", "set", "trk1", "down")
		waitUntil(t, "B master of both", skew(2, 100, time.Second)+slack+2*time.Second, func() bool { return b.all(vrrp.StateMaster) })
		if !hasAddr(t, l.ours, vip) || !hasAddr(t, l.ours, vip2) {
			t.Fatal("B master without both VIPs")
		}
		waitUntil(t, "keepalived gave both up", time.Second, func() bool { return !hasAddr(t, l.ka, vip) && !hasAddr(t, l.ka, vip2) })
		if ka.EnteredBy("VI_2", "FAULT") == 0 {
			t.Fatal("keepalived's VI_2 was not taken to FAULT by its group: the test proves nothing")
		}
	})
}
