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
	return spec
}
