package loader

import (
	"bytes"
	_ "embed"
	"testing"

	"github.com/cilium/ebpf"
)

// xlbprevObject is the program built with XLB_TEST_PREV_ABI (see gen.go): the
// "previous build" the upgrade tests start from.
//
//go:embed xlbprev_bpfel.o
var xlbprevObject []byte

func prevSpec(t testing.TB) *ebpf.CollectionSpec {
	t.Helper()
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(xlbprevObject))
	if err != nil {
		t.Fatalf("load previous-layout object: %v", err)
	}
	return spec
}
