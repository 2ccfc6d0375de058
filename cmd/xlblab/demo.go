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

// family is the traffic of one address family, through its VIP: the
// workload's long-lived connections and a writer committing to a ledger.
type family struct {
	name   string // IPv4, IPv6: a column of the summary
	vip    string
	w      *lab.Workload
	writer *lab.Writer
	table  string
}

// row is a line of the summary: what was measured, one value per family.
type row struct {
	what string
	vals []string
}

// one is a row of a single value (the BGP lab has one family).
func one(what, val string) row { return row{what: what, vals: []string{val}} }

// each is a row with fn's value for each family.
func each(fams []*family, what string, fn func(*family) string) row {
	r := row{what: what}
	for _, f := range fams {
		r.vals = append(r.vals, fn(f))
	}
	return r
}

// demo builds the lab, starts a workload and a writer through each VIP
// (IPv4 and, in the VRRP lab, IPv6), runs the lab's scenario (demoVRRP or
// demoBGP) while a line a second shows the traffic, and prints what it
// measured.
func demo(c *cli.Context) (err error) {
	opts := options(c)
	what, conns, scenario := "the lab (the keepalived + LVS-DR setup, rebuilt with xlb, dual-stack)", 20, demoVRRP
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

	fams := []*family{{name: "IPv4", vip: l.Env["LAB_VIP"], table: "demo_ledger"}}
	if !opts.BGP { // the BGP lab's client is IPv4 only
		fams = append(fams, &family{name: "IPv6", vip: l.Env["LAB_VIP6"], table: "demo_ledger6"})
	}
	var vips []string
	for _, f := range fams {
		vips = append(vips, f.vip)
	}
	step("starting the workload through the VIP %s: %d connections each (10 on each master at least), one query every 100 ms each, and a writer each committing numbered rows",
		strings.Join(vips, " and the VIP "), conns)
	for _, f := range fams {
		if f.w, err = l.StartWorkloadTo(f.vip, conns, 10, 100*time.Millisecond); err != nil {
			return err
		}
		defer f.w.Stop()
		if f.writer, err = l.StartWriterTo(f.vip, f.table, 50*time.Millisecond); err != nil {
			return err
		}
	}
	rows, err := scenario(l, fams, newMonitor(l, fams))
	if err != nil {
		return err
	}
	summary(fams, rows)
	return nil
}

