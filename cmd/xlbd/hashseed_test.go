package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"xlb/control/daemon"
)

func writeSeed(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "seed")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadHashSeed(t *testing.T) {
	a, err := readHashSeed(writeSeed(t, "0123456789abcdef\n", 0o600))
	if err != nil {
		t.Fatal(err)
	}
	// Surrounding white space is not part of the seed: a file written by
	// echo and one written by printf give both directors the same seed.
	b, err := readHashSeed(writeSeed(t, "  0123456789abcdef", 0o400))
	if err != nil {
		t.Fatal(err)
	}
	c, err := readHashSeed(writeSeed(t, "0123456789abcdeF", 0o600))
	if err != nil {
		t.Fatal(err)
	}
	if a != b || a == c || a == 0 {
		t.Fatalf("seeds %#x %#x %#x: want the first two equal, the third different, none 0", a, b, c)
	}
	for _, tc := range []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"short", "abc1234\n", 0o600, "7 characters, want at least 8"},
		{"empty", "\n", 0o600, "0 characters"},
		{"group readable", "0123456789abcdef", 0o640, "mode 0640 lets group or others read it"},
		{"world readable", "0123456789abcdef", 0o604, "mode 0604"},
		{"too long", strings.Repeat("a", 5000), 0o600, "longer than 4096 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readHashSeed(writeSeed(t, tc.content, tc.mode))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "flow hash seed") {
				t.Fatalf("err %v, want one naming the flow hash seed and %q", err, tc.want)
			}
		})
	}
	if _, err := readHashSeed(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing file accepted")
	}
	if _, err := readHashSeed(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("directory: err %v", err)
	}
}

// runFlags parses xlbd run's flags as xlbd does and returns the daemon's
// options, without starting the daemon.
func runFlags(t *testing.T, args ...string) (daemon.Options, error) {
	t.Helper()
	app := newApp(io.Discard, io.Discard)
	var opts daemon.Options
	var optsErr error
	for _, cmd := range app.Commands {
		if cmd.Name == "run" {
			cmd.Action = func(c *cli.Context) error {
				opts, optsErr = runOptions(c)
				return nil
			}
		}
	}
	if err := app.Run(append([]string{"xlbd", "run", "--config", "/dev/null"}, args...)); err != nil {
		t.Fatal(err)
	}
	return opts, optsErr
}

// TestRunHashSeedFlag: --hash-seed-file's seed reaches the daemon's options
// (and from there loader.Options: control/daemon's TestLoaderOptionsHashSeed);
// without the flag the seed is 0, the public default; a refused file stops
// xlbd before it loads anything.
func TestRunHashSeedFlag(t *testing.T) {
	p := writeSeed(t, "a7f3c9e1d2b4a6c8", 0o600)
	want, err := readHashSeed(p)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := runFlags(t, "--hash-seed-file", p)
	if err != nil || opts.HashSeed != want {
		t.Fatalf("seed %#x err %v, want %#x", opts.HashSeed, err, want)
	}
	if opts, err := runFlags(t); err != nil || opts.HashSeed != 0 {
		t.Fatalf("no flag: seed %#x err %v, want 0", opts.HashSeed, err)
	}
	if _, err := runFlags(t, "--hash-seed-file", writeSeed(t, "a7f3c9e1d2b4a6c8", 0o644)); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable seed file: err %v", err)
	}
}
