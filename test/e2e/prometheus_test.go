package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"xlb/test/testutil"
)

// TestPrometheusAlert runs a real Prometheus, with dist/prometheus/xlb-rules.yml,
// scraping the xlbd of two VRRP directors in front of two backends:
// XlbBackendDown fires on both directors for the killed backend (and only for
// it) and resolves once it serves again; exactly one director is master, so
// neither VRRP master alert fires. The rule's `for` is cut from 30s to 2s so
// the test takes seconds; promtool's unit tests cover the shipped durations.
func TestPrometheusAlert(t *testing.T) {
	testutil.RequirePriv(t)
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		if testutil.Strict() {
			t.Fatalf("prometheus not installed, and %s=1 forbids skipping (scripts/install-deps.sh installs it)", testutil.EnvRequirePriv)
		}
		t.Skip("skipping: prometheus not installed (scripts/install-deps.sh installs it)")
	}
	binaries(t)
	seg := testutil.NewSegment(t, "pm")
	// Prometheus runs on the monitoring host and scrapes the directors over the segment.
	mon := seg.AddHost(t, "mon", "192.168.1.100/24")
	db1 := seg.AddHost(t, "db1", labIP["db1"]+"/24")
	db2 := seg.AddHost(t, "db2", labIP["db2"]+"/24")
	srv1 := testutil.Serve(t, db1, 3306, "db1")
	testutil.Serve(t, db2, 3306, "db2")
	var ds []*daemon
	for i, addr := range []string{"192.168.1.20", "192.168.1.21"} {
		director := seg.AddHost(t, fmt.Sprintf("lvs%d", i+1), addr+"/24")
		seg.AttachPassToPort(t, director)
		d := newDaemon(t, director, tcpConfig(labIP["db1"], labIP["db2"])+
			fmt.Sprintf("vrrp:\n  - {name: VI_1, interface: eth0, vrid: 52, priority: %d, advert_int: 1, vips: [192.168.1.30/24]}\n", 150-50*i))
		d.metrics = addr + ":9433"
		d.start()
		ds = append(ds, d)
	}
	for _, d := range ds {
		testutil.WaitFor(t, "both backends active", 15*time.Second, func() bool {
			b := d.backends()
			return b[labIP["db1"]].State == "active" && b[labIP["db2"]].State == "active"
		})
	}

	dir := t.TempDir()
	writeRules(t, filepath.Join(dir, "rules.yml"), map[string]string{"XlbBackendDown": "2s"})
	cfg := "global: {scrape_interval: 1s, evaluation_interval: 1s}\nrule_files: [rules.yml]\n" +
		"scrape_configs: [{job_name: xlb, static_configs: [{targets: ['192.168.1.20:9433', '192.168.1.21:9433']}]}]\n"
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := mon.Cmd(prom, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:9090")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				t.Logf("prometheus log:\n%s", lastLines(string(b), 30))
			}
		}
	})
	api := promAPI{host: mon}
	testutil.WaitFor(t, "prometheus scraping both directors", 30*time.Second, func() bool { return api.count("xlb_backend_up") == 4 })
	testutil.WaitFor(t, "one VRRP master over both directors", 15*time.Second, func() bool {
		return api.count("sum by (vrrp_instance) (xlb_vrrp_master) == 1") == 1
	})
	if a := api.backendDown(); a == nil || len(a) != 0 {
		t.Fatalf("XlbBackendDown with both backends up: %v (nil: no answer)", a)
	}

	srv1.Kill()
	killed := time.Now()
	firing := func(a map[string]string) bool {
		return a[labIP["db1"]+" 192.168.1.20:9433"] == "firing" && a[labIP["db1"]+" 192.168.1.21:9433"] == "firing"
	}
	testutil.WaitFor(t, "XlbBackendDown firing for db1 on both directors", 30*time.Second, func() bool { return firing(api.backendDown()) })
	t.Logf("XlbBackendDown fired %s after the kill (for: 2s, scrape and evaluation every 1s)", time.Since(killed).Round(100*time.Millisecond))
	if a := api.backendDown(); len(a) != 2 {
		t.Errorf("XlbBackendDown alerts %v: only db1 is down, seen by two directors", a)
	}
	if a := api.alerts(); a == nil || a["XlbVRRPNoMaster"] || a["XlbVRRPMultipleMasters"] {
		t.Errorf("a VRRP master alert with one master: %v", a)
	}

	testutil.Serve(t, db1, 3306, "db1")
	back := time.Now()
	// Once in a CI run under load the alert did not resolve within 30 s
	// though both xlbds logged db1 up again: say what Prometheus held.
	var last map[string]string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last XlbBackendDown answer %v (nil: none); series xlb_backend_state{state=\"down\"} == 1: %d; targets up: %d (-1: no answer)",
				last, api.count(`xlb_backend_state{state="down"} == 1`), api.count("up == 1"))
		}
	})
	testutil.WaitFor(t, "XlbBackendDown resolved", 30*time.Second, func() bool { last = api.backendDown(); return last != nil && len(last) == 0 })
	t.Logf("XlbBackendDown resolved %s after db1 served again", time.Since(back).Round(100*time.Millisecond))
}

// writeRules writes dist/prometheus/xlb-rules.yml with some rules' `for`
// replaced.
func writeRules(t *testing.T, path string, durations map[string]string) {
	t.Helper()
	b, err := os.ReadFile("../../dist/prometheus/xlb-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Name  string           `yaml:"name"`
			Rules []map[string]any `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	changed := 0
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			if d, ok := durations[fmt.Sprint(r["alert"])]; ok {
				r["for"] = d
				changed++
			}
		}
	}
	if changed != len(durations) {
		t.Fatalf("rules %v: %d found", durations, changed)
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// promAPI queries the Prometheus listening on host's loopback.
type promAPI struct{ host *testutil.Host }

func (p promAPI) get(path string, data any) error {
	c := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = p.host.Do(func() (err error) {
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}}}
	resp, err := c.Get("http://127.0.0.1:9090" + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return err
	}
	if r.Status != "success" {
		return fmt.Errorf("%s: status %s", path, r.Status)
	}
	return json.Unmarshal(r.Data, data)
}

// backendDown is the XlbBackendDown alerts, pending or firing, by "backend
// instance"; nil when Prometheus did not answer.
func (p promAPI) backendDown() map[string]string {
	var r struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"alerts"`
	}
	if err := p.get("/api/v1/alerts", &r); err != nil {
		return nil
	}
	out := map[string]string{}
	for _, a := range r.Alerts {
		if a.Labels["alertname"] == "XlbBackendDown" {
			out[a.Labels["backend"]+" "+a.Labels["instance"]] = a.State
		}
	}
	return out
}

// alerts is the names of every pending or firing alert; nil when Prometheus
// did not answer.
func (p promAPI) alerts() map[string]bool {
	var r struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
		} `json:"alerts"`
	}
	if err := p.get("/api/v1/alerts", &r); err != nil {
		return nil
	}
	out := map[string]bool{}
	for _, a := range r.Alerts {
		out[a.Labels["alertname"]] = true
	}
	return out
}

// count is the number of series an instant query returns (-1: no answer).
func (p promAPI) count(query string) int {
	var r struct {
		Result []any `json:"result"`
	}
	if err := p.get("/api/v1/query?query="+url.QueryEscape(query), &r); err != nil {
		return -1
	}
	return len(r.Result)
}
