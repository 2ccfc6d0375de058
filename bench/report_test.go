package bench

import (
	"strings"
	"testing"
)

// TestReportMySQLFwd: the MySQL table shows the bare forwarder's tps and
// xlb/fwd beside xlb/direct and xlb/HAProxy, and results from before the
// forwarder was measured still render (a dash in its columns).
func TestReportMySQLFwd(t *testing.T) {
	cell := func(withFwd bool) map[string][]float64 {
		m := map[string][]float64{
			"xlb-tps": {900}, "direct-tps": {1000}, "haproxy-tps": {500},
			"xlb/direct": {0.9}, "xlb/haproxy": {1.8},
		}
		if withFwd {
			m["fwd-tps"], m["xlb/fwd"] = []float64{950}, []float64{0.947}
		}
		return m
	}
	r := &Results{Metrics: map[string]map[string][]float64{
		"BenchmarkMySQL/oltp_point_select/threads=1": cell(true),
		"BenchmarkMySQL/oltp_point_select/threads=4": cell(false),
	}}
	var b strings.Builder
	if err := (&Report{Res: r}).Write(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| xlb tps | fwd tps | direct tps | HAProxy tps | xlb/fwd | xlb/direct | xlb/HAProxy |",
		"| 1 | 900 | 950 | 1000 | 500 | 0.947 | 0.900 | 1.80 |",
		"| 4 | 900 | – | 1000 | 500 | – | 0.900 | 1.80 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
