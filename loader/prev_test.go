package loader

import (
	"bytes"
	_ "embed"
	"testing"

	"github.com/cilium/ebpf"
)

// xlbprevObject is the data plane of the last IPv4-only build (commit
// 31e949c, with a 4099-slot Maglev table; testdata/mkprev.sh rebuilds it):
// the "previous build" the upgrade tests start from, the upgrade users make.
//
//go:embed testdata/prev_bpfel.o
var xlbprevObject []byte

func prevSpec(t testing.TB) *ebpf.CollectionSpec {
	t.Helper()
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(xlbprevObject))
	if err != nil {
		t.Fatalf("load previous-layout object: %v", err)
	}
	// It has no IPv6 maps, and the loader's objects want every map of this
	// build: unpinned placeholders stand in (its program never uses them,
	// nothing pins them, so its pin directory is the one the previous
	// daemon leaves).
	cur, err := loadXlb()
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range cur.Maps {
		if _, ok := spec.Maps[name]; !ok {
			m.Pinning = ebpf.PinNone
			spec.Maps[name] = m
		}
	}
	return spec
}
