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

// demo builds the lab, starts a workload through the VIP and a writer, runs
// the lab's scenario (demoVRRP or demoBGP) while a line a second shows the
// traffic, and prints what it measured.
func demo(c *cli.Context) (err error) {
	opts := options(c)
	what, conns, scenario := "the lab (the keepalived + LVS-DR setup, rebuilt with xlb)", 20, demoVRRP
	if opts.BGP {
		what, conns, scenario = "the BGP lab: a bird2 router (ECMP, L4 hash, BFD) with the client behind it, three xlbd directors announcing the VIP, MariaDB master-master", 30, demoBGP
	}
	step("building %s", what)
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

	step("starting the workload: %d connections through the VIP (10 on each master at least), one query every 100 ms each, and a writer committing numbered rows", conns)
	w, err := l.StartWorkload(conns, 10, 100*time.Millisecond)
	if err != nil {
		return err
	}
	defer w.Stop()
	writer, err := l.StartWriter("demo_ledger", 50*time.Millisecond)
	if err != nil {
		return err
	}
	rows, err := scenario(l, w, writer, newMonitor(l, w))
	if err != nil {
		return err
	}
	summary(rows)
	return nil
}

// demoVRRP walks through the failures keepalived users fear.
func demoVRRP(l *lab.Lab, w *lab.Workload, writer *lab.Writer, mon *monitor) ([][2]string, error) {
	mon.watch(3 * time.Second)
	var rows [][2]string
	step("killing db1's mariadbd (kill -9): its connections break; new ones must go to db2 once the MySQL check takes db1 out")
	before := w.Stats()
	killed := time.Now()
	if err := l.DB("kill", "db1"); err != nil {
		return nil, err
	}
	took := mon.until(15*time.Second, func() bool { return l.ActiveBackends("lvs1") == 1 })
	rows = append(rows, [2]string{"db1 killed -> taken out of the table by the MySQL check", took.String()})
	mon.watch(3 * time.Second)
	after := w.Stats()
	rows = append(rows, [2]string{"client errors on db2's connections while db1 died", fmt.Sprint(after.Errors["db2"] - before.Errors["db2"])})
	rows = append(rows, [2]string{"client errors on db1's connections (its server died)", fmt.Sprint(after.Errors["db1"] - before.Errors["db1"])})

	step("restarting db1: it catches up on what db2 took meanwhile, passes its check and takes new connections again")
	if err := l.DB("start", "db1"); err != nil {
		return nil, err
	}
	if err := l.WaitCaughtUp("db1", 30*time.Second); err != nil {
		return nil, err
	}
	mon.until(20*time.Second, func() bool { return l.ActiveBackends("lvs1") == 2 })
	rows = append(rows, [2]string{"db1 killed -> back, caught up and active", time.Since(killed).Round(100 * time.Millisecond).String()})
	split, err := newConnections(l, 40)
	if err != nil {
		return nil, err
	}
	fmt.Printf("    40 new connections: %v (the workload's connections stay where they are)\n", split)
	rows = append(rows, [2]string{"new connections after db1's return (db1 / db2)", fmt.Sprintf("%d / %d", split["db1"], split["db2"])})
	mon.watch(2 * time.Second)

	step("killing lvs1's xlbd (kill -9, as a crash): lvs2 must take the VIP by VRRP, announce it with gratuitous ARP, and carry on every connection")
	before = w.Stats()
	if err := l.SignalXlbd("lvs1", syscall.SIGKILL); err != nil {
		return nil, err
	}
	took = mon.until(15*time.Second, func() bool { return l.HasVIP("lvs2") })
	rows = append(rows, [2]string{"lvs1 xlbd killed -> lvs2 holds the VIP (3 x advert_int + skew = 3.6 s)", took.String()})
	mon.watch(3 * time.Second)
	rows = append(rows, [2]string{"client errors across the director failover", fmt.Sprint(total(w.Stats().Errors) - total(before.Errors))})

	step("restoring lvs1: xlbd restarts, adopts its pinned data plane and, with the higher priority, takes the VIP back")
	before = w.Stats()
	if err := l.StartXlbd("lvs1"); err != nil {
		return nil, err
	}
	took = mon.until(20*time.Second, func() bool { return l.HasVIP("lvs1") && !l.HasVIP("lvs2") })
	rows = append(rows, [2]string{"lvs1 restarted -> master again", took.String()})
	mon.watch(2 * time.Second)
	rows = append(rows, [2]string{"client errors across lvs1's return", fmt.Sprint(total(w.Stats().Errors) - total(before.Errors))})

	lost, err := nothingLost(l, writer, "commits that failed (connection on the killed db1)")
	return append(rows, lost...), err
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

// nothingLost stops the writer and reports whether every acknowledged
// commit is on both masters, and the tables' checksums.
func nothingLost(l *lab.Lab, writer *lab.Writer, failedWhy string) ([][2]string, error) {
	step("checking that nothing was lost: every acknowledged commit must be on both masters, and the tables identical")
	acked, failed := writer.Stop()
	for _, role := range []string{"db1", "db2"} {
		if err := l.WaitCaughtUp(role, 30*time.Second); err != nil {
			return nil, err
		}
	}
	var rows [][2]string
	var sums []string
	for _, role := range []string{"db1", "db2"} {
		out, err := l.SQL(role, "SELECT COUNT(*) FROM mydatabase.demo_ledger WHERE n IN ("+joinInts(acked)+")")
		if err != nil {
			return nil, err
		}
		rows = append(rows, [2]string{fmt.Sprintf("acknowledged commits present on %s", role), fmt.Sprintf("%s of %d", out, len(acked))})
		cs, err := l.SQL(role, "CHECKSUM TABLE mydatabase.demo_ledger EXTENDED")
		if err != nil {
			return nil, err
		}
		sums = append(sums, strings.Fields(cs)[1])
	}
	rows = append(rows, [2]string{failedWhy, fmt.Sprint(failed)})
	rows = append(rows, [2]string{"table checksums db1 / db2", sums[0] + " / " + sums[1]})
	return rows, nil
}

func summary(rows [][2]string) {
	step("summary")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WHAT\tMEASURED")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", r[0], r[1])
	}
	tw.Flush()
}

// monitor prints a progress line a second: connections and queries per
// second by backend, errors, and who holds the VIP.
type monitor struct {
	l    *lab.Lab
	w    *lab.Workload
	last lab.Stats
	at   time.Time
}

func newMonitor(l *lab.Lab, w *lab.Workload) *monitor {
	return &monitor{l: l, w: w, last: w.Stats(), at: time.Now()}
}

// where says who carries the VIP: the VRRP master, or the directors of the
// router's ECMP route.
func (m *monitor) where() string {
	if m.l.BGP() {
		return "ECMP via " + strings.Join(m.l.Nexthops(), " ")
	}
	vip := "nobody"
	for _, d := range m.l.Directors() {
		if m.l.HasVIP(d) {
			vip = d
		}
	}
	return "VIP on " + vip
}

func (m *monitor) line() {
	s := m.w.Stats()
	secs := time.Since(m.at).Seconds()
	var parts []string
	for _, b := range []string{"db1", "db2"} {
		qps := float64(s.Queries[b]-m.last.Queries[b]) / secs
		parts = append(parts, fmt.Sprintf("%s: %2d conns %5.0f q/s", b, s.Conns[b], qps))
	}
	fmt.Printf("    %s | %s | errors %d | %s\n", time.Now().Format("15:04:05"), strings.Join(parts, " | "), total(s.Errors), m.where())
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
