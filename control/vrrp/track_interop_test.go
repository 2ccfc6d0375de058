package vrrp_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"xlb/control/vrrp"
	"xlb/test/keepalived"
)

// TestInteropTrackScript: a failing track_script of weight -100 drops our
// priority from 150 to 50 and keepalived (100) takes the VIP; when the
// script succeeds again (rise 2) we preempt back.
func TestInteropTrackScript(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	healthy := filepath.Join(t.TempDir(), "healthy")
	if err := os.WriteFile(healthy, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := ourConfig(2, time.Second, 150)
	interval := 200 * time.Millisecond
	cfg.TrackScripts = []vrrp.Script{{
		Name: "chk_file", Command: []string{"/bin/sh", "-c", "test -f " + healthy},
		Interval: interval, Weight: -100, Fall: 2, Rise: 2,
	}}
	o := startOurs(t, l.ours, cfg)
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
