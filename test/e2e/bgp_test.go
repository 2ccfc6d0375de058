package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"xlb/control/flowsync"
	"xlb/test/testutil"
)

// bgpVIP is announced by the three directors; the clients reach it through
// the router, on the other side of it.
var bgpVIP = netip.MustParseAddr("10.20.0.100")

func bgpConfig(self string) string {
	return fmt.Sprintf(`interfaces: [eth0]
services:
  - vip: %s
    port: 3306
    delay_loop: 0.5
    reals:
      - {ip: 192.168.1.10, check: %s}
      - {ip: 192.168.1.11, check: %s}
bgp:
  local_as: 65001
  router_id: %s
  withdraw_wait: 2
  neighbors:
    - {address: 192.168.1.1, peer_as: 65000, bfd: true}
`, bgpVIP, checkTiming, checkTiming, self)
}

// nexthops is the router's ECMP route to the VIP: the directors it sends to.
func nexthops(router *testutil.Host) []string {
	out, _ := router.Run("ip", "-4", "route", "show", bgpVIP.String()+"/32")
	var hops []string
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "via" {
			hops = append(hops, f[i+1])
		}
	}
	return hops
}

// requireBird skips (fails when strict) without root or bird2.
func requireBird(t *testing.T) {
	t.Helper()
	testutil.RequirePriv(t)
	if _, err := exec.LookPath("bird"); err != nil {
		if testutil.Strict() {
			t.Fatal("bird2 is not installed (scripts/install-deps.sh installs it)")
		}
		t.Skip("bird2 is not installed (scripts/install-deps.sh installs it)")
	}
}

