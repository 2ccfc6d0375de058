package daemon

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"xlb/test/testutil"
)

// The alert rules and the dashboard under dist/ are checked against the
// metrics this collector really exports, and the rules against promtool.
const (
	rulesFile     = "../../dist/prometheus/xlb-rules.yml"
	rulesTestFile = "../../dist/prometheus/xlb-rules.test.yml"
	dashboardFile = "../../dist/grafana/xlb.json"
)

// exported is every metric name the collector describes.
func exported(t *testing.T) map[string]bool {
	ch := make(chan *prometheus.Desc, 64)
	go func() { collector{}.Describe(ch); close(ch) }()
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	names := map[string]bool{}
	for d := range ch {
		m := fq.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("no name in %s", d)
		}
		names[m[1]] = true
	}
	if len(names) < 10 {
		t.Fatalf("only %d metrics described: %v", len(names), names)
	}
	return names
}

var metricName = regexp.MustCompile(`\bxlb_[a-z_]+\b`)

// checkNames fails for each xlb_ name in expr that xlbd does not export, and
// for an expression that names none.
func checkNames(t *testing.T, where, expr string, names map[string]bool) {
	t.Helper()
	found := metricName.FindAllString(expr, -1)
	if len(found) == 0 {
		t.Errorf("%s: %q names no xlb metric", where, expr)
	}
	for _, n := range found {
		if !names[n] {
			t.Errorf("%s: %s is not a metric xlbd exports (expr %q)", where, n, expr)
		}
	}
}

type alertRules struct {
	Groups []struct {
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			Annotations map[string]string `yaml:"annotations"`
			Labels      map[string]string `yaml:"labels"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// Every rule names exported metrics, says what is wrong and what to do, and
// has a promtool unit test in which it fires.
func TestAlertRulesMatchMetrics(t *testing.T) {
	names := exported(t)
	var rules alertRules
	readYAML(t, rulesFile, &rules)
	var tests struct {
		Tests []struct {
			Name  string `yaml:"name"`
			Cases []struct {
				Alert string `yaml:"alertname"`
				Exp   []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, rulesTestFile, &tests)
	fires := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, c := range tc.Cases {
			fires[c.Alert] = fires[c.Alert] || len(c.Exp) > 0
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			checkNames(t, r.Alert, r.Expr, names)
			if r.Annotations["summary"] == "" || r.Annotations["runbook"] == "" {
				t.Errorf("%s: wants a summary and a runbook annotation: %v", r.Alert, r.Annotations)
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q", r.Alert, s)
			}
			if !fires[r.Alert] {
				t.Errorf("%s: no test in %s in which it fires", r.Alert, filepath.Base(rulesTestFile))
			}
		}
	}
	if n < 10 {
		t.Fatalf("%d rules read from %s", n, rulesFile)
	}
}

// promtool accepts the rules, and every unit test of them passes.
func TestAlertRulesPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if testutil.Strict() {
			t.Fatalf("promtool not installed, and %s=1 forbids skipping (scripts/install-deps.sh installs prometheus)", testutil.EnvRequirePriv)
		}
		t.Skip("skipping: promtool not installed (scripts/install-deps.sh installs prometheus)")
	}
	for _, args := range [][]string{{"check", "rules", filepath.Base(rulesFile)}, {"test", "rules", filepath.Base(rulesTestFile)}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = filepath.Dir(rulesFile)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SUCCESS") {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// Every query of the dashboard names metrics xlbd exports, and every panel
// has one.
func TestDashboardMatchesMetrics(t *testing.T) {
	names := exported(t)
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	}
	var dash struct {
		Title  string  `json:"title"`
		UID    string  `json:"uid"`
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if dash.Title == "" || dash.UID == "" {
		t.Errorf("dashboard wants a title and a uid: %q %q", dash.Title, dash.UID)
	}
	used := map[string]bool{}
	queries := 0
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			queries++
			checkNames(t, "panel "+p.Title, q.Expr, names)
			for _, n := range metricName.FindAllString(q.Expr, -1) {
				used[n] = true
			}
		}
	}
	for _, want := range []string{"xlb_service_packets_total", "xlb_backend_packets_total", "xlb_backend_state", "xlb_vrrp_master", "xlb_flows", "xlb_frames_total"} {
		if !used[want] {
			t.Errorf("no panel shows %s", want)
		}
	}
	if queries < 8 {
		t.Errorf("only %d queries", queries)
	}
}
