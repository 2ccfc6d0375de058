package vrrp

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"xlb/control/script"
	"xlb/test/testutil"
)

// Closing NetActions (a reload restarting the instance, a shutdown) never
// waits on a notify script, even one that hangs or leaves a daemon holding
// its output; the instance's notifications still run in order across the
// restart, on the shared queue.
func TestNotifyNeverBlocksCloseAndKeepsOrder(t *testing.T) {
	testutil.RequirePriv(t)
	ns := testutil.NewNetNS(t, "vrrpnotify")
	ns.MustRun(t, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
	ns.MustRun(t, "ip", "addr", "add", "192.0.2.1/24", "dev", "eth0")
	ns.MustRun(t, "ip", "link", "set", "eth0", "up")
	dir := t.TempDir()
	logf := filepath.Join(dir, "log")
	pidf := filepath.Join(dir, "daemon")
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := baseConfig()
	// notify_master starts a daemon that keeps stdout, then takes a while.
	cfg.NotifyMaster = script.Command{Argv: []string{write("master.sh", "sleep 30 & echo $! > "+pidf+"; sleep 1; echo own-master >> "+logf)}}
	cfg.Notify = script.Command{Argv: []string{write("notify.sh", `echo "$3" >> `+logf)}}
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidf); err == nil {
			var pid int
			if _, err := fmt.Sscan(string(b), &pid); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	q := script.NewQueue(nil)
	open := func() *NetActions {
		var a *NetActions
		if err := ns.Do(func() (err error) { a, err = NewNetActions(cfg, q, nil); return err }); err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := open()
	a.Notify(Notification{Instance: "VI_1", State: StateMaster, Priority: 100})
	start := time.Now()
	a.Close()
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("Close waited %v for a notify script", took)
	}
	b := open()
	b.Notify(Notification{Instance: "VI_1", State: StateBackup, Priority: 100})
	b.Notify(Notification{Instance: "VI_1", State: StateStop, Priority: 100})
	b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.Wait(ctx); err != nil {
		t.Fatalf("notify scripts still running: %v", err)
	}
	got, _ := os.ReadFile(logf)
	want := "own-master\nMASTER\nBACKUP\nSTOP\n"
	if string(got) != want {
		t.Errorf("notifications ran as %q, want %q", got, want)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the scripts took %v: the forked daemon held the runner", took)
	}
	if q.Dropped() != 0 || !strings.Contains(string(got), "STOP") {
		t.Errorf("dropped %d", q.Dropped())
	}
}

// A link subscription that ends (ENOBUFS after a burst of events) is
// replaced and every tracked link re-read: tracking never stops silently.
func TestNetlinkWatcherResubscribes(t *testing.T) {
	w, err := NewNetlinkWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var calls atomic.Int32
	w.sub = func(ch chan<- netlink.LinkUpdate, done <-chan struct{}) error {
		if calls.Add(1) == 1 {
			close(ch) // the first subscription fails at once
			return nil
		}
		go func() { <-done; close(ch) }()
		return nil
	}
	done := make(chan struct{})
	defer close(done)
	events, err := w.Watch([]string{"lo"}, done)
	if err != nil {
		t.Fatal(err)
	}
	for i, what := range []string{"initial state", "state re-read after resubscribing"} {
		select {
		case ev, ok := <-events:
			if !ok || ev.Name != "lo" || !ev.Up {
				t.Fatalf("%s: event %+v open %v", what, ev, ok)
			}
		case <-time.After(3 * resubscribeDelay):
			t.Fatalf("%s (event %d): none within %v", what, i+1, 3*resubscribeDelay)
		}
	}
	if calls.Load() < 2 {
		t.Errorf("subscribed %d times, want a second subscription", calls.Load())
	}
}
