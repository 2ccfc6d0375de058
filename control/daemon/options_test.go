package daemon

import (
	"testing"

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
