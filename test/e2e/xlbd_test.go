package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
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

	"github.com/vishvananda/netlink"

	"xlb/test/testutil"
)

var vip = netip.MustParseAddr("192.168.1.30")

const checkTiming = `{kind: tcp, connect_timeout: 0.5, retry: 1, delay_before_retry: 0.2}`

func tcpConfig(reals ...string) string {
	var b strings.Builder
	b.WriteString("interfaces: [eth0]\nservices:\n  - vip: 192.168.1.30\n    port: 3306\n    scheduler: wrr\n    delay_loop: 0.5\n    reals:\n")
	for _, r := range reals {
		fmt.Fprintf(&b, "      - ip: %s\n        weight: 1\n        check: %s\n", r, checkTiming)
	}
	return b.String()
}

// daemonLab is TestDaemon's director, client and backends db1-db3. Each
// subtest states what it starts from (which servers run, which are
// configured, what state xlbd shows for each) and the lab gets there from
// wherever it is, so `go test -run 'TestDaemon/X'` works for any X, and in a
// full run a precondition already met costs nothing.
type daemonLab struct {
	t        *testing.T // TestDaemon's: servers and xlbd live as long as it
	client   *testutil.Host
	director *testutil.Host
	hosts    map[string]*testutil.Host
	servers  map[string]*testutil.Server // running ones
	d        *daemon
	config   string
}

var labIP = map[string]string{"db1": "192.168.1.10", "db2": "192.168.1.11", "db3": "192.168.1.12"}

// cleanupOn runs a helper with a subtest's failures but its owner's cleanup:
// a server started for one subtest keeps serving the next.
type cleanupOn struct {
	testing.TB
	owner testing.TB
}

func (c cleanupOn) Cleanup(f func()) { c.owner.Cleanup(f) }

// serving makes exactly the named servers run.
func (l *daemonLab) serving(t *testing.T, names ...string) {
	t.Helper()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
		if l.servers[n] == nil {
			l.servers[n] = testutil.Serve(cleanupOn{t, l.t}, l.hosts[n], 3306, n)
		}
	}
	for n, s := range l.servers {
		if !want[n] {
			s.Kill()
			delete(l.servers, n)
		}
	}
}

// configured makes xlbd run with the named real servers, and waits until
// each shows the wanted state ("active", "down").
func (l *daemonLab) configured(t *testing.T, states map[string]string, reals ...string) {
	t.Helper()
	var ips []string
	for _, r := range reals {
		ips = append(ips, labIP[r])
	}
	l.configuredWith(t, tcpConfig(ips...), states)
}

// configuredWith makes xlbd run with cfg, and waits until each named server
// shows the wanted state.
func (l *daemonLab) configuredWith(t *testing.T, cfg string, states map[string]string) {
	t.Helper()
	switch {
	case l.d.cmd == nil:
		l.d.writeConfig(cfg)
		l.d.start()
	case cfg != l.config:
		l.d.writeConfig(cfg)
		l.d.signal(syscall.SIGHUP)
	}
	l.config = cfg
	testutil.WaitFor(t, fmt.Sprintf("backends %v", states), 15*time.Second, func() bool {
		b := l.d.backends()
		for name, st := range states {
			if b[labIP[name]].State != st {
				return false
			}
		}
		return true
	})
}

// metrics scrapes xlbd's Prometheus metrics on the director's own loopback.
func (l *daemonLab) metrics(t *testing.T) string {
	t.Helper()
	// http.Client dials from its own goroutines: make the socket in the
	// director's namespace explicitly.
	scraper := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = l.director.Do(func() (err error) {
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}}}
	resp, err := scraper.Get("http://127.0.0.1:9433/metrics")
	if err != nil {
		t.Fatalf("scrape metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// metric is the value of one series in the metrics text, -1 when absent.
func metric(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err == nil {
				return f
			}
		}
	}
	return -1
}

