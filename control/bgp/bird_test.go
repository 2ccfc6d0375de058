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
	ns        *testutil.NetNS
	sock, log string
}

// startBird runs bird2 in ns with one BGP protocol per director (d1, d2,
// ...), each carrying families. The lab router: routes learnt by BGP go to
// the kernel, both families, equal ones merged (ECMP, so it is seen in
// `ip route`); BFD at 100 ms x 3; back to a failed director within seconds
// (bird's default error wait is 60 s).
func startBird(t *testing.T, ns *testutil.NetNS, local string, directors []string, families []Family) *router {
	t.Helper()
	if _, err := exec.LookPath("bird"); err != nil {
		if testutil.Strict() {
			t.Fatalf("bird2 is not installed (scripts/install-deps.sh installs it)")
		}
		t.Skip("bird2 is not installed (scripts/install-deps.sh installs it)")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "bird.conf")
	var b strings.Builder
	fmt.Fprintf(&b, `router id 192.0.2.1;
log "%s" all;
protocol device {}
protocol kernel { ipv4 { import none; export all; }; merge paths on; }
protocol kernel { ipv6 { import none; export all; }; merge paths on; }
protocol bfd { interface "*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }
template bgp director {
	local %s as 65000;
	password "%s";
	hold time 90;
	bfd on;
	error wait time 1, 2;
`, filepath.Join(dir, "bird.log"), local, md5Secret)
	for _, f := range families {
		fmt.Fprintf(&b, "\t%s { import all; export none; };\n", f)
	}
	b.WriteString("}\n")
	for i, d := range directors {
		fmt.Fprintf(&b, "protocol bgp d%d from director { neighbor %s as 65001; }\n", i+1, d)
	}
	os.WriteFile(conf, []byte(b.String()), 0o644)
	r := &router{ns: ns, sock: filepath.Join(dir, "bird.ctl"), log: filepath.Join(dir, "bird.log")}
	ns.MustRun(t, "bird", "-c", conf, "-s", r.sock, "-P", filepath.Join(dir, "bird.pid"))
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(dir, "bird.pid")); err == nil {
			var pid int
			fmt.Sscan(string(b), &pid)
			if pid > 0 && syscall.Kill(pid, syscall.SIGTERM) == nil {
				// bird writes its log and removes its socket as it
				// exits: wait, or the temporary directory is not empty.
				for i := 0; i < 200 && syscall.Kill(pid, 0) == nil; i++ {
					time.Sleep(10 * time.Millisecond)
				}
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
	a := netip.MustParseAddr(vip)
	out, _ := r.ns.Run("ip", "-"+strings.TrimPrefix(string(FamilyOf(a)), "ipv"), "route", "show", Prefix(a).String())
	return strings.TrimSpace(out)
}

// nextHops are the gateways of the router's route to vip, sorted: one for
// a plain route, one per "nexthop via" line of a multipath (ECMP) one.
func (r *router) nextHops(t *testing.T, vip string) []string {
	t.Helper()
	var out []string
	f := strings.Fields(r.route(t, vip))
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "via" {
			out = append(out, f[i+1])
		}
	}
	slices.Sort(out)
	return out
}

// birdCase is one way of reaching the router, on its own segment with its
// own bird; the cases run side by side.
type birdCase struct {
	name string
	// router and directors: their session addresses; v6 (if any): the
	// IPv6 prefixes added to router and directors beside their IPv4 ones.
	router    string
	directors [2]string
	v6        [3]string
	families  []Family
	// nextHop6 is each director's configured ipv6_next_hop ("": none).
	nextHop6 [2]string
	// vips are announced by both directors; want[v][d] is the next hop the
	// router must see for vips[v] from director d.
	vips [2]string
	want [2][2]string
}

