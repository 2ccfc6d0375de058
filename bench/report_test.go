package bench

import (
	"strings"
	"testing"
	"time"
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

// TestReportBGP: the BGP section puts the BFD trial beside VRRP's SIGKILL
// cases of the same run (not SIGTERM: no failure to detect), shows the bulk
// sync, appears in the full report once, and `make bench-bgp` replaces it
// in BENCHMARKS.md leaving the rest alone.
func TestReportBGP(t *testing.T) {
	rep := &Report{Res: &Results{Metrics: map[string]map[string][]float64{
		"BenchmarkVethPPSDirectors": {"pps-1-directors": {200000}, "pps-2-directors": {190000}, "pps-3-directors": {185000}, "2/1-directors": {0.95}, "3/1-directors": {0.925}},
		"BenchmarkBulkSync1M":       {"sync-s": {9.5}, "flows/s": {105263}, "flows-held": {1e6}, "peer-flows": {1e6}, "requests": {1}, "datagrams-lost": {0}},
	}}, Failovers: []Failover{
		{Case: "bgp bfd-100msx3-SIGKILL+link-down", N: 5, Median: 310 * time.Millisecond},
		{Case: "keepalived->xlb v2-1s-SIGKILL", N: 5, Median: 3610 * time.Millisecond},
		{Case: "keepalived->xlb v2-1s-SIGTERM", N: 5, Median: 610 * time.Millisecond},
	}}
	var sec strings.Builder
	if err := rep.WriteBGP(&sec, true); err != nil {
		t.Fatal(err)
	}
	s := sec.String()
	for _, want := range []string{"| bgp bfd-100msx3-SIGKILL+link-down | 5 | 310ms", "| keepalived->xlb v2-1s-SIGKILL | 5 | 3.61s", "| 1000000 | 9.50 s | 105263 | 1000000 | 1 | 0 |", "| 3 | 185000 | 0.925 |"} {
		if !strings.Contains(s, want) {
			t.Errorf("section lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "SIGTERM") {
		t.Errorf("section shows a SIGTERM case:\n%s", s)
	}
	var full strings.Builder
	if err := rep.Write(&full); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(full.String(), BGPSectionBegin); n != 1 {
		t.Errorf("full report has the BGP section %d times", n)
	}
	if strings.Contains(full.String(), "| bgp bfd") && strings.Index(full.String(), "| bgp bfd") < strings.Index(full.String(), BGPSectionBegin) {
		t.Errorf("the BGP trial is in the VRRP table too")
	}

	doc := "# head\n\n" + BGPSectionBegin + "\nold figures\n" + BGPSectionEnd + "\n\n## after\n"
	got := SpliceSection(doc, s, BGPSectionBegin, BGPSectionEnd)
	if strings.Contains(got, "old figures") || !strings.Contains(got, "310ms") || !strings.HasPrefix(got, "# head") || !strings.HasSuffix(got, "## after\n") {
		t.Errorf("splice into a document with the section:\n%s", got)
	}
	if got := SpliceSection("# head\n", s, BGPSectionBegin, BGPSectionEnd); !strings.HasPrefix(got, "# head\n\n"+BGPSectionBegin) {
		t.Errorf("splice into a document without it:\n%s", got)
	}
}

// TestKeepSoakSection: a full report rewrite carries the soak section over,
// and a document without one gives nothing to carry.
func TestKeepSoakSection(t *testing.T) {
	soak := SoakSectionBegin + "\n\n## 7. Soak\n\n30m: 0 lost\n" + SoakSectionEnd
	old := "# old report\n\nold figures\n\n" + soak + "\n\n## after\n"
	kept := KeepSection(old, SoakSectionBegin, SoakSectionEnd)
	if kept != soak+"\n" {
		t.Fatalf("kept %q, want the section", kept)
	}
	got := SpliceSection("# new report\n\nnew figures\n", kept, SoakSectionBegin, SoakSectionEnd)
	if !strings.Contains(got, "new figures") || !strings.Contains(got, "30m: 0 lost") || strings.Contains(got, "old figures") {
		t.Errorf("merged report:\n%s", got)
	}
	if KeepSection("# no soak\n", SoakSectionBegin, SoakSectionEnd) != "" {
		t.Error("a document without a soak section gave one")
	}
}
