package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"xlb/control/daemon"
	"xlb/internal/hashseed"
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
	want, err := hashseed.Read(p)
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
