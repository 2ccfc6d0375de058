package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"xlb/test/lab"
)

// demo walks through the failures keepalived users fear, with a workload
// running through the VIP the whole time, and prints what it measured.
func demo(c *cli.Context) (err error) {
	opts := options(c)
	step := func(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }
	step("building the lab (the keepalived + LVS-DR setup, rebuilt with xlb)")
	l, err := lab.Up(opts)
	if err != nil {
		return err
	}
	defer func() {
		step("tearing the lab down")
		if derr := lab.Down(opts.Prefix); derr != nil && err == nil {
			err = derr
		}
	}()

	step("starting the workload: 20 connections through the VIP (10 on each master), one query every 100 ms each, and a writer committing numbered rows")
	w, err := l.StartWorkload(20, 10, 100*time.Millisecond)
	if err != nil {
		return err
	}
	defer w.Stop()
	writer, err := l.StartWriter("demo_ledger", 50*time.Millisecond)
	if err != nil {
		return err
	}
	mon := &monitor{l: l, w: w, last: w.Stats(), at: time.Now()}
	mon.watch(3 * time.Second)

	var rows [][2]string
	step("killing db1's mariadbd (kill -9): its connections break; new ones must go to db2 once the MySQL check takes db1 out")
	before := w.Stats()
	killed := time.Now()
	if err := l.DB("kill", "db1"); err != nil {
		return err
	}
	took := mon.until(15*time.Second, func() bool { return l.ActiveBackends("lvs1") == 1 })
	rows = append(rows, [2]string{"db1 killed -> taken out of the table by the MySQL check", took.String()})
	mon.watch(3 * time.Second)
	after := w.Stats()
	rows = append(rows, [2]string{"client errors on db2's connections while db1 died", fmt.Sprint(after.Errors["db2"] - before.Errors["db2"])})
	rows = append(rows, [2]string{"client errors on db1's connections (its server died)", fmt.Sprint(after.Errors["db1"] - before.Errors["db1"])})

	step("restarting db1: it catches up on what db2 took meanwhile, passes its check and takes new connections again")
	if err := l.DB("start", "db1"); err != nil {
		return err
	}
	if err := l.WaitCaughtUp("db1", 30*time.Second); err != nil {
		return err
	}
	mon.until(20*time.Second, func() bool { return l.ActiveBackends("lvs1") == 2 })
	rows = append(rows, [2]string{"db1 killed -> back, caught up and active", time.Since(killed).Round(100 * time.Millisecond).String()})
	split, err := newConnections(l, 40)
	if err != nil {
		return err
	}
	fmt.Printf("    40 new connections: %v (the workload's connections stay where they are)\n", split)
	rows = append(rows, [2]string{"new connections after db1's return (db1 / db2)", fmt.Sprintf("%d / %d", split["db1"], split["db2"])})
	mon.watch(2 * time.Second)

	step("killing lvs1's xlbd (kill -9, as a crash): lvs2 must take the VIP by VRRP, announce it with gratuitous ARP, and carry on every connection")
	before = w.Stats()
	if err := l.SignalXlbd("lvs1", syscall.SIGKILL); err != nil {
		return err
	}
	took = mon.until(15*time.Second, func() bool { return l.HasVIP("lvs2") })
	rows = append(rows, [2]string{"lvs1 xlbd killed -> lvs2 holds the VIP (3 x advert_int + skew = 3.6 s)", took.String()})
	mon.watch(3 * time.Second)
	rows = append(rows, [2]string{"client errors across the director failover", fmt.Sprint(total(w.Stats().Errors) - total(before.Errors))})

	step("restoring lvs1: xlbd restarts, adopts its pinned data plane and, with the higher priority, takes the VIP back")
	before = w.Stats()
	if err := l.StartXlbd("lvs1"); err != nil {
		return err
	}
	took = mon.until(20*time.Second, func() bool { return l.HasVIP("lvs1") && !l.HasVIP("lvs2") })
	rows = append(rows, [2]string{"lvs1 restarted -> master again", took.String()})
	mon.watch(2 * time.Second)
	rows = append(rows, [2]string{"client errors across lvs1's return", fmt.Sprint(total(w.Stats().Errors) - total(before.Errors))})

	step("checking that nothing was lost: every acknowledged commit must be on both masters, and the tables identical")
	acked, failed := writer.Stop()
	for _, role := range []string{"db1", "db2"} {
		if err := l.WaitCaughtUp(role, 30*time.Second); err != nil {
			return err
		}
	}
	var sums []string
	for _, role := range []string{"db1", "db2"} {
		out, err := l.SQL(role, "SELECT COUNT(*) FROM mydatabase.demo_ledger WHERE n IN ("+joinInts(acked)+")")
		if err != nil {
			return err
		}
		rows = append(rows, [2]string{fmt.Sprintf("acknowledged commits present on %s", role), fmt.Sprintf("%s of %d", out, len(acked))})
		cs, err := l.SQL(role, "CHECKSUM TABLE mydatabase.demo_ledger EXTENDED")
		if err != nil {
			return err
		}
		sums = append(sums, strings.Fields(cs)[1])
	}
	rows = append(rows, [2]string{"commits that failed (connection on the killed db1)", fmt.Sprint(failed)})
	rows = append(rows, [2]string{"table checksums db1 / db2", sums[0] + " / " + sums[1]})

	step("summary")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WHAT\tMEASURED")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", r[0], r[1])
	}
	tw.Flush()
	return nil
}

