package e2e

import (
	"context"
	"encoding/json"
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
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"xlb/control/api"
	"xlb/test/testutil"
)

// TestStatusPage opens xlbd's status page in headless Chromium, in front of
// two TCP backends and one VRRP instance: both backends show up; a killed
// backend shows down with its check's reason within a few seconds, without
// a reload; the VRRP state is the one `xlbctl vrrp` prints. It saves a
// screenshot (XLB_STATUS_SCREENSHOT names where; docs/status.png is one).
func TestStatusPage(t *testing.T) {
	testutil.RequirePriv(t)
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if testutil.Strict() {
			t.Fatalf("chromium not installed, and %s=1 forbids skipping (scripts/install-deps.sh installs it)", testutil.EnvRequirePriv)
		}
		t.Skip("skipping: chromium not installed (scripts/install-deps.sh installs it)")
	}
	binaries(t)
	lab := testutil.NewDRLab(t, "sp", testutil.DRSpec{VIP: vip, NoDirectorVIP: true, // VRRP adds it
		Backends: testutil.DRBackends(testutil.AcceptOnLoopback, testutil.AcceptByRedirect)})
	client, director, srv1 := lab.Client, lab.Director, lab.Servers[0]
	d := newDaemon(t, director, tcpConfig(labIP["db1"], labIP["db2"])+
		"vrrp:\n  - {name: VI_1, interface: eth0, vrid: 51, priority: 100, advert_int: 1, vips: [192.168.1.30/24]}\n")
	d.start()
	testutil.WaitFor(t, "xlbctl: VI_1 master", 15*time.Second, func() bool { return vrrpState(d, "VI_1") == "MASTER" })

	// A little traffic, so the charts have something to draw.
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 400 && !stop.Load(); i++ {
			if c, err := testutil.Dial(client, netip.AddrPortFrom(vip, 3306), 30000+i); err == nil {
				c.Echo("chart")
				c.Close()
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { stop.Store(true); wg.Wait() })

	page := "http://" + forwardInto(t, director, "127.0.0.1:9433") + "/"
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // root in CI; the page is xlbd's own
		chromedp.WindowSize(1280, 1000))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	up := func(ip string) chromedp.CSS {
		return chromedp.CSS(fmt.Sprintf(`tr[data-backend=%q][data-state="active"]`, ip))
	}
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(page), chromedp.WaitVisible(up(labIP["db1"])), chromedp.WaitVisible(up(labIP["db2"]))); err != nil {
		t.Fatalf("page with both backends up: %v", err)
	}
	// The marker survives only if the page is never reloaded.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.xlbMarker = "same page"`)); err != nil {
		t.Fatal(err)
	}
	t.Logf("page showed both backends up %s after opening it", time.Since(start).Round(10*time.Millisecond))

	srv1.Kill()
	killed := time.Now()
	downRow := fmt.Sprintf(`tr[data-backend=%q][data-state="down"]`, labIP["db1"])
	waitCtx, waitCancel := context.WithTimeout(ctx, 8*time.Second)
	defer waitCancel()
	if err := chromedp.Do(waitCtx, chromedp.WaitVisible(chromedp.CSS(downRow))); err != nil {
		t.Fatalf("page did not show db1 down within 8s of the kill: %v", err)
	}
	t.Logf("page showed db1 down %s after the kill", time.Since(killed).Round(10*time.Millisecond))
	reason, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(downRow+" td.reason")))
	if err != nil {
		t.Fatal(err)
	}
	banner, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#problems")))
	if err != nil {
		t.Fatal(err)
	}
	marker, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.xlbMarker || "reloaded"`))
	if err != nil {
		t.Fatal(err)
	}
	if marker != "same page" {
		t.Errorf("the page was reloaded (marker %q): it must refresh in place", marker)
	}
	if want := d.backends()[labIP["db1"]].Reason; !strings.Contains(reason, "check failed") || strings.TrimSpace(reason) != want {
		t.Errorf("db1's reason on the page %q, xlbctl says %q", reason, want)
	}
	if !strings.Contains(banner, "192.168.1.10 is down") || !strings.Contains(banner, "since") {
		t.Errorf("the problem banner does not say db1 is down and since when: %q", banner)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(up(labIP["db2"]))); err != nil {
		t.Errorf("db2 not shown up after db1's kill: %v", err)
	}

	checkWithoutScript(t, page, labIP["db1"])

	attr, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`tr[data-vrrp="VI_1"]`), "data-state"))
	if err != nil {
		t.Fatal(err)
	}
	if ctl := vrrpState(d, "VI_1"); attr.Value != ctl || ctl != "MASTER" {
		t.Errorf("VRRP VI_1 on the page %q, xlbctl vrrp %q: want both MASTER", attr.Value, ctl)
	}

	// Let the charts gather a few samples, then keep a picture.
	time.Sleep(3 * time.Second)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shot := os.Getenv("XLB_STATUS_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(os.TempDir(), "xlb-status.png")
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
}

// vrrpState is the instance's STATE column in `xlbctl vrrp`.
func vrrpState(d *daemon, name string) string {
	out, err := d.ctl("vrrp")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(out, "\n") {
		// INSTANCE INTERFACE VRID VERSION STATE ...
		if f := strings.Fields(line); len(f) > 4 && f[0] == name {
			return f[4]
		}
	}
	return ""
}

// forwardInto listens on the test's loopback and forwards each connection to
// addr inside host's namespace (xlbd's page is on the director's loopback,
// and the browser runs here). It returns the local address.
func forwardInto(t *testing.T, host *testutil.Host, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var up net.Conn
				if err := host.Do(func() (err error) {
					up, err = net.DialTimeout("tcp", addr, 2*time.Second)
					return err
				}); err != nil {
					return
				}
				defer up.Close()
				go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite() }()
				io.Copy(c, up)
			}()
		}
	}()
	return ln.Addr().String()
}

// checkWithoutScript reads the page as a client without JavaScript does (the
// server's HTML alone) and /status.json as a script does: both say the
// backend is down, and the JSON's event log says why.
func checkWithoutScript(t *testing.T, page, downIP string) {
	t.Helper()
	get := func(path string) []byte {
		resp, err := http.Get(page + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s %v", path, resp.Status, err)
		}
		return b
	}
	if html := string(get("")); !strings.Contains(html, fmt.Sprintf(`data-backend=%q data-state="down"`, downIP)) ||
		!strings.Contains(html, `<noscript><meta http-equiv="refresh"`) {
		t.Errorf("the server-rendered page does not show %s down, or does not refresh itself without JavaScript", downIP)
	}
	var st api.Status
	if err := json.Unmarshal(get("status.json"), &st); err != nil {
		t.Fatalf("status.json: %v", err)
	}
	var state string
	for _, svc := range st.Services {
		for _, b := range svc.Backends {
			if b.IP.String() == downIP {
				state = b.State
				if b.Since.IsZero() {
					t.Errorf("status.json: %s has no since", downIP)
				}
			}
		}
	}
	if state != "down" {
		t.Errorf("status.json: %s is %q, want down", downIP, state)
	}
	found := false
	for _, e := range st.Events {
		found = found || (e.Kind == api.EventBackend && strings.HasSuffix(e.Subject, " "+downIP) && e.To == "down" && strings.Contains(e.Reason, "check failed"))
	}
	if !found {
		t.Errorf("status.json: no event says %s went down and why: %+v", downIP, st.Events)
	}
}