// TestBGP is the active-active lab: a bird2 router with ECMP (L4 hash) and
// BFD, the client behind it, three directors running xlbd with BGP, two
// backends. One lab for every scenario: subtests.
func TestBGP(t *testing.T) {
	requireBird(t)
	binaries(t)
	seg := testutil.NewSegment(t, "bg")
	router := seg.AddHost(t, "rt", "192.168.1.1/24")
	// Flow sync among the directors: one key for all of them, multicast on
	// the segment. The fourth director joins in the last scenario.
	key := filepath.Join(t.TempDir(), "flowsync.key")
	if err := os.WriteFile(key, []byte("bgp-lab-flow-sync-key-0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	dirIPs := []string{"192.168.1.21", "192.168.1.22", "192.168.1.23", "192.168.1.24"}
	var dirs []*daemon
	for i, ip := range dirIPs {
		h := seg.AddHost(t, fmt.Sprintf("lb%d", i+1), ip+"/24")
		seg.AttachPassToPort(t, h)
		d := newDaemon(t, h, bgpConfig(ip))
		d.args = []string{"--flow-sync-key", key}
		dirs = append(dirs, d)
	}
	var dbs []*testutil.Host
	for i, ip := range []string{"192.168.1.10", "192.168.1.11"} {
		h := seg.AddHost(t, fmt.Sprintf("db%d", i+1), ip+"/24")
		h.AcceptVIPOnLoopback(t, bgpVIP)
		h.MustRun(t, "ip", "route", "add", "10.99.0.0/24", "via", "192.168.1.1")
		testutil.Serve(t, h, 3306, fmt.Sprintf("db%d", i+1))
		dbs = append(dbs, h)
	}
	// The client, behind the router.
	cns := testutil.NewNetNS(t, "bgcl")
	router.MustRun(t, "ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns", cns.Name)
	router.MustRun(t, "ip", "addr", "add", "10.99.0.1/24", "dev", "eth1")
	router.MustRun(t, "ip", "link", "set", "eth1", "up")
	router.MustRun(t, "ethtool", "-K", "eth1", "tx", "off")
	for _, k := range []string{"net.ipv4.ip_forward=1", "net.ipv4.fib_multipath_hash_policy=1"} {
		router.MustRun(t, "sysctl", "-qw", k)
	}
	cns.MustRun(t, "ip", "addr", "add", "10.99.0.2/24", "dev", "eth0")
	cns.MustRun(t, "ip", "link", "set", "eth0", "up")
	cns.MustRun(t, "ip", "route", "add", "default", "via", "10.99.0.1")
	cns.MustRun(t, "ethtool", "-K", "eth0", "tx", "off")
	client := &testutil.Host{NetNS: cns, Addr: netip.MustParsePrefix("10.99.0.2/24")}

	dir := t.TempDir()
	var conf strings.Builder
	conf.WriteString(`router id 192.168.1.1;
protocol device {}
protocol kernel { ipv4 { import none; export all; }; merge paths on; }
protocol bfd { interface "*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }
`)
	for i, ip := range dirIPs {
		// error wait time: bird waits 60-300 s after a session failure
		// (BFD down) before it accepts the director again; the rebooted
		// director of the join scenario must not wait that long.
		fmt.Fprintf(&conf, "protocol bgp lb%d { local 192.168.1.1 as 65000; neighbor %s as 65001; bfd on; error wait time 1, 10; ipv4 { import all; export none; }; }\n", i+1, ip)
	}
	os.WriteFile(filepath.Join(dir, "bird.conf"), []byte(conf.String()), 0o644)
	router.MustRun(t, "bird", "-c", filepath.Join(dir, "bird.conf"), "-s", filepath.Join(dir, "bird.ctl"), "-P", filepath.Join(dir, "bird.pid"))
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(dir, "bird.pid")); err == nil {
			var pid int
			fmt.Sscan(string(b), &pid)
			if pid > 0 {
				syscall.Kill(pid, syscall.SIGTERM)
			}
		}
	})
	for _, d := range dirs[:3] {
		d.start()
	}
	testutil.WaitFor(t, "the router has the VIP through all three directors", 30*time.Second, func() bool { return len(nexthops(router)) == 3 })
	svc := netip.AddrPortFrom(bgpVIP, 3306)

	// open dials n connections from fixed ports, dialers side by side, and
	// says which backend each reached.
	open := func(t *testing.T, base, n int) []*testutil.Conn {
		t.Helper()
		conns := make([]*testutil.Conn, n)
		errs := make([]error, n)
		parallelDo(n, func(i int) { conns[i], errs[i] = testutil.Dial(client, svc, base+i) })
		for i, c := range conns {
			if c != nil {
				t.Cleanup(func() { c.Close() })
			}
			if errs[i] != nil {
				t.Fatalf("connection from port %d: %v", base+i, errs[i])
			}
		}
		return conns
	}
	echoAll := func(t *testing.T, conns []*testutil.Conn, what string) {
		t.Helper()
		var broken atomic.Int64
		parallelDo(len(conns), func(i int) {
			if conns[i].Echo("still-there") != nil {
				broken.Add(1)
			}
		})
		if n := broken.Load(); n > 0 {
			t.Errorf("%s: %d of %d connections broken", what, n, len(conns))
		}
	}
	packets := func(d *daemon) uint64 {
		out, _ := d.ctl("--json", "services")
		var n uint64
		for _, f := range strings.Split(out, "\"packets\":")[1:] {
			var p uint64
			fmt.Sscan(strings.TrimSpace(f), &p)
			n += p
		}
		return n
	}

	t.Run("traffic spreads", func(t *testing.T) {
		var before []uint64
		for _, d := range dirs {
			before = append(before, packets(d))
		}
		conns := open(t, 30000, spreadConns)
		backends := map[string]int{}
		for _, c := range conns {
			backends[c.Backend]++
		}
		var shares []string
		for i, d := range dirs[:3] {
			n := packets(d) - before[i]
			shares = append(shares, fmt.Sprintf("%s %d", dirIPs[i], n))
			if n == 0 {
				t.Errorf("director %s carried none of %d connections", dirIPs[i], spreadConns)
			}
		}
		t.Logf("%d connections: packets per director %s; per backend %v", spreadConns, strings.Join(shares, ", "), backends)
		if backends["db1"] == 0 || backends["db2"] == 0 {
			t.Errorf("backends: %v", backends)
		}
		// Maglev on every director: the same connection lands on the same
		// backend whichever director the router picks; re-dialling the
		// same ports gives the same backends.
		for _, c := range conns {
			// RST, not FIN: no TIME_WAIT holds the port for the re-dial.
			c.Conn.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
		time.Sleep(100 * time.Millisecond)
		again := open(t, 30000, spreadConns)
		for i, c := range again {
			if c.Backend != conns[i].Backend {
				t.Fatalf("connection from port %d reached %s, then %s", 30000+i, conns[i].Backend, c.Backend)
			}
		}
	})
	t.Run("drain withdraws and breaks nothing", func(t *testing.T) {
		conns := open(t, 31000, 60)
		if _, err := dirs[1].ctl("drain"); err != nil {
			t.Fatal(err)
		}
		took := testutil.WaitFor(t, "drained director out of the ECMP set", 5*time.Second, func() bool { return len(nexthops(router)) == 2 })
		t.Logf("xlbctl drain -> router drops the director in %v", took.Round(time.Millisecond))
		out, _ := dirs[1].ctl("bgp")
		if !strings.Contains(out, "drained by the operator") {
			t.Errorf("xlbctl bgp does not say why:\n%s", out)
		}
		echoAll(t, conns, "after drain")
		dirs[1].ctl("undrain")
		testutil.WaitFor(t, "undrained director back", 5*time.Second, func() bool { return len(nexthops(router)) == 3 })
		echoAll(t, conns, "after undrain")
	})
	t.Run("no usable backend on one director only", func(t *testing.T) {
		h := dirs[2].host
		h.MustRun(t, "iptables", "-A", "OUTPUT", "-p", "tcp", "--dport", "3306", "-j", "REJECT")
		defer h.Run("iptables", "-D", "OUTPUT", "-p", "tcp", "--dport", "3306", "-j", "REJECT")
		testutil.WaitFor(t, "that director withdraws, the others keep it", 10*time.Second, func() bool {
			hops := nexthops(router)
			return len(hops) == 2 && !strings.Contains(strings.Join(hops, " "), dirIPs[2])
		})
		h.MustRun(t, "iptables", "-D", "OUTPUT", "-p", "tcp", "--dport", "3306", "-j", "REJECT")
		testutil.WaitFor(t, "announced again once its checks pass", 10*time.Second, func() bool { return len(nexthops(router)) == 3 })
		// Announced from the first backend up (quorum 1); wait for both,
		// so the next scenarios start from the same Maglev table on every
		// director.
		testutil.WaitFor(t, "both backends active again there", 10*time.Second, func() bool {
			b := dirs[2].backends()
			return b["192.168.1.10"].State == "active" && b["192.168.1.11"].State == "active"
		})
	})
	t.Run("SIGTERM withdraws first", func(t *testing.T) {
		conns := open(t, 32000, 60)
		start := time.Now()
		dirs[1].signal(syscall.SIGTERM)
		took := testutil.WaitFor(t, "withdrawn on SIGTERM", 3*time.Second, func() bool { return len(nexthops(router)) == 2 })
		t.Logf("SIGTERM -> router drops the director in %v", took.Round(time.Millisecond))
		echoAll(t, conns, "after SIGTERM")
		dirs[1].stop(syscall.SIGTERM)
		if d := time.Since(start); d < 2*time.Second {
			t.Errorf("xlbd exited %v after SIGTERM, before its 2 s withdraw wait", d)
		}
		dirs[1].start()
		testutil.WaitFor(t, "restarted director back", 30*time.Second, func() bool { return len(nexthops(router)) == 3 })
		echoAll(t, conns, "after the restart")
	})
	t.Run("kill -9 and link down: BFD", func(t *testing.T) {
		conns := open(t, 33000, 60)
		h := dirs[0].host
		// Link down first: the kill's FIN cannot reach the router, so only
		// BFD tells it (the hold time is 90 s).
		h.MustRun(t, "ip", "link", "set", "eth0", "down")
		dirs[0].stop(syscall.SIGKILL)
		took := testutil.WaitFor(t, "dead director out of the ECMP set", 3*time.Second, func() bool { return len(nexthops(router)) == 2 })
		t.Logf("kill -9 + link down -> router drops the director in %v (BFD 100 ms x 3)", took.Round(time.Millisecond))
		if took > time.Second {
			t.Errorf("BFD took %v, want under a second", took)
		}
		echoAll(t, conns, "after a director died")
	})

	// A director joins: the one killed above, rebooted (its pinned flow table
	// gone), then a fourth. ECMP re-hashes some connections onto each;
	// they were opened while db2 was down, so they all sit on db1 while the
	// Maglev table now sends about half of such flows to db2: a joiner that
	// did not ask for the flow table before announcing would send those to
	// db2, which answers with a reset.
	t.Run("joins re-hash flows onto them: bulk sync first", func(t *testing.T) {
		reject := []string{"INPUT", "-p", "tcp", "--dport", "3306", "-s", "192.168.1.0/24", "-j", "REJECT", "--reject-with", "tcp-reset"}
		dbs[1].MustRun(t, "iptables", append([]string{"-A"}, reject...)...)
		defer dbs[1].Run("iptables", append([]string{"-D"}, reject...)...)
		live := dirs[1:3]
		for _, d := range live {
			testutil.WaitFor(t, "db2's checks fail on every live director", 10*time.Second, func() bool { return d.backends()["192.168.1.11"].State != "active" })
		}
		conns := open(t, 34000, 400)
		for _, c := range conns {
			if c.Backend != "db1" {
				t.Fatalf("a connection reached %s while db2 was down", c.Backend)
			}
		}
		dbs[1].MustRun(t, "iptables", append([]string{"-D"}, reject...)...)
		for _, d := range live {
			testutil.WaitFor(t, "db2 active again", 10*time.Second, func() bool { return d.backends()["192.168.1.11"].State == "active" })
		}

		join := func(d *daemon, want int) {
			t.Helper()
			start := time.Now()
			d.start()
			if !poll(30*time.Second, func() bool { return len(nexthops(router)) == want }) {
				log, _ := os.ReadFile(d.logPath)
				var info []string
				for _, l := range strings.Split(string(log), "\n") {
					if !strings.Contains(l, "level=DEBUG") {
						info = append(info, l)
					}
				}
				st, _ := d.ctl("bgp")
				rt, _ := router.Run("ip", "route", "show", bgpVIP.String())
				birdRoutes, _ := router.Run("birdc", "-s", filepath.Join(dir, "bird.ctl"), "show", "route", "all")
				t.Fatalf("%s not in the ECMP set within 30s; router: %s\n%s\nxlbctl bgp:\n%s\nlog:\n%s", d.host.Name, rt, birdRoutes, st, lastLines(strings.Join(info, "\n"), 20))
			}
			t.Logf("%s started -> in the ECMP set after %v", d.host.Name, time.Since(start).Round(time.Millisecond))
			echoAll(t, conns, "after "+d.host.Name+" joined")
			if packets(d) == 0 {
				t.Errorf("%s carried none of the %d connections: ECMP re-hashed none onto it", d.host.Name, len(conns))
			}
			out, err := d.ctl("--json", "flowsync")
			var st []flowsync.Status
			if err != nil || json.Unmarshal([]byte(out), &st) != nil || len(st) != 1 {
				t.Fatalf("xlbctl flowsync on %s: %v\n%s", d.host.Name, err, out)
			}
			t.Logf("%s: bulk requests %d, flows applied %d, synced %v", d.host.Name, st[0].BulkRequests, st[0].Applied, st[0].Synced)
			if !st[0].Synced || st[0].BulkRequests == 0 || st[0].Applied < uint64(len(conns)) {
				t.Errorf("%s announced with synced %v after %d bulk requests, %d flows applied (want the %d connections' flows)",
					d.host.Name, st[0].Synced, st[0].BulkRequests, st[0].Applied, len(conns))
			}
		}
		// The director killed above comes back as after a reboot: link up,
		// nothing pinned.
		dirs[0].host.MustRun(t, "ip", "link", "set", "eth0", "up")
		if out, err := exec.Command(filepath.Join(binaries(t), "xlbd"), "detach", "--pin-root", dirs[0].pinRoot).CombinedOutput(); err != nil {
			t.Fatalf("xlbd detach: %v\n%s", err, out)
		}
		join(dirs[0], 3)
		join(dirs[3], 4)
	})
}

// poll is waitFor that reports instead of failing.
func poll(limit time.Duration, ok func() bool) bool {
	for start := time.Now(); time.Since(start) < limit; time.Sleep(50 * time.Millisecond) {
		if ok() {
			return true
		}
	}
	return false
}

// spreadConns is the connections of the spread scenario (issue 14: 1,000).
const spreadConns = 1000

// parallelDo runs fn(0..n-1) on a bounded number of goroutines.
func parallelDo(n int, fn func(i int)) {
	const workers = 32
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < min(workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				fn(i)
			}
		}()
	}
	wg.Wait()
}
