package e2e

import (
	"syscall"
	"testing"
	"time"

	"xlb/test/lab"
)

// TestLabBGP is the BGP lab (scripts/lab, xlblab up --bgp) with the real
// MariaDB master-master pair: a MySQL workload and a writer run through the
// router's ECMP route while a director dies (kill -9 and its link down: only
// BFD tells the router) and comes back rebooted (its pinned table gone: it
// asks the others for theirs before it announces). No client error, and
// every acknowledged commit is on both masters.
func TestLabBGP(t *testing.T) {
	requireBird(t)
	l := startLabWith(t, lab.Options{Scheduler: "rr", BGP: true}, "bgp")
	writer, err := l.StartWriter("ledger_bgp", 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	w, err := l.StartWorkload(60, 20, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	time.Sleep(time.Second)

	t.Run("every director carries traffic", func(t *testing.T) {
		before := map[string]uint64{}
		for _, d := range l.Directors() {
			before[d] = l.Forwarded(d)
		}
		time.Sleep(time.Second)
		for _, d := range l.Directors() {
			if l.Forwarded(d) == before[d] {
				t.Errorf("%s forwarded nothing of the workload's 60 connections", d)
			}
		}
	})
	t.Run("director killed, then back rebooted", func(t *testing.T) {
		before := w.Stats()
		if err := l.SetLink("lvs1", false); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		if err := l.SignalXlbd("lvs1", syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if err := l.WaitNexthops(2, 3*time.Second); err != nil {
			t.Fatal(err)
		}
		t.Logf("lvs1 killed, link down -> out of the router's ECMP route in %v (BFD 100 ms x 3)", time.Since(killed).Round(time.Millisecond))
		time.Sleep(2 * time.Second)
		if n := sum(w.Stats().Errors) - sum(before.Errors); n != 0 {
			t.Errorf("%d client errors after lvs1 died (first: %v)", n, w.Stats().FirstErr)
		}
		if err := l.SetLink("lvs1", true); err != nil {
			t.Fatal(err)
		}
		if err := l.Detach("lvs1"); err != nil {
			t.Fatal(err)
		}
		back := time.Now()
		if err := l.StartXlbd("lvs1"); err != nil {
			t.Fatal(err)
		}
		if err := l.WaitNexthops(3, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		t.Logf("lvs1 restarted with an empty table -> back in the ECMP route in %v", time.Since(back).Round(time.Millisecond))
		time.Sleep(2 * time.Second)
		if n := sum(w.Stats().Errors) - sum(before.Errors); n != 0 {
			t.Errorf("%d client errors across lvs1's death and return (first: %v)", n, w.Stats().FirstErr)
		}
	})
	t.Run("nothing lost", func(t *testing.T) { nothingLost(t, l, writer, "ledger_bgp") })
}
