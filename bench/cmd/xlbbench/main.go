// Command xlbbench runs every xlb benchmark (`go test -bench` over loader,
// control and bench, and control/vrrp's failover trials), then prints one
// markdown report and writes it, with a PNG chart, for BENCHMARKS.md. Run it
// as root from the module root: `make bench`.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"xlb/bench"
)

type step struct {
	name     string
	env      []string
	args     []string
	failover bool // parse control/vrrp's FAILOVER lines instead of benchmarks
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "xlbbench:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("xlbbench", flag.ContinueOnError)
	out := fs.String("o", "BENCHMARKS.md", "markdown report to write")
	chart := fs.String("chart", "bench/mysql.png", "PNG chart of the MySQL results to write")
	logs := fs.String("logs", filepath.Join(os.TempDir(), "xlbbench"), "directory for each step's raw output")
	count := fs.Int("count", 5, "runs of each per-packet and control-plane benchmark")
	pktTime := fs.String("pkt-benchtime", "2000000x", "-benchtime of the BPF_PROG_TEST_RUN benchmarks (packets per run)")
	trials := fs.Int("vrrp-trials", 5, "VRRP failover trials per case")
	reuse := fs.Bool("reuse", false, "do not run: rebuild the report from the logs of an earlier run in -logs")
	only := fs.String("steps", "", "comma-separated steps to run (default all): "+strings.Join(stepNames(), ","))
	section := fs.String("section", "", "bgp: run only the BGP section's steps ("+strings.Join(bgpSteps, ",")+") and replace that section of -o, keeping the rest")
	if err := fs.Parse(args); err != nil {
		return err
	}
	goBin := os.Getenv("GO")
	if goBin == "" {
		goBin = "go"
	}
	steps := allSteps(*count, *pktTime, *trials)
	switch *section {
	case "":
	case "bgp":
		*only = strings.Join(bgpSteps, ",")
	default:
		return fmt.Errorf("-section %q: the only section run alone is bgp", *section)
	}
	if *only != "" {
		want := strings.Split(*only, ",")
		steps = slices.DeleteFunc(steps, func(s step) bool { return !slices.Contains(want, s.name) })
	}
	if err := os.MkdirAll(*logs, 0o755); err != nil {
		return err
	}

	rep := &bench.Report{Res: &bench.Results{}, Env: machine()}
	if slices.ContainsFunc(steps, func(s step) bool { return s.name == "mysql" }) {
		rep.Env.Notes = append(rep.Env.Notes, fmt.Sprintf("MySQL: sysbench runs of %s s, %s rounds per cell (XLB_BENCH_SECONDS, XLB_BENCH_ROUNDS)",
			envOr("XLB_BENCH_SECONDS", "4"), envOr("XLB_BENCH_ROUNDS", "3")))
	}
	var failed []string
	for _, s := range steps {
		cmdline := strings.TrimSpace(strings.Join(s.env, " ") + " " + goBin + " " + strings.Join(s.args, " "))
		rep.Env.Commands = append(rep.Env.Commands, cmdline)
		fmt.Fprintf(stderr, "== %s: %s\n", s.name, cmdline)
		start := time.Now()
		logPath := filepath.Join(*logs, s.name+".log")
		var output []byte
		var err error
		if *reuse {
			output, err = os.ReadFile(logPath)
		} else {
			output, err = runStep(goBin, s, stderr)
			if werr := os.WriteFile(logPath, output, 0o644); werr != nil {
				return werr
			}
		}
		fmt.Fprintf(stderr, "== %s done in %v (log %s)\n", s.name, time.Since(start).Round(time.Second), logPath)
		if err != nil {
			failed = append(failed, s.name)
			rep.Env.Notes = append(rep.Env.Notes, fmt.Sprintf("**step %s failed** (%v): its figures are missing or partial; log %s", s.name, err, logPath))
		}
		if s.failover {
			fo, perr := bench.ParseFailovers(bytes.NewReader(output))
			if perr != nil {
				return perr
			}
			rep.Failovers = append(rep.Failovers, fo...)
		} else if perr := bench.ParseBench(bytes.NewReader(output), rep.Res); perr != nil {
			return perr
		}
	}

	if *section == "bgp" {
		return writeSection(rep, *out, stdout, failed)
	}
	if _, ok := rep.Res.Metrics["BenchmarkMySQL/oltp_point_select/threads=1"]; ok {
		var png bytes.Buffer
		if err := bench.MySQLChart(rep.Res, bench.SysbenchTests, &png); err != nil {
			rep.Env.Notes = append(rep.Env.Notes, "no chart: "+err.Error())
		} else if err := os.WriteFile(*chart, png.Bytes(), 0o644); err != nil {
			return err
		} else if rel, err := filepath.Rel(filepath.Dir(*out), *chart); err == nil {
			rep.Env.ChartPath = rel
		}
	}
	var md bytes.Buffer
	if err := rep.Write(&md); err != nil {
		return err
	}
	// The soak section comes from `make soak`, not from these steps: keep it.
	if old, err := os.ReadFile(*out); err == nil {
		if soak := bench.KeepSection(string(old), bench.SoakSectionBegin, bench.SoakSectionEnd); soak != "" {
			merged := bench.SpliceSection(md.String(), soak, bench.SoakSectionBegin, bench.SoakSectionEnd)
			md.Reset()
			md.WriteString(merged)
		}
	}
	if _, err := stdout.Write(md.Bytes()); err != nil {
		return err
	}
	if err := os.WriteFile(*out, md.Bytes(), 0o644); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("steps failed: %s (the report says which figures are missing)", strings.Join(failed, ", "))
	}
	return nil
}

