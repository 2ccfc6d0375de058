package daemon

import (
	"os"
	"path/filepath"
	"testing"

	"xlb/control/config"
	"xlb/internal/hashseed"
	"xlb/loader"
)

// TestLoaderOptionsHashSeed: the seed xlbd is given is the one the data
// plane is loaded with, and the other options travel with it.
func TestLoaderOptionsHashSeed(t *testing.T) {
	o := Options{HashSeed: 0x5eed1234, PinRoot: "/sys/fs/bpf/x", Mode: loader.Generic, MaxFlows: 4096}
	got := o.loaderOptions(true)
	if got.HashSeed != 0x5eed1234 || got.PinRoot != o.PinRoot || got.Mode != loader.Generic || got.MaxFlows != 4096 || !got.FlowEvents {
		t.Fatalf("loader options %+v from %+v", got, o)
	}
	if got := (Options{}).loaderOptions(false); got.HashSeed != 0 || got.FlowEvents {
		t.Fatalf("no seed given: loader options %+v, want seed 0 (the loader's default) and no flow events", got)
	}
}

// TestHashSeedSource: the flag's seed wins; without it the config's
// hash_seed_file is read; a refused file is an error, not the default seed.
func TestHashSeedSource(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "seed")
	if err := os.WriteFile(file, []byte("0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fromFile, err := hashseed.Read(file)
	if err != nil {
		t.Fatal(err)
	}
	withFile := &config.Config{Global: config.Global{HashSeedFile: file}}
	for _, tc := range []struct {
		name string
		flag uint32
		cfg  *config.Config
		want uint32
	}{
		{"flag wins", 7, withFile, 7},
		{"config file", 0, withFile, fromFile},
		{"neither", 0, &config.Config{}, 0},
	} {
		if got, err := hashSeed(Options{HashSeed: tc.flag}, tc.cfg); err != nil || got != tc.want {
			t.Errorf("%s: seed %#x err %v, want %#x", tc.name, got, err, tc.want)
		}
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := hashSeed(Options{}, withFile); err == nil {
		t.Fatal("a world-readable seed file was accepted")
	}
}
