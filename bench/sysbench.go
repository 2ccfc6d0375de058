package bench

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SysbenchResult is what one `sysbench ... run` measured.
type SysbenchResult struct {
	TPS      float64 // transactions per second
	P95, P99 float64 // latency percentiles in ms, from the histogram
	Errors   float64 // ignored errors per second
}

// ErrSysbenchOutput: the output lacks a figure the benchmark needs.
var ErrSysbenchOutput = errors.New("unexpected sysbench output")

// ParseSysbench reads the report of a run made with --histogram=on. The
// percentiles come from the histogram, since sysbench prints only one
// (--percentile) in its summary.
func ParseSysbench(out string) (SysbenchResult, error) {
	var r SysbenchResult
	var hist []struct{ ms, n float64 }
	var total float64
	haveTPS := false
	inHist := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.Contains(line, "distribution") && strings.HasPrefix(line, "value"):
			inHist = true
		case inHist && strings.Contains(line, "|"):
			f := strings.Fields(line)
			ms, err1 := strconv.ParseFloat(f[0], 64)
			n, err2 := strconv.ParseFloat(f[len(f)-1], 64)
			if err1 != nil || err2 != nil {
				return r, fmt.Errorf("%w: histogram line %q", ErrSysbenchOutput, line)
			}
			hist = append(hist, struct{ ms, n float64 }{ms, n})
			total += n
		case inHist:
			inHist = false
		case strings.HasPrefix(line, "transactions:"):
			v, err := perSec(line)
			if err != nil {
				return r, err
			}
			r.TPS, haveTPS = v, true
		case strings.HasPrefix(line, "ignored errors:"):
			v, err := perSec(line)
			if err != nil {
				return r, err
			}
			r.Errors = v
		}
	}
	if !haveTPS {
		return r, fmt.Errorf("%w: no transactions line", ErrSysbenchOutput)
	}
	if total == 0 {
		return r, fmt.Errorf("%w: no latency histogram (run with --histogram=on)", ErrSysbenchOutput)
	}
	r.P95, r.P99 = percentile(hist, total, 0.95), percentile(hist, total, 0.99)
	return r, nil
}

// perSec reads "name: N (R per sec.)".
func perSec(line string) (float64, error) {
	i, j := strings.Index(line, "("), strings.Index(line, " per sec.")
	if i < 0 || j < i {
		return 0, fmt.Errorf("%w: %q", ErrSysbenchOutput, line)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(line[i+1:j]), 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q: %w", ErrSysbenchOutput, line, err)
	}
	return v, nil
}

// percentile is the smallest histogram bucket at or below which a share q
// of the events fell (sysbench's own rule for --percentile).
func percentile(hist []struct{ ms, n float64 }, total, q float64) float64 {
	var seen float64
	for _, h := range hist {
		seen += h.n
		if seen >= q*total {
			return h.ms
		}
	}
	return hist[len(hist)-1].ms
}
