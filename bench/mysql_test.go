package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"xlb/control"
	"xlb/lb"
	"xlb/loader"
	"xlb/test/mariadb"
	"xlb/test/testutil"
)

var sqlVIP = netip.MustParseAddr("10.78.0.100")

// fwdVIP is the address the baseline forwarder carries: a second VIP of the
// backend, so the client reaches it through traffic_fwd as it reaches
// sqlVIP through xlb.
var fwdVIP = netip.MustParseAddr("10.78.0.101")

// envInt reads a tuning knob of the lab benchmarks (set by `make bench`).
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// sqlLab is a client, a director, a baseline forwarder and one MariaDB
// backend on one segment. The director runs xlb natively on eth0 (VIP:3306,
// fo scheduler, the backend) and HAProxy in mode tcp on its own address; the
// forwarder runs traffic_fwd natively on its eth0 (every frame to its MAC
// goes to the backend: the same extra hop with none of xlb's work); the
// backend holds both VIPs on lo.
type sqlLab struct {
	client, director, fwd, backend *testutil.Host
	targets                        map[string]string // name -> host:port sysbench connects to
}

func newSQLLab(b *testing.B) *sqlLab {
	b.Helper()
	testutil.RequirePriv(b)
	for _, bin := range []string{"sysbench", "haproxy", "mariadbd"} {
		if _, err := execLookPath(bin); err != nil {
			b.Fatalf("%s not installed (make deps): %v", bin, err)
		}
	}
	seg := testutil.NewSegment(b, "sql")
	l := &sqlLab{
		client:   seg.AddHost(b, "sqlc", "10.78.0.1/24"),
		director: seg.AddHost(b, "sqld", "10.78.0.2/24"),
		fwd:      seg.AddHost(b, "sqlf", "10.78.0.3/24"),
		backend:  seg.AddHost(b, "sqlb", "10.78.0.11/24"),
	}
	// Both forwarders send by XDP_TX, which a veth drops unless its peer
	// runs XDP too.
	seg.AttachPassToPort(b, l.director)
	seg.AttachPassToPort(b, l.fwd)
	l.backend.AcceptVIPOnLoopback(b, sqlVIP)
	l.backend.AcceptVIPOnLoopback(b, fwdVIP)
	// The VRRP master would answer ARP for the VIP; here the client is told.
	l.client.MustRun(b, "ip", "neigh", "replace", sqlVIP.String(), "lladdr", l.director.MAC.String(), "dev", "eth0", "nud", "permanent")
	l.client.MustRun(b, "ip", "neigh", "replace", fwdVIP.String(), "lladdr", l.fwd.MAC.String(), "dev", "eth0", "nud", "permanent")
	l.startFwd(b)

	// The test helper's tiny InnoDB sizes (for fast tests) would make the
	// benchmark measure checkpoint stalls, and a commit's fsync would make it
	// measure the shared disk: neither is what differs between the paths.
	db := mariadb.Start(b, mariadb.Options{NetNS: l.backend.Name, Host: "0.0.0.0", Port: 3306,
		Config: []string{"max_connections=500", "innodb_buffer_pool_size=256M", "innodb_log_file_size=256M",
			"innodb_flush_log_at_trx_commit=2", "sync_binlog=0"}})
	db.MustExec(b, "CREATE DATABASE sbtest")
	db.CreateUser(b, "sbtest", "sbpass", "ALL")

	root := filepath.Join(testutil.BPFFS, fmt.Sprintf("xlbbench%d", os.Getpid()))
	var dp *loader.Dataplane
	err := l.director.Do(func() error {
		var err error
		dp, err = loader.Open("eth0", loader.Options{PinRoot: root, MaxFlows: 65536})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		dp.Detach()
		os.Remove(root)
	})
	r := control.New(dp, slog.New(slog.DiscardHandler))
	key := loader.ServiceKey{VIP: sqlVIP, Port: 3306, Proto: lb.TCP}
	r.SetMAC(l.backend.Addr.Addr(), l.backend.MAC)
	r.SetHealth(key, l.backend.Addr.Addr(), control.Health{Up: true, Reason: "benchmark"})
	r.SetDesired([]control.ServiceSpec{{
		Key:       key,
		Balancing: lb.Failover,
		Backends:  []control.BackendSpec{{IP: l.backend.Addr.Addr(), Weight: 1}},
	}})
	if err := r.Apply(); err != nil {
		b.Fatal(err)
	}

	l.startHAProxy(b)
	l.targets = map[string]string{
		"xlb":     net.JoinHostPort(sqlVIP.String(), "3306"),
		"fwd":     net.JoinHostPort(fwdVIP.String(), "3306"),
		"direct":  net.JoinHostPort(l.backend.Addr.Addr().String(), "3306"),
		"haproxy": net.JoinHostPort(l.director.Addr.Addr().String(), "3306"),
	}
	for name, addr := range l.targets {
		l.waitTCP(b, name, addr)
	}
	l.sysbench(b, "oltp_read_write", l.targets["direct"], 4, 0, "prepare")
	return l
}

// startFwd attaches traffic_fwd (bench/bpf/traffic.c, the veth benchmark's
// baseline) to the forwarder's eth0, sending every frame to its MAC on to
// the backend.
func (l *sqlLab) startFwd(b *testing.B) {
	b.Helper()
	spec, err := loadTraffic()
	if err != nil {
		b.Fatal(err)
	}
	for name, v := range map[string]any{"fwd_own_mac": [6]byte(l.fwd.MAC), "fwd_backend_mac": [6]byte(l.backend.MAC)} {
		if err := spec.Variables[name].Set(v); err != nil {
			b.Fatalf("set %s: %v", name, err)
		}
	}
	var objs trafficObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		b.Fatalf("load traffic programs: %v", err)
	}
	b.Cleanup(func() { objs.Close() })
	attachXDP(b, l.fwd.NetNS, "eth0", objs.TrafficFwd)
}

