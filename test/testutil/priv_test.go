package testutil

import (
	"strings"
	"testing"
)

func TestNetNSIsolated(t *testing.T) {
	RequirePriv(t)
	ns := NewNetNS(t, "iso")
	out := ns.MustRun(t, "ip", "-o", "link", "show")
	// A fresh namespace has exactly one interface: its loopback.
	if n := strings.Count(strings.TrimSpace(out), "\n") + 1; n != 1 || !strings.Contains(out, "lo:") {
		t.Fatalf("new namespace should hold only lo, got:\n%s", out)
	}
}