func allSteps(count int, pktTime string, trials int) []step {
	c := fmt.Sprint(count)
	priv := "XLB_REQUIRE_PRIV=1"
	return []step{
		{name: "packet", env: []string{priv}, args: []string{"test", "-run", "^$", "-bench", "^Benchmark(PerPacket|Floor|Scale|ProgramSize|FlowTable1M|FlowPaths)$",
			"-benchtime", pktTime, "-count", c, "-timeout", "20m", "./loader/"}},
		{name: "maglev", args: []string{"test", "-run", "^$", "-bench", "^BenchmarkBuild$", "-count", c, "./control/maglev/"}},
		{name: "verdict", env: []string{priv}, args: []string{"test", "-run", "^$", "-bench", "^BenchmarkVerdictToKernel$", "-benchtime", "1x", "-count", c, "./control/"}},
		{name: "veth", env: []string{priv}, args: []string{"test", "-run", "^$", "-bench", "^BenchmarkVethPPS$", "-benchtime", "1x", "-count", "1", "-timeout", "10m", "./bench/"}},
		{name: "mysql", env: []string{priv}, args: []string{"test", "-run", "^$", "-bench", "^BenchmarkMySQL$", "-benchtime", "1x", "-count", "1", "-timeout", "30m", "./bench/"}},
		{name: "detect", env: []string{priv}, args: []string{"test", "-run", "^$", "-bench", "^BenchmarkMySQLDetection$", "-benchtime", "1x", "-count", "1", "./bench/"}},
		{name: "vrrp", env: []string{priv, fmt.Sprintf("XLB_VRRP_TRIALS=%d", trials)}, failover: true,
			args: []string{"test", "-run", "^TestFailoverTrials", "-v", "-count", "1", "-timeout", "15m", "./control/vrrp/"}},
		{name: "bgp", env: []string{priv, fmt.Sprintf("XLB_BGP_TRIALS=%d", trials)}, failover: true,
			args: []string{"test", "-run", "^TestFailoverTrialsBFD$", "-v", "-count", "1", "-timeout", "10m", "./control/bgp/"}},
		{name: "directors", env: []string{priv}, args: []string{"test", "-run", "^$", "-bench", "^BenchmarkVethPPSDirectors$", "-benchtime", "1x", "-count", "1", "-timeout", "10m", "./bench/"}},
		{name: "bulksync", env: []string{priv}, args: []string{"test", "-run", "^$", "-bench", "^BenchmarkBulkSync1M$", "-benchtime", "1x", "-count", "1", "-timeout", "15m", "./control/flowsync/"}},
	}
}

// bgpSteps are the steps of the BGP section (make bench-bgp): the VRRP
// trials run too, so both failovers come from one run.
var bgpSteps = []string{"vrrp", "bgp", "directors", "bulksync"}

// writeSection prints the BGP section and puts it in place of the one in
// out (appended when out has none), leaving the rest of the file as it is.
func writeSection(rep *bench.Report, out string, stdout io.Writer, failed []string) error {
	var sec bytes.Buffer
	if err := rep.WriteBGP(&sec, true); err != nil {
		return err
	}
	if _, err := stdout.Write(sec.Bytes()); err != nil {
		return err
	}
	doc, err := os.ReadFile(out)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	merged := bench.SpliceSection(string(doc), sec.String(), bench.BGPSectionBegin, bench.BGPSectionEnd)
	if err := os.WriteFile(out, []byte(merged), 0o644); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("steps failed: %s (the section says which figures are missing)", strings.Join(failed, ", "))
	}
	return nil
}

func stepNames() []string {
	var n []string
	for _, s := range allSteps(1, "1x", 1) {
		n = append(n, s.name)
	}
	return n
}

// runStep runs one `go test`, echoing result lines as they come so a long
// run shows progress, and returns the whole output.
func runStep(goBin string, s step, progress io.Writer) ([]byte, error) {
	cmd := exec.Command(goBin, s.args...)
	cmd.Env = append(os.Environ(), s.env...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var all bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(io.TeeReader(pr, &all))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			l := sc.Text()
			if strings.HasPrefix(l, "Benchmark") || strings.Contains(l, "FAILOVER") || strings.HasPrefix(l, "--- FAIL") || strings.HasPrefix(l, "FAIL") {
				fmt.Fprintln(progress, "   ", l)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	return all.Bytes(), err
}

// machine describes where the figures come from.
func machine() bench.Env {
	e := bench.Env{Date: time.Now().UTC().Format("2006-01-02 15:04 MST"), Go: runtime.Version()}
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "unknown memory"
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		if _, err := fmt.Sscanf(string(data), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	load := ""
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = ", load average at start " + strings.Join(strings.Fields(string(data))[:3], " ")
	}
	e.Machine = fmt.Sprintf("%d CPUs (nproc), %s, %s RAM%s", runtime.NumCPU(), model, mem, load)
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		e.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	return e
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