var birdCases = []birdCase{
	// IPv4 sessions carrying both families (MP-BGP): the IPv4 VIP's next
	// hop is the session's source; the IPv6 VIP's is the first director's
	// global IPv6 address on the segment, and the second's configured one
	// (an address of its own that is not the first on the interface).
	{name: "ipv4 session", router: "10.99.0.1", directors: [2]string{"10.99.0.2", "10.99.0.3"}, families: []Family{IPv4, IPv6},
		v6:       [3]string{"fd00:99::1/64", "fd00:99::2/64", "fd00:99::3/64"},
		nextHop6: [2]string{"", "fd00:99::13"},
		vips:     [2]string{"10.0.0.100", "fd00:10::100"},
		want:     [2][2]string{{"10.99.0.2", "10.99.0.3"}, {"fd00:99::2", "fd00:99::13"}}},
	// IPv6 sessions, BFD over IPv6; the next hop is the session's source.
	{name: "ipv6 session", router: "fd00:98::1", directors: [2]string{"fd00:98::2", "fd00:98::3"}, families: []Family{IPv6},
		v6:   [3]string{"fd00:98::1/64", "fd00:98::2/64", "fd00:98::3/64"},
		vips: [2]string{"fd00:10::100", "fd00:10::101"},
		want: [2][2]string{{"fd00:98::2", "fd00:98::3"}, {"fd00:98::2", "fd00:98::3"}}},
}

// TestBird runs the speaker against bird2 for each case, in parallel: two
// directors announce the VIPs and the router's kernel routes have both as
// next hops (ECMP); a drained director leaves the routes; a withdrawn VIP
// goes; a director whose link goes down is out within a second (BFD); a
// stopping one withdraws before it closes its session.
func TestBird(t *testing.T) {
	testutil.RequirePriv(t)
	for _, c := range birdCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t)
		})
	}
}