// monitor prints a progress line a second: connections and queries per
// second by backend, errors, and who holds the VIP.
type monitor struct {
	l    *lab.Lab
	w    *lab.Workload
	last lab.Stats
	at   time.Time
}

func (m *monitor) line() {
	s := m.w.Stats()
	secs := time.Since(m.at).Seconds()
	var parts []string
	for _, b := range []string{"db1", "db2"} {
		qps := float64(s.Queries[b]-m.last.Queries[b]) / secs
		parts = append(parts, fmt.Sprintf("%s: %2d conns %5.0f q/s", b, s.Conns[b], qps))
	}
	vip := "nobody"
	for _, d := range []string{"lvs1", "lvs2"} {
		if m.l.HasVIP(d) {
			vip = d
		}
	}
	fmt.Printf("    %s | %s | errors %d | VIP on %s\n", time.Now().Format("15:04:05"), strings.Join(parts, " | "), total(s.Errors), vip)
	m.last, m.at = s, time.Now()
}

func (m *monitor) watch(d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		time.Sleep(time.Second)
		m.line()
	}
}

// until prints progress until cond holds and returns how long it took.
func (m *monitor) until(timeout time.Duration, cond func() bool) time.Duration {
	start := time.Now()
	next := start.Add(time.Second)
	for !cond() {
		if time.Since(start) > timeout {
			fmt.Printf("    (not within %s)\n", timeout)
			return timeout
		}
		time.Sleep(50 * time.Millisecond)
		if time.Now().After(next) {
			m.line()
			next = next.Add(time.Second)
		}
	}
	return time.Since(start).Round(10 * time.Millisecond)
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func joinInts(v []int64) string {
	if len(v) == 0 {
		return "NULL"
	}
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}

// newConnections opens n short connections through the VIP and counts where
// they landed.
func newConnections(l *lab.Lab, n int) (map[string]int, error) {
	db, err := l.OpenDB("")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxIdleConns(0)
	out := map[string]int{}
	for i := 0; i < n; i++ {
		var id int
		if err := db.QueryRow("SELECT @@server_id").Scan(&id); err != nil {
			return nil, fmt.Errorf("new connection through the VIP: %w", err)
		}
		out[lab.BackendName(id)]++
	}
	return out, nil
}
