package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"xlb/control/flowsync"
	"xlb/test/lab"
	"xlb/test/testutil"
)

// startLab brings up the lab with a prefix of its own and tears it down at
// the test's end, also when the test fails.
func startLab(t *testing.T, sched string) *lab.Lab {
	return startLabWith(t, lab.Options{Scheduler: sched}, sched)
}

// startLabWith is startLab with options; tag ends the prefix.
func startLabWith(t *testing.T, opts lab.Options, tag string) *lab.Lab {
	t.Helper()
	testutil.RequirePriv(t)
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("xlbt%d%s", os.Getpid()%100000, tag)
	t.Cleanup(func() {
		if t.Failed() {
			for _, role := range []string{"lvs1", "lvs2", "lvs3"} {
				if b, err := os.ReadFile(filepath.Join(os.TempDir(), prefix, role, "xlbd.log")); err == nil {
					t.Logf("%s xlbd log (tail):\n%s", role, lastLines(string(b), 40))
				}
			}
		}
		if err := lab.Down(prefix); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	opts.Prefix, opts.Repo, opts.BinDir = prefix, repo, binaries(t)
	l, err := lab.Up(opts)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	return l
}

// TestLabScenarios runs the lab's failure scenarios under a client workload
// and a writer, with both schedulers: rr (writes on both masters) and fo (one
// writer at a time).
func TestLabScenarios(t *testing.T) {
	for _, sched := range []string{"rr", "fo"} {
		t.Run(sched, func(t *testing.T) { labScenarios(t, sched) })
	}
}

func labScenarios(t *testing.T, sched string) {
	l := startLab(t, sched)

	vip4, vip6 := l.Env["LAB_VIP"], l.Env["LAB_VIP6"]
	if sched == "rr" {
		// Both services, IPv4 and IPv6, balance over the same pair.
		for name, vip := range map[string]string{"balance": vip4, "balance ipv6": vip6} {
			t.Run(name, func(t *testing.T) {
				got := newConnections(t, l, vip, 1000) // every query on a new connection: a new flow
				t.Logf("1000 connections to %s: %v", vip, got)
				for _, b := range []string{"db1", "db2"} {
					if got[b] < 450 || got[b] > 550 {
						t.Errorf("%s got %d of 1000 connections, want 500 +- 10%% (equal weights)", b, got[b])
					}
				}
			})
		}
		// db2 holds the IPv6 VIP on lo and db1 redirects it (scripts/lab/db.sh):
		// neither ever answered a neighbour solicitation for it.
		t.Run("ipv6 VIP resolves to the director", func(t *testing.T) {
			n := l.ClientNeighbourOf(vip6)
			if !strings.Contains(n, l.Hosts["lvs1"].MAC.String()) {
				t.Errorf("client's neighbour entry for %s: %q, want lvs1's MAC %s", vip6, n, l.Hosts["lvs1"].MAC)
			}
		})
	}

	out, err := l.Xlbctl("lvs1", "vrrp")
	if err != nil || !strings.Contains(out, "MASTER") || !strings.Contains(out, "192.168.1.20") {
		t.Fatalf("xlbctl vrrp on lvs1: %v\n%s", err, out)
	}
	if out, err := l.Xlbctl("lvs2", "vrrp"); err != nil || !strings.Contains(out, "BACKUP") {
		t.Fatalf("xlbctl vrrp on lvs2: %v\n%s", err, out)
	}

	writer, err := l.StartWriter("ledger_"+sched, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// A second ledger through the IPv6 VIP, through the same events: its
	// service has its own VRRP instance (VI_6) and backends of its own in
	// the tables, so its commits are at risk separately.
	writer6, err := l.StartWriterTo(vip6, "ledger6_"+sched, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	perBackend := 50
	if sched == "fo" {
		perBackend = 0 // fo sends every connection to one backend
	}
	w, err := l.StartWorkload(100, perBackend, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var w6 *lab.Workload // long-lived IPv6 connections on both backends (rr)
	if sched == "rr" {
		if w6, err = l.StartWorkloadTo(vip6, 40, 10, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		defer w6.Stop()
	}
	time.Sleep(time.Second)

	t.Run("backend failure", func(t *testing.T) {
		before := w.Stats()
		var before6 lab.Stats
		if w6 != nil {
			before6 = w6.Stats()
			t.Logf("connections before: %v; IPv6 %v", before.Conns, before6.Conns)
		}
		killed := time.Now()
		if err := l.DB("kill", "db1"); err != nil {
			t.Fatal(err)
		}
		vips := []string{vip4}
		if w6 != nil {
			vips = append(vips, vip6)
		}
		for _, vip := range vips {
			if _, err := untilNewConnectionsSucceed(l, vip, 10, 20*time.Second); err != nil {
				t.Fatal(err)
			}
			t.Logf("10 new connections in a row to %s succeeded by %s after db1 was killed", vip, time.Since(killed).Round(10*time.Millisecond))
		}
		time.Sleep(time.Second)
		after := w.Stats()
		if n := after.Errors["db2"] - before.Errors["db2"]; n != 0 {
			t.Errorf("%d errors on connections that were on db2 (first: %v)", n, after.FirstErr["db2"])
		}
		t.Logf("errors on db1's connections (expected: its server died): %d", after.Errors["db1"]-before.Errors["db1"])
		if w6 != nil {
			after6 := w6.Stats()
			if n := after6.Errors["db2"] - before6.Errors["db2"]; n != 0 {
				t.Errorf("%d errors on IPv6 connections that were on db2 (first: %v)", n, after6.FirstErr["db2"])
			}
			if before6.Conns["db2"] == 0 {
				t.Errorf("no IPv6 connection was on db2: the survivor's connections were not tested")
			}
			t.Logf("IPv6: errors on db1's connections %d, on db2's %d", after6.Errors["db1"]-before6.Errors["db1"], after6.Errors["db2"]-before6.Errors["db2"])
		}

		if err := l.DB("start", "db1"); err != nil {
			t.Fatal(err)
		}
		if err := l.WaitCaughtUp("db1", 30*time.Second); err != nil {
			t.Fatal(err)
		}
		for _, role := range []string{"lvs1", "lvs2"} {
			if err := l.WaitBackends(role, 2, 20*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("db1 back, caught up and active %s after it was killed", time.Since(killed).Round(100*time.Millisecond))
		if sched == "rr" {
			for _, vip := range vips {
				if n := newConnections(t, l, vip, 40)["db1"]; n == 0 {
					t.Errorf("db1 is back but no new connection to %s reached it", vip)
				}
			}
		}
	})

	t.Run("director failover", func(t *testing.T) {
		before := w.Stats()
		var before6 lab.Stats
		if w6 != nil {
			before6 = w6.Stats()
		}
		killed := time.Now()
		if err := l.SignalXlbd("lvs1", syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if err := l.WaitVIP("lvs2", 15*time.Second); err != nil {
			t.Fatal(err)
		}
		took := time.Since(killed)
		// The IPv6 VIP's instance (VRRPv3, the same priorities) moves too,
		// and its unsolicited neighbour advertisements move the client.
		if err := l.WaitVIPOf("lvs2", vip6, 15*time.Second); err != nil {
			t.Fatal(err)
		}
		t.Logf("lvs2 took the IPv6 VIP %s after lvs1's xlbd was killed", time.Since(killed).Round(10*time.Millisecond))
		t.Logf("lvs2 took the VIP %s after lvs1's xlbd was killed (3 x advert_int + skew = 3.6s)", took.Round(10*time.Millisecond))
		if took > 5*time.Second {
			t.Errorf("failover took %s, want <= 3.6s + slack", took)
		}
		// lvs1 keeps the VIP (nothing removed it) and its pinned program keeps
		// forwarding with the same tables: harmless, and gone at its restart.
		t.Logf("stale VIP still on lvs1 after SIGKILL: %v", l.HasVIP("lvs1"))
		// Gratuitous ARP moved the client's neighbour entry to lvs2, and
		// lvs2's XDP program now forwards the VIP's traffic.
		lvs2MAC := l.Hosts["lvs2"].MAC.String()
		testutil.WaitFor(t, "client's ARP entry for the VIP points at lvs2", 5*time.Second, func() bool {
			return strings.Contains(l.ClientNeighbour(), lvs2MAC)
		})
		if w6 != nil { // else the client has no entry for it to move
			testutil.WaitFor(t, "client's neighbour entry for the IPv6 VIP points at lvs2", 5*time.Second, func() bool {
				return strings.Contains(l.ClientNeighbourOf(vip6), lvs2MAC)
			})
		}
		fwdBefore := l.Forwarded("lvs2")
		time.Sleep(2 * time.Second)
		if fwd := l.Forwarded("lvs2"); fwd <= fwdBefore {
			t.Errorf("lvs2 forwarded nothing after taking over (%d -> %d packets)", fwdBefore, fwd)
		}
		// The stale VIP on lvs1 is harmless: a client that asks ARP afresh
		// may get lvs1's answer, and lvs1's pinned program still forwards.
		if err := l.FlushClientNeighbour(); err != nil {
			t.Fatal(err)
		}
		split := newConnections(t, l, vip4, 20)
		t.Logf("after a fresh ARP the client sends to %s; 20 new connections succeeded: %v", l.ClientNeighbour(), split)
		after := w.Stats()
		if n := sum(after.Errors) - sum(before.Errors); n != 0 {
			t.Errorf("%d client errors across the director failover (first: %v)", n, after.FirstErr)
		}
		if err := l.StartXlbd("lvs1"); err != nil {
			t.Fatal(err)
		}
		// lvs1 (priority 101) preempts lvs2 again once it is back.
		if err := l.WaitVIP("lvs1", 20*time.Second); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for l.HasVIP("lvs2") && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if l.HasVIP("lvs2") {
			t.Errorf("both directors hold the VIP after lvs1 came back")
		}
		if err := l.WaitVIPOf("lvs1", vip6, 20*time.Second); err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(t, "lvs2 gives the IPv6 VIP back", 10*time.Second, func() bool { return !l.HasVIPOf("lvs2", vip6) })
		if err := l.WaitBackends("lvs1", 2, 20*time.Second); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if n := sum(w.Stats().Errors) - sum(before.Errors); n != 0 {
			t.Errorf("%d client errors across the failover and lvs1's return", n)
		}
		if w6 != nil {
			if n := sum(w6.Stats().Errors) - sum(before6.Errors); n != 0 {
				t.Errorf("%d IPv6 client errors across the failover and lvs1's return (first: %v)", n, w6.Stats().FirstErr)
			}
		}
	})

	t.Run("daemon restart on the master", func(t *testing.T) {
		before := w.Stats()
		var before6 lab.Stats
		if w6 != nil {
			before6 = w6.Stats()
		}
		if err := l.SignalXlbd("lvs1", syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := l.StartXlbd("lvs1"); err != nil {
			t.Fatal(err)
		}
		if err := l.WaitVIP("lvs1", 20*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := l.WaitBackends("lvs1", 2, 20*time.Second); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		if n := sum(w.Stats().Errors) - sum(before.Errors); n != 0 {
			t.Errorf("%d client errors across the restart (first: %v)", n, w.Stats().FirstErr)
		}
		if w6 != nil {
			if n := sum(w6.Stats().Errors) - sum(before6.Errors); n != 0 {
				t.Errorf("%d IPv6 client errors across the restart (first: %v)", n, w6.Stats().FirstErr)
			}
		}
	})

	// Flow sync ran authenticated the whole time: lvs2 applied lvs1's flows,
	// lvs1 asked for the table at each start and lvs2 sent it, and neither
	// refused a datagram of the other.
	t.Run("flow sync", func(t *testing.T) {
		st := map[string]flowsync.Status{}
		for _, role := range []string{"lvs1", "lvs2"} {
			out, err := l.Xlbctl(role, "--json", "flowsync")
			var s []flowsync.Status
			if err != nil || json.Unmarshal([]byte(out), &s) != nil || len(s) != 1 {
				t.Fatalf("xlbctl flowsync on %s: %v\n%s", role, err, out)
			}
			st[role] = s[0]
			t.Logf("%s: sent %d, applied %d, synced %v, dumps sent %d, dropped %v", role, s[0].Sent, s[0].Applied, s[0].Synced, s[0].BulkDumps, s[0].Dropped)
			for _, r := range []string{flowsync.ReasonAuth, flowsync.ReasonReplay, flowsync.ReasonStale, flowsync.ReasonTTL,
				flowsync.ReasonNotPeer, flowsync.ReasonMalformed, flowsync.ReasonSender, flowsync.ReasonRate} {
				if n := s[0].Dropped[r]; n != 0 {
					t.Errorf("%s refused %d datagrams of its peer: %s", role, n, r)
				}
			}
		}
		if st["lvs2"].Applied == 0 {
			t.Errorf("lvs2 applied no flow of lvs1's")
		}
		if !st["lvs1"].Synced || st["lvs1"].BulkRequests == 0 || st["lvs2"].BulkDumps == 0 {
			t.Errorf("lvs1's restart: synced %v after %d requests, lvs2 sent %d dumps", st["lvs1"].Synced, st["lvs1"].BulkRequests, st["lvs2"].BulkDumps)
		}
	})

	t.Run("nothing lost", func(t *testing.T) { nothingLost(t, l, writer, "ledger_"+sched) })
	t.Run("nothing lost ipv6", func(t *testing.T) { nothingLost(t, l, writer6, "ledger6_"+sched) })
}

// nothingLost stops the writer and checks that every commit it had
// acknowledged is on both masters, and that their tables are identical.
func nothingLost(t *testing.T, l *lab.Lab, writer *lab.Writer, table string) {
	acked, failed := writer.Stop()
	t.Logf("writer to %s: %d commits acknowledged, %d failed (failed ones may or may not exist)", table, len(acked), failed)
	if len(acked) < 100 {
		t.Fatalf("only %d commits acknowledged: the writer did not run", len(acked))
	}
	for _, role := range []string{"db1", "db2"} {
		if err := l.WaitCaughtUp(role, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	var sums []string
	for _, role := range []string{"db1", "db2"} {
		missing, sum, err := l.Ledger(role, table, acked)
		if err != nil {
			t.Fatal(err)
		}
		if len(missing) > 0 {
			t.Errorf("%s lacks %d acknowledged rows, e.g. %v", role, len(missing), missing[:min(10, len(missing))])
		}
		sums = append(sums, sum)
	}
	if sums[0] != sums[1] {
		t.Errorf("tables differ: checksum %s on db1, %s on db2", sums[0], sums[1])
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// untilNewConnectionsSucceed opens a new connection to vip every 100ms until n in a
// row succeed, and returns how long that took from the first attempt.
func untilNewConnectionsSucceed(l *lab.Lab, vip string, n int, timeout time.Duration) (time.Duration, error) {
	db, err := l.OpenDBTo(vip, "")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxIdleConns(0)
	start := time.Now()
	var firstOK time.Time
	streak := 0
	for time.Since(start) < timeout {
		var id int
		if err := db.QueryRow("SELECT @@server_id").Scan(&id); err != nil {
			streak, firstOK = 0, time.Time{}
		} else {
			if streak == 0 {
				firstOK = time.Now()
			}
			if streak++; streak == n {
				return firstOK.Sub(start), nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return 0, fmt.Errorf("new connections still failing %s after the backend died", timeout)
}

// newConnections opens n short connections through vip (each must
// succeed) and counts them by backend.
func newConnections(t *testing.T, l *lab.Lab, vip string, n int) map[string]int {
	t.Helper()
	db, err := l.OpenDBTo(vip, "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxIdleConns(0)
	split := map[string]int{}
	for i := 0; i < n; i++ {
		var id int
		if err := db.QueryRow("SELECT @@server_id").Scan(&id); err != nil {
			t.Fatalf("new connection %d: %v", i, err)
		}
		split[lab.BackendName(id)]++
	}
	return split
}
