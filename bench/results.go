package bench

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Results are benchmark metrics by benchmark name (without the -GOMAXPROCS
// suffix) and unit, one value per run (-count).
type Results struct {
	Names   []string // in the order they first appeared
	Metrics map[string]map[string][]float64
}

// Stat is a metric summarized over runs.
type Stat struct {
	Median, Min, Max float64
	N                int // values the median is over
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// ParseBench reads `go test -bench` output, ignoring every line that is not
// a benchmark result.
func ParseBench(r io.Reader, into *Results) error {
	if into.Metrics == nil {
		into.Metrics = map[string]map[string][]float64{}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := procsSuffix.ReplaceAllString(f[0], "")
		m := into.Metrics[name]
		if m == nil {
			m = map[string][]float64{}
			into.Metrics[name] = m
			into.Names = append(into.Names, name)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return fmt.Errorf("benchmark %s: value %q: %w", name, f[i], err)
			}
			m[f[i+1]] = append(m[f[i+1]], v)
		}
	}
	return sc.Err()
}

// Get summarizes one metric. A benchmark that measured its own repeats
// reports unit-min and unit-max beside the median: then the spread is theirs
// (widened over runs), and the median is the median of the medians.
func (r *Results) Get(name, unit string) (Stat, bool) {
	v := r.Metrics[name][unit]
	if len(v) == 0 {
		return Stat{}, false
	}
	s := Stat{Median: Median(v), Min: slices.Min(v), Max: slices.Max(v), N: len(v)}
	if lo := r.Metrics[name][unit+"-min"]; len(lo) > 0 {
		s.Min = slices.Min(lo)
	}
	if hi := r.Metrics[name][unit+"-max"]; len(hi) > 0 {
		s.Max = slices.Max(hi)
	}
	return s, true
}

// Median of v (v is not modified).
func Median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Format prints a statistic as "median [min–max]", with digits suited to
// its size, or "median" alone when min and max are the same.
func (s Stat) Format() string {
	if s.Min == s.Max {
		return num(s.Median)
	}
	return fmt.Sprintf("%s [%s–%s]", num(s.Median), num(s.Min), num(s.Max))
}

func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1000:
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

// Failover is one line of the VRRP trial tests' summary.
type Failover struct {
	Case                string
	N                   int
	Median, Best, Worst time.Duration
}

var failoverLine = regexp.MustCompile(`FAILOVER (.+): n=(\d+) median=(\S+) worst=(\S+) best=(\S+)`)

// ParseFailovers reads the "FAILOVER case: n= median= worst= best=" lines
// that control/vrrp's trial tests log.
func ParseFailovers(r io.Reader) ([]Failover, error) {
	var out []Failover
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := failoverLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		f := Failover{Case: m[1]}
		f.N, _ = strconv.Atoi(m[2])
		var err error
		for i, d := range []*time.Duration{&f.Median, &f.Worst, &f.Best} {
			if *d, err = time.ParseDuration(m[3+i]); err != nil {
				return nil, fmt.Errorf("failover line %q: %w", sc.Text(), err)
			}
		}
		out = append(out, f)
	}
	return out, sc.Err()
}