// TestDaemon runs xlbd on a director in front of TCP backends: a backend's
// failure, a reload that adds one, and a restart under load, each checked
// from the client's side and through xlbctl and the metrics.
func TestDaemon(t *testing.T) {
	testutil.RequirePriv(t)
	binaries(t)
	// The director answers ARP for the VIP (VRRP's job, tested elsewhere).
	lab := testutil.NewDRLab(t, "e2", testutil.DRSpec{VIP: vip, NoServers: true,
		Backends: testutil.DRBackends(testutil.AcceptOnLoopback, testutil.AcceptByRedirect, testutil.AcceptByRedirect)})
	l := &daemonLab{t: t, client: lab.Client, director: lab.Director, hosts: map[string]*testutil.Host{}, servers: map[string]*testutil.Server{}}
	for name := range labIP {
		l.hosts[name] = lab.Backend(name)
	}
	l.d = newDaemon(t, l.director, tcpConfig())
	client := l.client
	svcAddr := netip.AddrPortFrom(vip, 3306)

	t.Run("backend failure", func(t *testing.T) {
		l.serving(t, "db1", "db2")
		l.configured(t, map[string]string{"db1": "active", "db2": "active"}, "db1", "db2")
		var onDB2 []*testutil.Conn
		byBackend := map[string]int{}
		for i := 0; i < 40; i++ {
			c, err := testutil.Dial(client, svcAddr, 21000+i)
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			defer c.Close()
			byBackend[c.Backend]++
			if c.Backend == "db2" {
				onDB2 = append(onDB2, c)
			}
		}
		if byBackend["db1"] == 0 || byBackend["db2"] == 0 {
			t.Fatalf("40 connections did not reach both backends: %v", byBackend)
		}
		l.serving(t, "db2") // db1 dies
		// interval + (retry+1) x timeout + delay_before_retry = 1.7s at worst; slack for a busy machine.
		took := testutil.WaitFor(t, "db1 leaves the table", 5*time.Second, func() bool { return l.d.backends()["192.168.1.10"].State == "down" })
		t.Logf("db1 taken out %s after its server died", took.Round(10*time.Millisecond))
		for i, c := range onDB2 {
			if err := c.Echo("still-there"); err != nil {
				t.Fatalf("connection %d on db2 broken by db1's failure: %v", i, err)
			}
		}
		for i := 0; i < 20; i++ {
			c, err := testutil.Dial(client, svcAddr, 22000+i)
			if err != nil {
				t.Fatalf("new connection %d after db1 failed: %v", i, err)
			}
			if c.Backend != "db2" {
				t.Fatalf("new connection reached %s, the only live backend is db2", c.Backend)
			}
			c.Close()
		}
		if r := l.d.backends()["192.168.1.10"].Reason; !strings.Contains(r, "check failed") {
			t.Errorf("xlbctl backends reason for db1: %q", r)
		}
	})

	t.Run("reload adds a backend", func(t *testing.T) {
		l.serving(t, "db2", "db3")
		l.configured(t, map[string]string{"db1": "down", "db2": "active"}, "db1", "db2")
		var onDB2 []*testutil.Conn
		for i := 0; i < 10; i++ {
			c, err := testutil.Dial(client, svcAddr, 22100+i)
			if err != nil {
				t.Fatalf("connection %d before the reload: %v", i, err)
			}
			defer c.Close()
			onDB2 = append(onDB2, c)
		}
		l.configured(t, map[string]string{"db3": "active"}, "db1", "db2", "db3")
		seen := map[string]int{}
		for i := 0; i < 30; i++ {
			c, err := testutil.Dial(client, svcAddr, 23000+i)
			if err != nil {
				t.Fatalf("connection %d after reload: %v", i, err)
			}
			seen[c.Backend]++
			c.Close()
		}
		if seen["db3"] == 0 || seen["db1"] != 0 {
			t.Fatalf("new flows after adding db3: %v", seen)
		}
		for i, c := range onDB2 {
			if err := c.Echo("after-reload"); err != nil {
				t.Fatalf("old flow %d broken by the reload: %v", i, err)
			}
		}
	})

	t.Run("invalid reload keeps the running config", func(t *testing.T) {
		l.serving(t, "db2", "db3")
		l.configured(t, map[string]string{"db2": "active", "db3": "active"}, "db1", "db2", "db3")
		const refused = `xlb_config_reloads_total{result="refused"}`
		before := metric(l.metrics(t), refused)
		l.d.writeConfig("services:\n  - vip: not-an-address\n")
		l.d.signal(syscall.SIGHUP)
		testutil.WaitFor(t, "the reload counted as refused", 5*time.Second, func() bool { return metric(l.metrics(t), refused) == before+1 })
		if b := l.d.backends(); b["192.168.1.12"].State != "active" || b["192.168.1.11"].State != "active" {
			t.Fatalf("an invalid config changed the running state: %v", b)
		}
		l.d.writeConfig(l.config)
	})

	t.Run("a second xlbd on the interface exits", func(t *testing.T) {
		l.serving(t, "db2", "db3")
		l.configured(t, map[string]string{"db2": "active", "db3": "active"}, "db1", "db2", "db3")
		d := l.d
		second := d.host.Cmd(filepath.Join(binaries(t), "xlbd"), "run", "--config", d.config, "--pin-root", d.pinRoot,
			"--socket", d.socket, "--max-flows", "65536", "--metrics", "127.0.0.1:9434")
		var out bytes.Buffer
		second.Stdout, second.Stderr = &out, &out
		if err := second.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- second.Wait() }()
		select {
		case err := <-done:
			if err == nil {
				t.Fatalf("the second xlbd exited 0:\n%s", out.String())
			}
		case <-time.After(10 * time.Second):
			second.Process.Kill()
			<-done
			t.Fatalf("the second xlbd did not exit within 10s:\n%s", out.String())
		}
		if want := fmt.Sprintf("pid %d", d.cmd.Process.Pid); !strings.Contains(out.String(), want) {
			t.Fatalf("the second xlbd's message does not name the holder (%s):\n%s", want, out.String())
		}
		t.Logf("second xlbd: %s", strings.TrimSpace(out.String()))
		if b := d.backends(); b["192.168.1.11"].State != "active" || b["192.168.1.12"].State != "active" {
			t.Fatalf("the first xlbd's state changed: %v", b)
		}
		c, err := testutil.Dial(client, svcAddr, 23900)
		if err != nil {
			t.Fatalf("forwarding after the second xlbd tried: %v", err)
		}
		c.Close()
	})

	t.Run("restart under load", func(t *testing.T) {
		l.serving(t, "db2", "db3")
		l.configured(t, map[string]string{"db1": "down", "db2": "active", "db3": "active"}, "db1", "db2", "db3")
		const n = 100
		conns := make([]*testutil.Conn, n)
		for i := range conns {
			c, err := testutil.Dial(client, svcAddr, 24000+i)
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			defer c.Close()
			conns[i] = c
		}
		var stop atomic.Bool
		var errs, echoes atomic.Int64
		var wg sync.WaitGroup
		var firstErr atomic.Value
		for i, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; !stop.Load() && j < 2000; j++ {
					if err := c.Echo(fmt.Sprintf("c%d-%d", i, j)); err != nil {
						errs.Add(1)
						firstErr.CompareAndSwap(nil, err)
						return
					}
					echoes.Add(1)
					time.Sleep(20 * time.Millisecond)
				}
			}()
		}
		time.Sleep(500 * time.Millisecond)
		l.d.stop(syscall.SIGTERM)
		time.Sleep(500 * time.Millisecond) // no daemon at all for a while
		l.d.start()
		testutil.WaitFor(t, "restarted xlbd serving", 15*time.Second, func() bool {
			b := l.d.backends()
			return b["192.168.1.11"].Weight == "1" && b["192.168.1.12"].Weight == "1"
		})
		// db1 was down before the restart: it must not come back as "up"
		// until a check says so, or new connections would meet a dead server.
		if st := l.d.backends()["192.168.1.10"].State; st != "down" {
			t.Errorf("db1 (dead) is %q after the restart, want down", st)
		}
		for i := 0; i < 20; i++ {
			c, err := testutil.Dial(client, svcAddr, 25000+i)
			if err != nil {
				t.Fatalf("new connection %d right after the restart: %v", i, err)
			}
			c.Close()
		}
		time.Sleep(time.Second)
		stop.Store(true)
		wg.Wait()
		t.Logf("%d echoes across the restart, %d errors", echoes.Load(), errs.Load())
		if errs.Load() != 0 {
			t.Fatalf("%d of %d connections broke during the restart; first: %v", errs.Load(), n, firstErr.Load())
		}
	})

	t.Run("metrics and xlbctl", func(t *testing.T) {
		l.serving(t, "db2", "db3")
		l.configured(t, map[string]string{"db1": "down", "db2": "active", "db3": "active"}, "db1", "db2", "db3")
		if c, err := testutil.Dial(client, svcAddr, 25500); err != nil {
			t.Fatalf("connection: %v", err)
		} else {
			c.Close()
		}
		metrics := l.metrics(t)
		for _, want := range []string{
			`xlb_service_packets_total{interface="eth0",service="192.168.1.30:3306/tcp"}`,
			`xlb_backend_up{backend="192.168.1.10",interface="eth0",service="192.168.1.30:3306/tcp"} 0`,
			`xlb_backend_up{backend="192.168.1.11",interface="eth0",service="192.168.1.30:3306/tcp"} 1`,
			`xlb_frames_total{interface="eth0",reason="drop_no_backend"}`,
			`xlb_flows{interface="eth0"}`,
			`xlb_backend_check_latency_seconds{backend="192.168.1.12",check="tcp"`,
			`xlb_backend_mac_refused_total{interface="eth0",reason="broadcast"} 0`,
			`xlb_backend_mac_events_total{event="attempts",interface="eth0"}`,
			`xlb_backend_state{backend="192.168.1.11",interface="eth0",service="192.168.1.30:3306/tcp",state="unresolved"} 0`,
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("metrics lack %s", want)
			}
		}

		out, err := l.d.ctl("services")
		if err != nil || !strings.Contains(out, "192.168.1.30:3306/tcp") {
			t.Fatalf("xlbctl services: %v\n%s", err, out)
		}
		t.Logf("xlbctl services:\n%s", out)
		out, _ = l.d.ctl("backends")
		t.Logf("xlbctl backends:\n%s", out)
		out, err = l.d.ctl("macs")
		if err != nil || !strings.Contains(out, l.hosts["db2"].MAC.String()) || !strings.Contains(out, "eth0: refused 0;") {
			t.Errorf("xlbctl macs: %v: want db2's MAC %s and no refusal\n%s", err, l.hosts["db2"].MAC, out)
		}
		t.Logf("xlbctl macs:\n%s", out)
	})

	t.Run("sorry server", func(t *testing.T) {
		// db3 is the sorry server (sorry_server, keepalived's default quorum
		// 1) of a service whose real servers are db1 and db2.
		l.serving(t, "db1", "db2", "db3")
		cfg := tcpConfig(labIP["db1"], labIP["db2"]) + "    sorry_server: {ip: " + labIP["db3"] + ", port: 3306}\n"
		l.configuredWith(t, cfg, map[string]string{"db1": "active", "db2": "active"})
		// Every connection is a new flow (its own source port) and says
		// which server answered it.
		answered := func(firstPort, n int) map[string]int {
			t.Helper()
			seen := map[string]int{}
			for i := 0; i < n; i++ {
				c, err := testutil.Dial(client, svcAddr, firstPort+i)
				if err != nil {
					t.Fatalf("connection %d: %v", i, err)
				}
				seen[c.Backend]++
				c.Close()
			}
			return seen
		}
		if seen := answered(27000, 20); seen["db3"] != 0 || seen["db1"] == 0 || seen["db2"] == 0 {
			t.Fatalf("with db1 and db2 up, 20 new connections went to %v: want db1 and db2, none to the sorry server db3", seen)
		}

		l.serving(t, "db3") // every real server dies
		took := testutil.WaitFor(t, "db1 and db2 down, the sorry server db3 in use", 10*time.Second, func() bool {
			b := l.d.backends()
			return b[labIP["db1"]].State == "down" && b[labIP["db2"]].State == "down" && b[labIP["db3"]].State == "active"
		})
		t.Logf("sorry server in use %s after the last real server died", took.Round(10*time.Millisecond))
		if seen := answered(27100, 20); seen["db3"] != 20 {
			t.Fatalf("with every real server down, 20 new connections went to %v: want all to the sorry server db3", seen)
		}

		l.serving(t, "db2", "db3") // db2 comes back
		took = testutil.WaitFor(t, "db2 active, the sorry server out", 10*time.Second, func() bool {
			b := l.d.backends()
			return b[labIP["db2"]].State == "active" && b[labIP["db3"]].State != "active"
		})
		t.Logf("sorry server out %s after db2 came back (xlbctl: %q)", took.Round(10*time.Millisecond), l.d.backends()[labIP["db3"]].Reason)
		if seen := answered(27200, 20); seen["db2"] != 20 {
			t.Fatalf("with db2 back, 20 new connections went to %v: want all to db2, none to the sorry server db3", seen)
		}
	})

	t.Run("detach", func(t *testing.T) {
		l.serving(t, "db2", "db3")
		l.configured(t, map[string]string{"db2": "active"}, "db1", "db2", "db3")
		// Stopping xlbd leaves forwarding on; `xlbd detach` takes it all away.
		d := l.d
		d.stop(syscall.SIGTERM)
		if c, err := testutil.Dial(client, svcAddr, 26000); err != nil {
			t.Fatalf("forwarding stopped with xlbd: %v", err)
		} else {
			c.Close()
		}
		if out, err := exec.Command(filepath.Join(binaries(t), "xlbd"), "detach", "--pin-root", d.pinRoot).CombinedOutput(); err != nil {
			t.Fatalf("xlbd detach: %v: %s", err, out)
		}
		if _, err := os.Stat(filepath.Join(d.pinRoot, "eth0")); !os.IsNotExist(err) {
			t.Fatalf("pins left after detach: %v", err)
		}
		err := l.director.Do(func() error {
			link, err := netlink.LinkByName("eth0")
			if err != nil {
				return err
			}
			if x := link.Attrs().Xdp; x != nil && x.Attached {
				t.Errorf("XDP program %d still attached after detach", x.ProgId)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
