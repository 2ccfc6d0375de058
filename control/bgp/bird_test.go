package bgp

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"xlb/control/secret"
	"xlb/test/testutil"
)

// The speaker is tested against a real bird2 (Debian's bird2 package) in a
// router namespace. GoBGP's goroutines open their sockets wherever the
// process is, and a Go process cannot move all its threads into a network
// namespace, so the speaker runs in a child: this test binary re-executed
// inside the director namespace (TestSpeakerChild), driven by lines on its
// stdin.

const (
	childEnv  = "XLB_BGP_SPEAKER_CHILD"
	routerIP  = "10.99.0.1"
	directIP  = "10.99.0.2"
	md5Secret = "xlb-lab-md5"
)

// TestSpeakerChild is the speaker process; it only runs when the parent test
// starts it. Commands: "set VIP=1 VIP=0 ..." (announce / withdraw),
// "withdraw", "status", "stop". Each answers one line.
func TestSpeakerChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("the speaker child of TestBird; not a test by itself")
	}
	var cfg Config
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Neighbors[0].Password = secret.New(md5Secret)
	cfg.Defaults()
	sp := New(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err := sp.Configure(context.Background(), &cfg); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		var err error
		switch f[0] {
		case "set":
			var rs []Route
			for _, kv := range f[1:] {
				vip, on, _ := strings.Cut(kv, "=")
				rs = append(rs, Route{VIP: netip.MustParseAddr(vip), Announce: on == "1", Reason: "test"})
			}
			err = sp.Set(rs)
		case "withdraw":
			err = sp.Withdraw()
		case "status":
			b, _ := json.Marshal(sp.Status())
			fmt.Println(string(b))
			continue
		case "stop":
			sp.Stop()
		}
		if err != nil {
			fmt.Println("error", err)
			continue
		}
		fmt.Println("ok")
	}
}

type child struct {
	t   *testing.T
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startChild(t *testing.T, ns *testutil.NetNS, cfg Config) *child {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nsenter", "--net="+ns.Path(), self, "-test.run=^TestSpeakerChild$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	cmd.Stderr = &testLog{t}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, cmd: cmd, in: in, out: bufio.NewScanner(out)}
	c.out.Buffer(make([]byte, 1<<20), 1<<20)
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return c
}

type testLog struct{ t *testing.T }

func (l *testLog) Write(p []byte) (int, error) {
	l.t.Logf("speaker: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// do sends a command and returns its answer line (skipping go test's own
// output, such as "=== RUN").
func (c *child) do(cmd string) string {
	c.t.Helper()
	fmt.Fprintln(c.in, cmd)
	for c.out.Scan() {
		line := c.out.Text()
		if line == "ok" || strings.HasPrefix(line, "{") || strings.HasPrefix(line, "error") || line == "null" {
			if strings.HasPrefix(line, "error") {
				c.t.Fatalf("%s: %s", cmd, line)
			}
			return line
		}
		c.t.Logf("speaker child: %s", line)
	}
	c.t.Fatalf("%s: the speaker exited", cmd)
	return ""
}

func (c *child) status() Status {
	c.t.Helper()
	var st Status
	if err := json.Unmarshal([]byte(c.do("status")), &st); err != nil {
		c.t.Fatal(err)
	}
	return st
}

// router is bird2 in its own namespace.
type router struct {
	ns   *testutil.NetNS
	sock string
}

func startBird(t *testing.T, ns *testutil.NetNS) *router {
	t.Helper()
	if _, err := exec.LookPath("bird"); err != nil {
		if testutil.Strict() {
			t.Fatalf("bird2 is not installed (scripts/install-deps.sh installs it)")
		}
		t.Skip("bird2 is not installed (scripts/install-deps.sh installs it)")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "bird.conf")
	// The lab router: routes learnt by BGP go to the kernel (so ECMP and
	// withdrawals are seen in `ip route`); BFD at 100 ms x 3; back to a
	// failed director within seconds (bird's default error wait is 60 s).
	os.WriteFile(conf, []byte(fmt.Sprintf(`router id %s;
protocol device {}
protocol kernel { ipv4 { import none; export all; }; merge paths on; }
protocol bfd { interface "*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }
protocol bgp director {
	local %s as 65000;
	neighbor %s as 65001;
	password "%s";
	hold time 90;
	bfd on;
	error wait time 1, 2;
	ipv4 { import all; export none; };
}
`, routerIP, routerIP, directIP, md5Secret)), 0o644)
	r := &router{ns: ns, sock: filepath.Join(dir, "bird.ctl")}
	ns.MustRun(t, "bird", "-c", conf, "-s", r.sock, "-P", filepath.Join(dir, "bird.pid"))
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(dir, "bird.pid")); err == nil {
			var pid int
			fmt.Sscan(string(b), &pid)
			if pid > 0 {
				syscall.Kill(pid, syscall.SIGTERM)
			}
		}
	})
	return r
}