func (c birdCase) run(t *testing.T) {
	seg := testutil.NewSegment(t, "bgp")
	v4 := func(a string, i int) string {
		if netip.MustParseAddr(a).Is4() {
			return a + "/24"
		}
		return fmt.Sprintf("10.98.0.%d/24", i) // IPv6 sessions: the hosts' IPv4 side is unused
	}
	rt := seg.AddHost(t, "rt", v4(c.router, 1))
	hosts := []*testutil.Host{seg.AddHost(t, "d1", v4(c.directors[0], 2)), seg.AddHost(t, "d2", v4(c.directors[1], 3))}
	for i, h := range append([]*testutil.Host{rt}, hosts...) {
		if c.v6[i] != "" {
			h.EnableIPv6(t, c.v6[i])
		}
	}
	r := startBird(t, rt.NetNS, c.router, c.directors[:], c.families)

	med := uint32(50)
	var sp [2]*child
	cfgs := [2]Config{}
	for i, h := range hosts {
		cfgs[i] = Config{LocalAS: 65001, RouterID: h.Addr.Addr(), WithdrawWait: time.Second,
			Communities: []Community{65001<<16 | 100},
			Neighbors: []Neighbor{{Address: netip.MustParseAddr(c.router), PeerAS: 65000, PasswordFile: "(set by the child)",
				Families: c.families, BFD: BFD{Enabled: true}}},
			VIPs: []VIP{{Address: netip.MustParseAddr(c.vips[0]), MED: &med}, {Address: netip.MustParseAddr(c.vips[1])}}}
		if c.nextHop6[i] != "" {
			nh := netip.MustParseAddr(c.nextHop6[i])
			cfgs[i].Neighbors[0].IPv6NextHop = nh
			h.MustRun(t, "ip", "-6", "addr", "add", nh.String()+"/64", "dev", "eth0", "nodad")
		}
		cfgs[i].Defaults()
		if err := cfgs[i].Check(); err != nil {
			t.Fatal(err)
		}
		sp[i] = startChild(t, h.NetNS, cfgs[i])
	}
	for i := range sp {
		testutil.WaitFor(t, fmt.Sprintf("director %d: session established (TCP MD5, eBGP), BFD up", i+1), 20*time.Second, func() bool {
			st := sp[i].status()
			return len(st.Sessions) == 1 && st.Sessions[0].Established() && st.Sessions[0].BFD == "up"
		})
	}
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(r.log)
			t.Logf("bird's routes:\n%s\nbird's log:\n%s", r.birdc(t, "show", "route", "all"), log)
		}
	})
	// through waits until the router's route to each VIP has the next hops
	// of the directors listed (none: no route).
	through := func(t *testing.T, what string, dirs ...int) {
		t.Helper()
		for v, vip := range c.vips {
			var want []string
			for _, d := range dirs {
				want = append(want, c.want[v][d])
			}
			slices.Sort(want)
			testutil.WaitFor(t, fmt.Sprintf("%s: %s through %v", what, vip, want), 5*time.Second,
				func() bool { return slices.Equal(r.nextHops(t, vip), want) })
		}
	}
	both := "set " + c.vips[0] + "=1 " + c.vips[1] + "=1"

	t.Run("ecmp", func(t *testing.T) {
		sp[0].do(both)
		sp[1].do(both)
		through(t, "announced by both", 0, 1)
		all := r.birdc(t, "show", "route", Prefix(netip.MustParseAddr(c.vips[0])).String(), "all")
		if !strings.Contains(all, "BGP.med: 50") || !strings.Contains(all, "(65001,100)") {
			t.Errorf("%s lacks its MED or community at the router:\n%s", c.vips[0], all)
		}
		if st := sp[0].status(); st.Sessions[0].Sent != 2 || !slices.Equal(st.Sessions[0].Families, c.families) {
			t.Errorf("prefixes sent = %d, families %v, want 2, %v", st.Sessions[0].Sent, st.Sessions[0].Families, c.families)
		}
	})
	t.Run("drain", func(t *testing.T) {
		sp[1].do("set " + c.vips[0] + "=0 " + c.vips[1] + "=0") // what xlbctl drain makes the daemon ask
		through(t, "second director drained", 0)
	})
	t.Run("withdraw one", func(t *testing.T) {
		sp[0].do("set " + c.vips[0] + "=1 " + c.vips[1] + "=0")
		testutil.WaitFor(t, c.vips[1]+" withdrawn", 5*time.Second, func() bool { return r.route(t, c.vips[1]) == "" })
		if got := r.nextHops(t, c.vips[0]); !slices.Equal(got, []string{c.want[0][0]}) {
			t.Fatalf("%s: next hops %v after %s was withdrawn", c.vips[0], got, c.vips[1])
		}
		st := sp[0].status()
		if len(st.Routes) != 2 || !st.Routes[0].Announced || st.Routes[1].Announced {
			t.Errorf("routes = %+v, want %s announced, %s not", st.Routes, c.vips[0], c.vips[1])
		}
	})
	t.Run("link loss is detected by BFD", func(t *testing.T) {
		sp[0].do(both)
		sp[1].do(both)
		through(t, "announced by both again", 0, 1)
		// The second director's link goes down; the router's stays up (a
		// bridge between them): no carrier loss, no NOTIFICATION, no FIN,
		// and the hold time is 90 s: only BFD tells the router.
		time.Sleep(200 * time.Millisecond)
		start := time.Now()
		hosts[1].MustRun(t, "ip", "link", "set", "eth0", "down")
		through(t, "second director's link down", 0)
		took := time.Since(start)
		t.Logf("%s: link down -> out of the router's ECMP routes in %v (BFD 100 ms x 3)", c.name, took.Round(time.Millisecond))
		if took > time.Second {
			t.Errorf("BFD took %v, want under a second", took)
		}
		if bfd := r.birdc(t, "show", "bfd", "sessions"); !strings.Contains(bfd, "Down") {
			t.Errorf("bird's BFD session is not down:\n%s", bfd)
		}
		sp[1].cmd.Process.Kill()
	})
	t.Run("stop withdraws first", func(t *testing.T) {
		start := time.Now()
		fmt.Fprintln(sp[0].in, "stop")
		through(t, "first director stopping")
		if !strings.Contains(r.birdc(t, "show", "protocols", "d1"), "Established") {
			t.Fatalf("the session closed before the wait: %s", r.birdc(t, "show", "protocols", "d1"))
		}
		testutil.WaitFor(t, "session closed after the wait", 5*time.Second, func() bool {
			return !strings.Contains(r.birdc(t, "show", "protocols", "d1"), "Established")
		})
		if took := time.Since(start); took < cfgs[0].WithdrawWait {
			t.Errorf("session closed %v after stop, before the %v withdraw wait", took, cfgs[0].WithdrawWait)
		}
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
	r := startBird(t, rt.NetNS, routerIP, []string{directIP}, []Family{IPv4})
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
