package config

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// finish runs load and fails the test if it has not returned within a
// generous bound: before the limits, these inputs ran for minutes, grew to
// gigabytes or crashed the process.
func finish(t *testing.T, load func() ([]string, error)) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type result struct {
		errs []string
		err  error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		errs, err := load()
		done <- result{errs, err}
	}()
	select {
	case r := <-done:
		t.Logf("finished in %v", time.Since(start))
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.errs
	case <-ctx.Done():
		t.Fatalf("still loading after %v", time.Since(start))
		return nil
	}
}

func loadErrs(path string) func() ([]string, error) {
	return func() ([]string, error) {
		_, _, err := LoadWith(path, Options{ConfigID: "x"})
		if err == nil {
			return nil, fmt.Errorf("%s loaded without error", path)
		}
		return errStrings(err), nil
	}
}

func wantFirst(t *testing.T, got []string, want string) {
	t.Helper()
	if len(got) == 0 || !strings.Contains(got[0], want) {
		t.Errorf("errors %q, want the first to contain %q", got, want)
	}
}

func TestLoadDevZero(t *testing.T) {
	got := finish(t, loadErrs("/dev/zero"))
	if len(got) != 1 || got[0] != "/dev/zero: file too big: more than 8 MiB, more than any configuration holds" {
		t.Errorf("errors %q", got)
	}
}

// Six files that each include *.conf, keepalived's own includes given no
// end: an include loop, found by real path (also through a symlink).
func TestIncludeLoops(t *testing.T) {
	dir := t.TempDir()
	for i := range 6 {
		body := fmt.Sprintf("include *.conf\nvrrp_instance V%d {\n}\n", i)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.conf", i)), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got := finish(t, loadErrs(filepath.Join(dir, "f0.conf")))
	want := filepath.Join(dir, "f0.conf") + ":1: include: include loop: " + filepath.Join(dir, "f0.conf") + " -> " + filepath.Join(dir, "f0.conf")
	if len(got) != 1 || got[0] != want {
		t.Errorf("errors %q\nwant %q", got, want)
	}

	link := t.TempDir()
	if err := os.WriteFile(filepath.Join(link, "a.conf"), []byte("include other/b.inc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(link, filepath.Join(link, "other")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(link, "b.inc"), []byte("include ../a.conf\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got = finish(t, loadErrs(filepath.Join(link, "a.conf")))
	wantFirst(t, got, "include loop: "+filepath.Join(link, "a.conf")+" -> "+filepath.Join(link, "other/b.inc")+" -> "+filepath.Join(link, "other/../a.conf"))

	// The same file included twice is no loop (a template used twice).
	twice := t.TempDir()
	if err := os.WriteFile(filepath.Join(twice, "main.conf"), []byte("$N=1\ninclude vs.inc\n$N=2\ninclude vs.inc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(twice, "vs.inc"), []byte("virtual_server 10.0.0.${N} 80 {\n lvs_method DR\n real_server 10.0.1.${N} 80 {\n }\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(twice, "g.conf"), []byte("global_defs {\n xlb_interface eth0\n}\ninclude main.conf\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := LoadWith(filepath.Join(twice, "g.conf"), Options{ConfigID: "x"})
	if err != nil || len(cfg.Services) != 2 || cfg.Services[1].Reals[0].IP != addr("10.0.1.2") {
		t.Errorf("template included twice: %v %+v", err, cfg)
	}
}

// Includes that multiply without a loop: 30 files each including the 30 of
// the next directory, three levels deep.
func TestIncludeFanOut(t *testing.T) {
	root := t.TempDir()
	for level := range 4 {
		d := filepath.Join(root, fmt.Sprint(level))
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		for i := range 30 {
			body := fmt.Sprintf("include ../%d/*.conf\n", level+1)
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("%d.conf", i)), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	main := filepath.Join(root, "main.conf")
	if err := os.WriteFile(main, []byte("include 0/*.conf\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := finish(t, loadErrs(main))
	if !slices.ContainsFunc(got, func(e string) bool { return strings.Contains(e, "include: more than 10000 files read") }) {
		t.Errorf("errors %q", got)
	}
}

// Big includes are refused once all files together pass the total limit.
func TestIncludeTotalSize(t *testing.T) {
	dir := t.TempDir()
	big := strings.Repeat("# padding\n", (7<<20)/10)
	var main strings.Builder
	for i := range 6 {
		name := fmt.Sprintf("big%d.inc", i)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(big), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&main, "include %s\n", name)
	}
	path := filepath.Join(dir, "main.conf")
	if err := os.WriteFile(path, []byte(main.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	got := finish(t, loadErrs(path))
	wantFirst(t, got, "main.conf:5: include: "+filepath.Join(dir, "big4.inc")+": file too big")
	wantFirst(t, got, "(the files of one load together hold at most 32 MiB)")
}

func TestNestingDepth(t *testing.T) {
	for name, data := range map[string]string{
		"bare braces":   strings.Repeat("{\n", 3_000_000),
		"keyword block": strings.Repeat("a{\n", 2_500_000),
		"one line":      strings.Repeat("a { ", 250) + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			got := finish(t, func() ([]string, error) {
				_, _, err := Parse("t.conf", []byte(data), FormatKeepalived)
				return errStrings(err), nil
			})
			if !strings.Contains(strings.Join(got, "\n"), "t.conf:") || !strings.Contains(strings.Join(got, "\n"), "blocks nested deeper than 32") {
				t.Errorf("errors %q", got)
			}
		})
	}
	// YAML nesting ends too (yaml.v3 limits its depth).
	got := finish(t, func() ([]string, error) {
		_, _, err := Parse("t.yaml", []byte("a: "+strings.Repeat("[", 3_000_000)), FormatYAML)
		return errStrings(err), nil
	})
	wantFirst(t, got, "t.yaml")
}

func TestTooManyStatements(t *testing.T) {
	got := finish(t, func() ([]string, error) {
		_, _, err := Parse("t.conf", []byte(strings.Repeat("a\n", 300_000)), FormatKeepalived)
		return errStrings(err), nil
	})
	if !strings.Contains(strings.Join(got, "\n"), "t.conf:200001: more than 200000 statements") {
		t.Errorf("errors %q", got[len(got)-3:])
	}
}

func TestLongLine(t *testing.T) {
	in := ka("vrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1\n }\n notify_master \"/bin/true " + strings.Repeat("x", 1100) + "\"\n}\n")
	_, _, err := Parse("t.conf", []byte(in), FormatKeepalived)
	diffLines(t, "long line", errStrings(err), []string{"t.conf:8: line longer than 1023 bytes (keepalived ignores such a line)"})
}

// Errors and warnings past 100 are counted, not printed.
func TestDiagCap(t *testing.T) {
	in := "global_defs {\n" + strings.Repeat(" no_such_global_keyword\n", 250) + "}\n" + strings.Repeat("}\n", 1000)
	_, warns, err := Parse("t.conf", []byte(in), FormatKeepalived)
	got := errStrings(err)
	if len(got) != 101 || got[100] != "t.conf: ... and 900 more errors" || !strings.HasPrefix(got[0], "t.conf:253: unexpected }") {
		t.Errorf("%d errors, first %q last %q", len(got), got[0], got[len(got)-1])
	}
	if len(warns) != 101 || warns[100].String() != "t.conf: ... and 150 more warnings" {
		t.Errorf("%d warnings, last %q", len(warns), warns[len(warns)-1])
	}
}