func (r *router) birdc(t *testing.T, args ...string) string {
	t.Helper()
	out, _ := r.ns.Run("birdc", append([]string{"-s", r.sock}, args...)...)
	return out
}

// route is the router's kernel route to vip ("" when there is none).
func (r *router) route(t *testing.T, vip string) string {
	t.Helper()
	out, _ := r.ns.Run("ip", "-4", "route", "show", vip+"/32")
	return strings.TrimSpace(out)
}

func TestBird(t *testing.T) {
	testutil.RequirePriv(t)
	rns := testutil.NewNetNS(t, "bgpr")
	dns := testutil.NewNetNS(t, "bgpd")
	rns.MustRun(t, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", dns.Name)
	rns.MustRun(t, "ip", "addr", "add", routerIP+"/24", "dev", "eth0")
	rns.MustRun(t, "ip", "link", "set", "eth0", "up")
	dns.MustRun(t, "ip", "addr", "add", directIP+"/24", "dev", "eth0")
	dns.MustRun(t, "ip", "link", "set", "eth0", "up")
	r := startBird(t, rns)

	med := uint32(50)
	cfg := Config{LocalAS: 65001, RouterID: netip.MustParseAddr(directIP), WithdrawWait: 2 * time.Second,
		Communities: []Community{65001<<16 | 100},
		Neighbors: []Neighbor{{Address: netip.MustParseAddr(routerIP), PeerAS: 65000, PasswordFile: "(set by the child)",
			BFD: BFD{Enabled: true}}},
		VIPs: []VIP{{Address: netip.MustParseAddr("10.0.0.100"), MED: &med}}}
	sp := startChild(t, dns, cfg)

	testutil.WaitFor(t, "session established (TCP MD5, eBGP)", 20*time.Second, func() bool {
		st := sp.status()
		return len(st.Sessions) == 1 && st.Sessions[0].Established()
	})
	testutil.WaitFor(t, "BFD up", 10*time.Second, func() bool { return sp.status().Sessions[0].BFD == "up" })

	t.Run("announce", func(t *testing.T) {
		sp.do("set 10.0.0.100=1 10.0.0.101=1")
		for _, vip := range []string{"10.0.0.100", "10.0.0.101"} {
			testutil.WaitFor(t, "route to "+vip, 5*time.Second, func() bool { return strings.Contains(r.route(t, vip), "via "+directIP) })
		}
		all := r.birdc(t, "show", "route", "10.0.0.100/32", "all")
		if !strings.Contains(all, "BGP.med: 50") || !strings.Contains(all, "(65001,100)") {
			t.Errorf("10.0.0.100 lacks its MED or community at the router:\n%s", all)
		}
		if st := sp.status(); st.Sessions[0].Sent != 2 {
			t.Errorf("prefixes sent = %d, want 2", st.Sessions[0].Sent)
		}
	})
	t.Run("withdraw one", func(t *testing.T) {
		sp.do("set 10.0.0.100=1 10.0.0.101=0")
		testutil.WaitFor(t, "10.0.0.101 withdrawn", 5*time.Second, func() bool { return r.route(t, "10.0.0.101") == "" })
		if r.route(t, "10.0.0.100") == "" {
			t.Fatal("10.0.0.100 was withdrawn with 10.0.0.101")
		}
		st := sp.status()
		if len(st.Routes) != 2 || !st.Routes[0].Announced || st.Routes[1].Announced {
			t.Errorf("routes = %+v, want 10.0.0.100 announced, 10.0.0.101 not", st.Routes)
		}
	})
	t.Run("stop withdraws first", func(t *testing.T) {
		start := time.Now()
		fmt.Fprintln(sp.in, "stop")
		testutil.WaitFor(t, "withdrawn on stop", 2*time.Second, func() bool { return r.route(t, "10.0.0.100") == "" })
		if strings.Contains(r.birdc(t, "show", "protocols", "director"), "Established") == false {
			t.Fatalf("the session closed before the wait: %s", r.birdc(t, "show", "protocols", "director"))
		}
		testutil.WaitFor(t, "session closed after the wait", 5*time.Second, func() bool {
			return !strings.Contains(r.birdc(t, "show", "protocols", "director"), "Established")
		})
		if took := time.Since(start); took < cfg.WithdrawWait {
			t.Errorf("session closed %v after stop, before the %v withdraw wait", took, cfg.WithdrawWait)
		}
	})
	t.Run("hang is detected by BFD", func(t *testing.T) {
		sp := startChild(t, dns, cfg)
		sp.do("set 10.0.0.100=1")
		testutil.WaitFor(t, "announced again", 20*time.Second, func() bool { return r.route(t, "10.0.0.100") != "" })
		testutil.WaitFor(t, "BFD up", 10*time.Second, func() bool { return sp.status().Sessions[0].BFD == "up" })
		// A director that hangs (SIGSTOP: the TCP session stays open, no
		// NOTIFICATION, no FIN): nothing but BFD tells the router within
		// the test's limit, the hold time being 90 s. A kill -9 is seen
		// sooner (the kernel closes the socket), as is a link going down.
		sp.cmd.Process.Signal(syscall.SIGSTOP)
		took := testutil.WaitFor(t, "route withdrawn by BFD", 3*time.Second, func() bool { return r.route(t, "10.0.0.100") == "" })
		t.Logf("director hung -> route gone at the router in %v (BFD 100 ms x 3)", took.Round(time.Millisecond))
		if took > time.Second {
			t.Errorf("BFD took %v, want under a second", took)
		}
		if bfd := r.birdc(t, "show", "bfd", "sessions"); !strings.Contains(bfd, "Down") {
			t.Errorf("bird's BFD session is not down:\n%s", bfd)
		}
		sp.cmd.Process.Kill()
	})
}

// XLB_BGP_TRIALS sets the failover trials (default 1: a check; make bench
// runs more).
func bgpTrials() int {
	var n int
	if _, err := fmt.Sscan(os.Getenv("XLB_BGP_TRIALS"), &n); err == nil && n > 0 {
		return n
	}
	return 1
}

// TestFailoverTrialsBFD measures how long the router keeps sending to a dead
// director: the speaker is killed (-9) and its link goes down at once, as a
// machine dying; the router's link stays up (a bridge between them), so no
// carrier loss, no NOTIFICATION, no FIN: only BFD (100 ms x 3) tells it. The
// time runs until the kernel route through the director is gone, after which
// the router sends it no packet. Printed as a FAILOVER line for make bench,
// beside control/vrrp's trials.
func TestFailoverTrialsBFD(t *testing.T) {
	testutil.RequirePriv(t)
	seg := testutil.NewSegment(t, "bgf")
	rt := seg.AddHost(t, "rt", routerIP+"/24")
	lb := seg.AddHost(t, "lb", directIP+"/24")
	r := startBird(t, rt.NetNS)
	cfg := Config{LocalAS: 65001, RouterID: netip.MustParseAddr(directIP), WithdrawWait: time.Second,
		Neighbors: []Neighbor{{Address: netip.MustParseAddr(routerIP), PeerAS: 65000, PasswordFile: "(set by the child)",
			BFD: BFD{Enabled: true}}}}
	var got []time.Duration
	for i := range bgpTrials() {
		sp := startChild(t, lb.NetNS, cfg)
		sp.do("set 10.0.0.100=1")
		testutil.WaitFor(t, "announced", 30*time.Second, func() bool { return r.route(t, "10.0.0.100") != "" })
		testutil.WaitFor(t, "BFD up", 10*time.Second, func() bool { return sp.status().Sessions[0].BFD == "up" })
		// Let BFD run a while so the death lands at a random phase.
		time.Sleep(300*time.Millisecond + time.Duration(i)*100*time.Millisecond/7)
		start := time.Now()
		lb.MustRun(t, "ip", "link", "set", "eth0", "down")
		sp.cmd.Process.Kill()
		testutil.WaitFor(t, "route withdrawn by BFD", 3*time.Second, func() bool { return r.route(t, "10.0.0.100") == "" })
		took := time.Since(start)
		got = append(got, took)
		sp.cmd.Wait()
		lb.MustRun(t, "ip", "link", "set", "eth0", "up")
		if took > time.Second {
			t.Errorf("trial %d: BFD took %v, want under a second", i+1, took)
		}
	}
	slices.Sort(got)
	t.Logf("FAILOVER bgp bfd-100msx3-SIGKILL+link-down: n=%d median=%v worst=%v best=%v", len(got), got[len(got)/2].Round(time.Millisecond),
		got[len(got)-1].Round(time.Millisecond), got[0].Round(time.Millisecond))
}
