package bench

import (
	"bytes"
	"errors"
	"image/png"
	"strings"
	"testing"
	"time"
)

const benchOut = `goos: linux
BenchmarkPerPacket-2   	 2000000	      1018 ns/op	        57.00 known-ns/pkt	         2.192 known/reflector	        26.00 reflector-ns/pkt
BenchmarkPerPacket-2   	 2000000	      1020 ns/op	        61.00 known-ns/pkt	         2.346 known/reflector	        26.00 reflector-ns/pkt
BenchmarkPerPacket-2   	 2000000	      1011 ns/op	        55.00 known-ns/pkt	         2.000 known/reflector	        27.50 reflector-ns/pkt
    bench_test.go:10: a log line mentioning BenchmarkPerPacket-2 1 2 x
BenchmarkVethPPS-2   	       1	8624153276 ns/op	    333374 xlb-pps	    300000 xlb-pps-min	    350000 xlb-pps-max
PASS
`

func TestParseBench(t *testing.T) {
	var r Results
	if err := ParseBench(strings.NewReader(benchOut), &r); err != nil {
		t.Fatal(err)
	}
	if want := []string{"BenchmarkPerPacket", "BenchmarkVethPPS"}; strings.Join(r.Names, ",") != strings.Join(want, ",") {
		t.Fatalf("names %v, want %v", r.Names, want)
	}
	cases := []struct {
		name, unit string
		want       Stat
	}{
		{"BenchmarkPerPacket", "known-ns/pkt", Stat{Median: 57, Min: 55, Max: 61, N: 3}},
		{"BenchmarkPerPacket", "reflector-ns/pkt", Stat{Median: 26, Min: 26, Max: 27.5, N: 3}},
		// Spread reported by the benchmark itself wins over the one value.
		{"BenchmarkVethPPS", "xlb-pps", Stat{Median: 333374, Min: 300000, Max: 350000, N: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name+"/"+tc.unit, func(t *testing.T) {
			got, ok := r.Get(tc.name, tc.unit)
			if !ok || got != tc.want {
				t.Fatalf("got %+v (found %v), want %+v", got, ok, tc.want)
			}
		})
	}
	if _, ok := r.Get("BenchmarkPerPacket", "no-such-unit"); ok {
		t.Fatal("a unit never reported was found")
	}
}

func TestStatFormat(t *testing.T) {
	cases := []struct {
		s    Stat
		want string
	}{
		{Stat{Median: 57, Min: 55, Max: 61}, "57.0 [55.0–61.0]"},
		{Stat{Median: 2.192, Min: 2.192, Max: 2.192}, "2.19"},
		{Stat{Median: 333374.4, Min: 300000, Max: 350000}, "333374 [300000–350000]"},
		{Stat{Median: 0.1234, Min: 0.1, Max: 0.2}, "0.123 [0.100–0.200]"},
	}
	for _, tc := range cases {
		if got := tc.s.Format(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.s, got, tc.want)
		}
	}
}

const sysbenchOut = `SQL statistics:
    queries performed:
        read:                            20000
    transactions:                        10000  (2500.50 per sec.)
    queries:                             20000  (5001.00 per sec.)
    ignored errors:                      3      (0.75 per sec.)

Latency histogram (values are in milliseconds)
       value  ------------- distribution ------------- count
       0.100 |****************************************  9000
       0.500 |****                                      850
       1.000 |*                                         100
       5.000 |*                                         50

Latency (ms):
         min:                                    0.09
`

func TestParseSysbench(t *testing.T) {
	got, err := ParseSysbench(sysbenchOut)
	if err != nil {
		t.Fatal(err)
	}
	// 10000 events: 95% (9500) are reached in the 0.5 ms bucket, 99% (9900)
	// in the 1 ms one.
	want := SysbenchResult{TPS: 2500.50, P95: 0.5, P99: 1, Errors: 0.75}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for name, out := range map[string]string{
		"no histogram":    strings.Split(sysbenchOut, "Latency histogram")[0],
		"no transactions": strings.Replace(sysbenchOut, "transactions:", "txns:", 1),
		"broken rate":     strings.Replace(sysbenchOut, "(2500.50 per sec.)", "(fast per sec.)", 1),
	} {
		if _, err := ParseSysbench(out); !errors.Is(err, ErrSysbenchOutput) {
			t.Errorf("%s: err %v, want ErrSysbenchOutput", name, err)
		}
	}
}

func TestParseFailovers(t *testing.T) {
	in := "=== RUN x\n    trials_test.go:171: FAILOVER keepalived->xlb v2-1s-SIGKILL: n=5 median=3.61s worst=3.9s best=3.502s\nok\n"
	got, err := ParseFailovers(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := Failover{Case: "keepalived->xlb v2-1s-SIGKILL", N: 5, Median: 3610 * time.Millisecond, Worst: 3900 * time.Millisecond, Best: 3502 * time.Millisecond}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("got %+v, want [%+v]", got, want)
	}
}

func TestMySQLChart(t *testing.T) {
	r := Results{Metrics: map[string]map[string][]float64{}}
	for i, th := range []string{"1", "4", "16", "64"} {
		m := map[string][]float64{}
		for j, tgt := range ChartTargets {
			// Lines at every slope, so the line drawing meets all its cases.
			m[tgt+"-tps"], m[tgt+"-p99-ms"] = []float64{float64(1000 * (i + 1) * (j + 1))}, []float64{float64(40 - 13*i + j)}
		}
		r.Metrics["BenchmarkMySQL/oltp_point_select/threads="+th] = m
	}
	var buf bytes.Buffer
	if err := MySQLChart(&r, []string{"oltp_point_select"}, &buf); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != panelW || b.Dy() != 2*panelH {
		t.Fatalf("chart is %v, want one column of two %dx%d panels", b, panelW, panelH)
	}
	// Each series must be drawn: count pixels of each series colour.
	for i, c := range chartColours {
		n := 0
		for y := 0; y < img.Bounds().Dy(); y++ {
			for x := 0; x < img.Bounds().Dx(); x++ {
				if r, g, bl, _ := img.At(x, y).RGBA(); uint8(r>>8) == c.R && uint8(g>>8) == c.G && uint8(bl>>8) == c.B {
					n++
				}
			}
		}
		if n < 100 {
			t.Errorf("series %s: %d pixels drawn", ChartTargets[i], n)
		}
	}
	if err := MySQLChart(&r, []string{"oltp_read_only"}, &buf); err == nil {
		t.Fatal("a chart of a test with no results drew without error")
	}
}
