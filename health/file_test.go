package health

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFileCheckValues(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rs1.state")
	cases := []struct {
		name    string
		content *string // nil: no file
		cfg     FileConfig
		up      bool
		weight  int
		reason  string
	}{
		{name: "no file reads 0: up", cfg: FileConfig{}, up: true, reason: "reads 0"},
		{name: "0: up", content: ptr("0\n"), up: true},
		{name: "1 with weight 0: fault", content: ptr("1\n"), reason: "reads 1 (weight 0)"},
		{name: "text without a number reads 0", content: ptr("maintenance\n"), up: true, reason: "reads 0"},
		{name: "reverse: 0 is the fault", content: ptr("0"), cfg: FileConfig{Reverse: true}, reason: "reads 0 (weight 0 reverse)"},
		{name: "reverse: 5 is up", content: ptr("5"), cfg: FileConfig{Reverse: true}, up: true},
		{name: "weight 2: 3 adds 6", content: ptr("  3 trailing words"), cfg: FileConfig{Weight: 2, BaseWeight: 10}, up: true, weight: 16, reason: "weight 10+6 = 16"},
		{name: "hex", content: ptr("0x10"), cfg: FileConfig{Weight: 1, BaseWeight: 1}, up: true, weight: 17},
		{name: "octal as strtol base 0", content: ptr("010"), cfg: FileConfig{Weight: 1, BaseWeight: 0}, up: true, weight: 8},
		{name: "negative floors at 0: drained, still up", content: ptr("-50"), cfg: FileConfig{Weight: 1, BaseWeight: 10}, up: true, weight: 0},
		{name: "reverse weight subtracts", content: ptr("4"), cfg: FileConfig{Weight: 2, Reverse: true, BaseWeight: 10}, up: true, weight: 2},
		{name: "capped at the maximum", content: ptr("100000"), cfg: FileConfig{Weight: 1, BaseWeight: 1}, up: true, weight: 65535},
		{name: "-2^31 is keepalived's fault weight", content: ptr("-2147483648"), cfg: FileConfig{Weight: 1, BaseWeight: 10}, reason: "reads -2147483648 x weight 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_ = os.Remove(path)
			if tc.content != nil {
				if err := os.WriteFile(path, []byte(*tc.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			tc.cfg.Path = path
			c, err := NewFile(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := c.Check(context.Background())
			if r.OK != tc.up || !strings.Contains(r.Reason, tc.reason) || (tc.cfg.Weight != 0 && r.OK && (!r.WeightSet || r.Weight != tc.weight)) {
				t.Fatalf("got %+v, want up=%v weight %d reason ~%q", r, tc.up, tc.weight, tc.reason)
			}
			if !r.OK && !errors.Is(r.Err, ErrFileFault) {
				t.Fatalf("down without ErrFileFault: %+v", r)
			}
			if tc.cfg.Weight == 0 && r.WeightSet {
				t.Fatalf("weight 0 sets a weight: %+v", r)
			}
		})
	}
}

func ptr(s string) *string { return &s }

// A number keepalived refuses (beyond 32 bits) leaves the previous value.
func TestFileCheckIgnoresHugeNumbers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w")
	c, err := NewFile(FileConfig{Path: path, Weight: 1, BaseWeight: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		content string
		weight  int
		reason  string
	}{
		{"3", 8, "reads 3"},
		{"4294967297", 8, "previous value kept"},
		{"99999999999999999999999", 8, "previous value kept"},
		{strings.Repeat(" ", 200) + "7", 5, "reads 0"}, // the number is past keepalived's 127 bytes
	} {
		if err := os.WriteFile(path, []byte(step.content), 0o644); err != nil {
			t.Fatal(err)
		}
		if r := c.Check(context.Background()); !r.OK || r.Weight != step.weight || !strings.Contains(r.Reason, step.reason) {
			t.Fatalf("after %.30q: %+v, want weight %d ~%q", step.content, r, step.weight, step.reason)
		}
	}
}

// TestFileCheckFollowsTheFileAtOnce: with keepalived's delay_loop of 60 s
// the monitor still marks the server down and up within moments of the file
// changing, as keepalived's inotify watch does.
func TestFileCheckFollowsTheFileAtOnce(t *testing.T) {
	noLeak(t)
	path := filepath.Join(t.TempDir(), "maint")
	c, err := NewFile(FileConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	tm, err := KeepalivedTiming("FILE_CHECK", 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMonitor("rs", c, tm, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	verdicts := runMonitor(t, m, 8)
	if v := waitVerdict(t, verdicts, time.Second); !v.Up || !v.Initial {
		t.Fatalf("initial: %+v", v)
	}
	time.Sleep(100 * time.Millisecond) // the first round has read "no file"
	for i, step := range []struct {
		write func() error
		up    bool
	}{
		{func() error { return os.WriteFile(path, []byte("1\n"), 0o644) }, false},
		{func() error { return os.Remove(path) }, true},
		{func() error { // written elsewhere and renamed in, as config tools do
			tmp := path + ".tmp"
			if err := os.WriteFile(tmp, []byte("2"), 0o644); err != nil {
				return err
			}
			return os.Rename(tmp, path)
		}, false},
	} {
		start := time.Now()
		if err := step.write(); err != nil {
			t.Fatal(err)
		}
		v := waitVerdict(t, verdicts, 2*time.Second)
		if v.Up != step.up {
			t.Fatalf("step %d: %+v, want up=%v", i, v, step.up)
		}
		t.Logf("step %d: %v after the change: %s", i, time.Since(start).Round(time.Millisecond), v.Reason)
	}
}

func TestFileConfigErrors(t *testing.T) {
	for name, cfg := range map[string]FileConfig{
		"no path":           {},
		"missing directory": {Path: "/nonexistent-xlb-dir/file"},
		"base weight":       {Path: filepath.Join(t.TempDir(), "f"), BaseWeight: 70000},
	} {
		if _, err := NewFile(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestStrtol(t *testing.T) {
	for in, want := range map[string]int64{
		"": 0, "12": 12, " \t\n-7x": -7, "+5": 5, "0x1f": 31, "0X1F": 31, "0x": 0, "017": 15, "09": 0, "abc": 0,
	} {
		if got, ok := strtol(in); !ok || got != want {
			t.Errorf("strtol(%q) = %d %v, want %d", in, got, ok, want)
		}
	}
	if _, ok := strtol("9223372036854775808"); ok {
		t.Error("64-bit overflow accepted")
	}
}