// demoVRRP walks through the failures keepalived users fear, for both VIPs
// at once: each family's figures are measured on its own traffic.
func demoVRRP(l *lab.Lab, fams []*family, mon *monitor) ([]row, error) {
	mon.watch(3 * time.Second)
	var rows []row
	step("killing db1's mariadbd (kill -9): its connections break; new ones must go to db2 once the MySQL check takes db1 out of each service")
	before := stats(fams)
	killed := time.Now()
	if err := l.DB("kill", "db1"); err != nil {
		return nil, err
	}
	took := mon.untilEach(15*time.Second, fams, func(f *family) bool { return l.ActiveBackendsOf("lvs1", f.vip) == 1 })
	rows = append(rows, each(fams, "db1 killed -> taken out of the table by the MySQL check", func(f *family) string { return took[f].String() }))
	mon.watch(3 * time.Second)
	after := stats(fams)
	rows = append(rows, each(fams, "client errors on db2's connections while db1 died", func(f *family) string {
		return fmt.Sprint(after[f].Errors["db2"] - before[f].Errors["db2"])
	}))
	rows = append(rows, each(fams, "client errors on db1's connections (its server died)", func(f *family) string {
		return fmt.Sprint(after[f].Errors["db1"] - before[f].Errors["db1"])
	}))

	step("restarting db1: it catches up on what db2 took meanwhile, passes its checks and takes new connections again")
	if err := l.DB("start", "db1"); err != nil {
		return nil, err
	}
	if err := l.WaitCaughtUp("db1", 30*time.Second); err != nil {
		return nil, err
	}
	caughtUp := time.Since(killed)
	took = mon.untilEach(20*time.Second, fams, func(f *family) bool { return l.ActiveBackendsOf("lvs1", f.vip) == 2 })
	rows = append(rows, each(fams, "db1 killed -> back, caught up and active", func(f *family) string {
		return (caughtUp + took[f]).Round(100 * time.Millisecond).String()
	}))
	split := map[*family]map[string]int{}
	for _, f := range fams {
		s, err := newConnections(l, f.vip, 40)
		if err != nil {
			return nil, err
		}
		split[f] = s
		fmt.Printf("    40 new connections to %s: %v (the workload's connections stay where they are)\n", f.vip, s)
	}
	rows = append(rows, each(fams, "new connections after db1's return (db1 / db2)", func(f *family) string {
		return fmt.Sprintf("%d / %d", split[f]["db1"], split[f]["db2"])
	}))
	mon.watch(2 * time.Second)

	step("killing lvs1's xlbd (kill -9, as a crash): lvs2 must take both VIPs by VRRP (VI_1, VI_6), announce them (gratuitous ARP, unsolicited neighbour advertisements), and carry on every connection")
	before = stats(fams)
	if err := l.SignalXlbd("lvs1", syscall.SIGKILL); err != nil {
		return nil, err
	}
	took = mon.untilEach(15*time.Second, fams, func(f *family) bool { return l.HasVIPOf("lvs2", f.vip) })
	rows = append(rows, each(fams, "lvs1 xlbd killed -> lvs2 holds the VIP (bound: 3 x advert_int + skew = 3.6 s)", func(f *family) string { return took[f].String() }))
	mon.watch(3 * time.Second)
	after = stats(fams)
	rows = append(rows, each(fams, "client errors across the director failover", func(f *family) string {
		return fmt.Sprint(total(after[f].Errors) - total(before[f].Errors))
	}))

	step("restoring lvs1: xlbd restarts, adopts its pinned data plane and, with the higher priority, takes both VIPs back")
	before = stats(fams)
	if err := l.StartXlbd("lvs1"); err != nil {
		return nil, err
	}
	took = mon.untilEach(20*time.Second, fams, func(f *family) bool { return l.HasVIPOf("lvs1", f.vip) && !l.HasVIPOf("lvs2", f.vip) })
	rows = append(rows, each(fams, "lvs1 restarted -> master again", func(f *family) string { return took[f].String() }))
	mon.watch(2 * time.Second)
	after = stats(fams)
	rows = append(rows, each(fams, "client errors across lvs1's return", func(f *family) string {
		return fmt.Sprint(total(after[f].Errors) - total(before[f].Errors))
	}))

	lost, err := nothingLost(l, fams, "commits that failed (connection on the killed db1)")
	return append(rows, lost...), err
}

// stats snapshots each family's workload.
func stats(fams []*family) map[*family]lab.Stats {
	m := map[*family]lab.Stats{}
	for _, f := range fams {
		m[f] = f.w.Stats()
	}
	return m
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

// nothingLost stops the writers and reports, for each, whether every
// acknowledged commit is on both masters, and the tables' checksums.
func nothingLost(l *lab.Lab, fams []*family, failedWhy string) ([]row, error) {
	step("checking that nothing was lost: every acknowledged commit must be on both masters, and the tables identical")
	acked, failed := map[*family][]int64{}, map[*family]int{}
	for _, f := range fams {
		acked[f], failed[f] = f.writer.Stop()
	}
	for _, role := range []string{"db1", "db2"} {
		if err := l.WaitCaughtUp(role, 30*time.Second); err != nil {
			return nil, err
		}
	}
	present := map[string]map[*family]string{"db1": {}, "db2": {}}
	sums := map[*family][]string{}
	for _, f := range fams {
		for _, role := range []string{"db1", "db2"} {
			missing, sum, err := l.Ledger(role, f.table, acked[f])
			if err != nil {
				return nil, err
			}
			present[role][f] = fmt.Sprintf("%d of %d", len(acked[f])-len(missing), len(acked[f]))
			sums[f] = append(sums[f], sum)
		}
	}
	var rows []row
	for _, role := range []string{"db1", "db2"} {
		rows = append(rows, each(fams, "acknowledged commits present on "+role, func(f *family) string { return present[role][f] }))
	}
	rows = append(rows, each(fams, failedWhy, func(f *family) string { return fmt.Sprint(failed[f]) }))
	rows = append(rows, each(fams, "table checksums db1 / db2", func(f *family) string { return strings.Join(sums[f], " / ") }))
	return rows, nil
}

// summary prints the rows as a table, a column per family.
func summary(fams []*family, rows []row) {
	step("summary")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "WHAT")
	for _, f := range fams {
		fmt.Fprint(tw, "\t"+f.name)
	}
	fmt.Fprintln(tw)
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", r.what, strings.Join(r.vals, "\t"))
	}
	tw.Flush()
}