// startHAProxy runs HAProxy in mode tcp on the director's own address, the
// way it would sit in front of MySQL on a director host.
func (l *sqlLab) startHAProxy(b *testing.B) {
	b.Helper()
	dir := b.TempDir()
	cfg := fmt.Sprintf(`global
	maxconn 4096
defaults
	mode tcp
	timeout connect 5s
	timeout client 1m
	timeout server 1m
listen mysql
	bind %s:3306
	server db %s:3306
`, l.director.Addr.Addr(), l.backend.Addr.Addr())
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := l.director.Cmd("haproxy", "-db", "-f", path)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatalf("start haproxy: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
}

// waitTCP waits (bounded) until addr accepts a MySQL session from the client.
func (l *sqlLab) waitTCP(b *testing.B, name, addr string) {
	b.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := l.client.Do(func() error {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			// The server speaks first: a greeting proves the whole path.
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, err = c.Read(make([]byte, 1))
			return err
		})
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s (%s) not reachable from the client: %v", name, addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (l *sqlLab) sysbench(b *testing.B, test, addr string, threads, seconds int, cmd string) string {
	b.Helper()
	host, port, _ := net.SplitHostPort(addr)
	args := []string{test, "--db-driver=mysql", "--mysql-host=" + host, "--mysql-port=" + port,
		"--mysql-user=sbtest", "--mysql-password=sbpass", "--mysql-db=sbtest",
		"--tables=4", "--table-size=10000", "--threads=" + strconv.Itoa(threads)}
	if cmd == "run" {
		args = append(args, "--time="+strconv.Itoa(seconds), "--histogram=on", "--report-interval=0")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds+120)*time.Second)
	defer cancel()
	c := l.client.Cmd("sysbench", append(args, cmd)...)
	out, err := runCtx(ctx, c)
	if err != nil {
		b.Fatalf("sysbench %s %s via %s (%d threads): %v\n%s", test, cmd, addr, threads, err, out)
	}
	return out
}

// BenchmarkMySQL runs sysbench through xlb, through the bare forwarder
// (traffic_fwd: the extra hop without xlb's work), direct to the backend and
// through HAProxy, rotating the order every round so a noisy neighbour hits
// all four alike. Each sub-benchmark reports medians over the rounds, the
// spread of the throughputs and of the ratios.
func BenchmarkMySQL(b *testing.B) {
	l := newSQLLab(b)
	seconds := envInt("XLB_BENCH_SECONDS", 4)
	rounds := envInt("XLB_BENCH_ROUNDS", 3)
	order := []string{"xlb", "fwd", "direct", "haproxy"}
	// Warm the buffer pool and every path once, untimed.
	for _, name := range order {
		l.sysbench(b, "oltp_read_only", l.targets[name], 4, 1, "run")
	}
	for _, test := range []string{"oltp_point_select", "oltp_read_only", "oltp_read_write"} {
		for _, threads := range []int{1, 4, 16, 64} {
			b.Run(fmt.Sprintf("%s/threads=%d", test, threads), func(b *testing.B) {
				got := map[string][]SysbenchResult{}
				var vsFwd, vsDirect, vsHAProxy []float64
				for r := range rounds {
					res := map[string]SysbenchResult{}
					for i := range order {
						name := order[(i+r)%len(order)]
						out := l.sysbench(b, test, l.targets[name], threads, seconds, "run")
						sr, err := ParseSysbench(out)
						if err != nil {
							b.Fatalf("%s: %v\n%s", name, err, out)
						}
						res[name] = sr
						got[name] = append(got[name], sr)
					}
					vsFwd = append(vsFwd, res["xlb"].TPS/res["fwd"].TPS)
					vsDirect = append(vsDirect, res["xlb"].TPS/res["direct"].TPS)
					vsHAProxy = append(vsHAProxy, res["xlb"].TPS/res["haproxy"].TPS)
				}
				for _, name := range order {
					var tps, p95, p99 []float64
					for _, sr := range got[name] {
						tps, p95, p99 = append(tps, sr.TPS), append(p95, sr.P95), append(p99, sr.P99)
					}
					reportSpread(b, tps, name+"-tps")
					b.ReportMetric(Median(p95), name+"-p95-ms")
					b.ReportMetric(Median(p99), name+"-p99-ms")
				}
				reportSpread(b, vsFwd, "xlb/fwd")
				reportSpread(b, vsDirect, "xlb/direct")
				reportSpread(b, vsHAProxy, "xlb/haproxy")
			})
		}
	}
}

// reportSpread reports the median of v under unit and its range under
// unit-min and unit-max, which the report shows as "median [min-max]".
func reportSpread(b *testing.B, v []float64, unit string) {
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	b.ReportMetric(Median(v), unit)
	b.ReportMetric(lo, unit+"-min")
	b.ReportMetric(hi, unit+"-max")
}

func execLookPath(bin string) (string, error) {
	for _, dir := range strings.Split(os.Getenv("PATH")+":/usr/sbin:/sbin", ":") {
		p := filepath.Join(dir, bin)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not in PATH or /usr/sbin", bin)
}
