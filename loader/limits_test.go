package loader

import (
	"testing"

	"xlb/loader/limits"
)

// The sizes config validation checks against are those of the compiled
// object: ids run from 1 to max_entries-1.
func TestLimitsMatchObject(t *testing.T) {
	spec, err := loadXlb()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]uint32{"xlb_service_stats": limits.MaxServices, "xlb_backends": limits.MaxBackends} {
		m, ok := spec.Maps[name]
		if !ok {
			t.Fatalf("no map %s in the object", name)
		}
		if got := m.MaxEntries - 1; got != want {
			t.Errorf("%s holds %d ids, loader/limits says %d", name, got, want)
		}
	}
}