// monitor prints a progress line a second: for each family, connections
// and queries per second by backend and errors; and who holds the VIPs.
type monitor struct {
	l    *lab.Lab
	fams []*family
	last map[*family]lab.Stats
	at   time.Time
}

func newMonitor(l *lab.Lab, fams []*family) *monitor {
	return &monitor{l: l, fams: fams, last: stats(fams), at: time.Now()}
}

// where says who carries the VIPs: the VRRP master of each, or the
// directors of the router's ECMP route.
func (m *monitor) where() string {
	if m.l.BGP() {
		return "ECMP via " + strings.Join(m.l.Nexthops(), " ")
	}
	var parts []string
	for _, f := range m.fams {
		holder := "nobody"
		for _, d := range m.l.Directors() {
			if m.l.HasVIPOf(d, f.vip) {
				holder = d
			}
		}
		parts = append(parts, holder)
	}
	return "VIPs on " + strings.Join(parts, " / ")
}

func (m *monitor) line() {
	now := stats(m.fams)
	secs := time.Since(m.at).Seconds()
	var parts []string
	for _, f := range m.fams {
		s := now[f]
		p := f.name
		for _, b := range []string{"db1", "db2"} {
			qps := float64(s.Queries[b]-m.last[f].Queries[b]) / secs
			p += fmt.Sprintf(" %s %2d conns %4.0f q/s", b, s.Conns[b], qps)
		}
		parts = append(parts, p+fmt.Sprintf(" %d errors", total(s.Errors)))
	}
	fmt.Printf("    %s | %s | %s\n", time.Now().Format("15:04:05"), strings.Join(parts, " | "), m.where())
	m.last, m.at = now, time.Now()
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
	one := &family{}
	return m.untilEach(timeout, []*family{one}, func(*family) bool { return cond() })[one]
}

// untilEach prints progress until cond holds for every family and returns
// how long it took for each (timeout for one it never held for).
func (m *monitor) untilEach(timeout time.Duration, fams []*family, cond func(*family) bool) map[*family]time.Duration {
	start := time.Now()
	next := start.Add(time.Second)
	took := map[*family]time.Duration{}
	for {
		for _, f := range fams {
			if _, ok := took[f]; !ok && cond(f) {
				took[f] = time.Since(start).Round(10 * time.Millisecond)
			}
		}
		if len(took) == len(fams) {
			return took
		}
		if time.Since(start) > timeout {
			fmt.Printf("    (not within %s)\n", timeout)
			for _, f := range fams {
				if _, ok := took[f]; !ok {
					took[f] = timeout
				}
			}
			return took
		}
		time.Sleep(50 * time.Millisecond)
		if time.Now().After(next) {
			m.line()
			next = next.Add(time.Second)
		}
	}
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// newConnections opens n short connections through vip and counts where
// they landed.
func newConnections(l *lab.Lab, vip string, n int) (map[string]int, error) {
	db, err := l.OpenDBTo(vip, "")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxIdleConns(0)
	out := map[string]int{}
	for i := 0; i < n; i++ {
		var id int
		if err := db.QueryRow("SELECT @@server_id").Scan(&id); err != nil {
			return nil, fmt.Errorf("new connection through the VIP %s: %w", vip, err)
		}
		out[lab.BackendName(id)]++
	}
	return out, nil
}
