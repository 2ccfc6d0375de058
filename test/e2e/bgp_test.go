package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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

// TestBGP is the active-active lab: a bird2 router with ECMP (L4 hash) and
// BFD, the client behind it, three directors running xlbd with BGP, two
// backends. One lab for every scenario: subtests.
func TestBGP(t *testing.T) {
	testutil.RequirePriv(t)
	if _, err := exec.LookPath("bird"); err != nil {
		if testutil.Strict() {
			t.Fatal("bird2 is not installed (scripts/install-deps.sh installs it)")
		}
		t.Skip("bird2 is not installed (scripts/install-deps.sh installs it)")
	}
	binaries(t)
	seg := testutil.NewSegment(t, "bg")
	router := seg.AddHost(t, "rt", "192.168.1.1/24")
	dirIPs := []string{"192.168.1.21", "192.168.1.22", "192.168.1.23"}
	var dirs []*daemon
	for i, ip := range dirIPs {
		h := seg.AddHost(t, fmt.Sprintf("lb%d", i+1), ip+"/24")
		seg.AttachPassToPort(t, h)
		dirs = append(dirs, newDaemon(t, h, bgpConfig(ip)))
	}
	for i, ip := range []string{"192.168.1.10", "192.168.1.11"} {
		h := seg.AddHost(t, fmt.Sprintf("db%d", i+1), ip+"/24")
		h.AcceptVIPOnLoopback(t, bgpVIP)
		h.MustRun(t, "ip", "route", "add", "10.99.0.0/24", "via", "192.168.1.1")
		testutil.Serve(t, h, 3306, fmt.Sprintf("db%d", i+1))
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
		fmt.Fprintf(&conf, "protocol bgp lb%d { local 192.168.1.1 as 65000; neighbor %s as 65001; bfd on; ipv4 { import all; export none; }; }\n", i+1, ip)
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
	for _, d := range dirs {
		d.start()
	}
	waitFor(t, "the router has the VIP through all three directors", 30*time.Second, func() bool { return len(nexthops(router)) == 3 })
	svc := netip.AddrPortFrom(bgpVIP, 3306)

	// open dials n connections from fixed ports and says which backend each reached.
	open := func(t *testing.T, base, n int) []*testutil.Conn {
		t.Helper()
		var conns []*testutil.Conn
		for i := 0; i < n; i++ {
			c, err := testutil.Dial(client, svc, base+i)
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			t.Cleanup(func() { c.Close() })
			conns = append(conns, c)
		}
		return conns
	}
	echoAll := func(t *testing.T, conns []*testutil.Conn, what string) {
		t.Helper()
		broken := 0
		for _, c := range conns {
			if err := c.Echo("still-there"); err != nil {
				broken++
			}
		}
		if broken > 0 {
			t.Errorf("%s: %d of %d connections broken", what, broken, len(conns))
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
		conns := open(t, 30000, 150)
		backends := map[string]int{}
		for _, c := range conns {
			backends[c.Backend]++
		}
		for i, d := range dirs {
			if packets(d) == before[i] {
				t.Errorf("director %s carried none of 150 connections", dirIPs[i])
			}
		}
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
		again := open(t, 30000, 150)
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
		took := waitFor(t, "drained director out of the ECMP set", 5*time.Second, func() bool { return len(nexthops(router)) == 2 })
		t.Logf("xlbctl drain -> router drops the director in %v", took.Round(time.Millisecond))
		out, _ := dirs[1].ctl("bgp")
		if !strings.Contains(out, "drained by the operator") {
			t.Errorf("xlbctl bgp does not say why:\n%s", out)
		}
		echoAll(t, conns, "after drain")
		dirs[1].ctl("undrain")
		waitFor(t, "undrained director back", 5*time.Second, func() bool { return len(nexthops(router)) == 3 })
		echoAll(t, conns, "after undrain")
	})
	t.Run("no usable backend on one director only", func(t *testing.T) {
		h := dirs[2].host
		h.MustRun(t, "iptables", "-A", "OUTPUT", "-p", "tcp", "--dport", "3306", "-j", "REJECT")
		defer h.Run("iptables", "-D", "OUTPUT", "-p", "tcp", "--dport", "3306", "-j", "REJECT")
		waitFor(t, "that director withdraws, the others keep it", 10*time.Second, func() bool {
			hops := nexthops(router)
			return len(hops) == 2 && !strings.Contains(strings.Join(hops, " "), dirIPs[2])
		})
		h.MustRun(t, "iptables", "-D", "OUTPUT", "-p", "tcp", "--dport", "3306", "-j", "REJECT")
		waitFor(t, "announced again once its checks pass", 10*time.Second, func() bool { return len(nexthops(router)) == 3 })
		// Announced from the first backend up (quorum 1); the next
		// scenarios need the same Maglev table on every director (flow
		// sync is off in this lab: no key), so wait for both.
		waitFor(t, "both backends active again there", 10*time.Second, func() bool {
			b := dirs[2].backends()
			return b["192.168.1.10"].State == "active" && b["192.168.1.11"].State == "active"
		})
	})
	t.Run("SIGTERM withdraws first", func(t *testing.T) {
		conns := open(t, 32000, 60)
		start := time.Now()
		dirs[1].signal(syscall.SIGTERM)
		took := waitFor(t, "withdrawn on SIGTERM", 3*time.Second, func() bool { return len(nexthops(router)) == 2 })
		t.Logf("SIGTERM -> router drops the director in %v", took.Round(time.Millisecond))
		echoAll(t, conns, "after SIGTERM")
		dirs[1].stop(syscall.SIGTERM)
		if d := time.Since(start); d < 2*time.Second {
			t.Errorf("xlbd exited %v after SIGTERM, before its 2 s withdraw wait", d)
		}
		dirs[1].start()
		waitFor(t, "restarted director back", 30*time.Second, func() bool { return len(nexthops(router)) == 3 })
		echoAll(t, conns, "after the restart")
	})
	t.Run("kill -9 and link down: BFD", func(t *testing.T) {
		conns := open(t, 33000, 60)
		h := dirs[0].host
		// Link down first: the kill's FIN cannot reach the router, so only
		// BFD tells it (the hold time is 90 s).
		h.MustRun(t, "ip", "link", "set", "eth0", "down")
		dirs[0].stop(syscall.SIGKILL)
		took := waitFor(t, "dead director out of the ECMP set", 3*time.Second, func() bool { return len(nexthops(router)) == 2 })
		t.Logf("kill -9 + link down -> router drops the director in %v (BFD 100 ms x 3)", took.Round(time.Millisecond))
		if took > time.Second {
			t.Errorf("BFD took %v, want under a second", took)
		}
		echoAll(t, conns, "after a director died")
	})
}
