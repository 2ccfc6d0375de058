package main

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"xlb/control/api"
	"xlb/control/bgp"
)

// xlbctl bgp prints the sessions and every VIP with its reason; drain and
// undrain reach the daemon's drain switch through the control socket.
func TestBGPAndDrain(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "xlbd.sock")
	var drained atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go api.ServeControl(ctx, sock, api.Control{Drain: drained.Store, Status: func() api.Status {
		return api.Status{Drained: drained.Load(), BGP: &bgp.Status{LocalAS: 65001, RouterID: netip.MustParseAddr("10.0.1.11"), Announces: 3, Withdraws: 1,
			Sessions: []bgp.Session{{Neighbor: netip.MustParseAddr("10.0.1.1"), PeerAS: 65000, State: "established", Since: time.Now().Add(-time.Minute), BFD: "up", Sent: 2,
				Families: []bgp.Family{bgp.IPv4, bgp.IPv6}, IPv6NextHop: netip.MustParseAddr("fd00:1:0::11")},
				{Neighbor: netip.MustParseAddr("fd00:1::1"), PeerAS: 65000, State: "active", Families: []bgp.Family{bgp.IPv6}}},
			Routes: []bgp.RouteStatus{
				{Route: bgp.Route{VIP: netip.MustParseAddr("10.0.0.100"), Announce: true, Reason: "all 1 services usable"}, Announced: true},
				{Route: bgp.Route{VIP: netip.MustParseAddr("fd00:10:0:0::100"), Announce: true, Reason: "all 1 services usable"}, Announced: true},
				{Route: bgp.Route{VIP: netip.MustParseAddr("10.0.0.101"), Reason: "service db not usable here: weight 0 of its active backends, quorum 1"}},
			}}}
	}})
	waitFor(t, func() bool { _, err := os.Stat(sock); return err == nil })
	g := []string{"--socket", sock}
	out, _, err := run(append(g, "bgp")...)
	for _, want := range []string{"local AS 65001, router id 10.0.1.11, 3 announces, 1 withdraws\n", "10.0.1.1", "ipv4,ipv6", "established", "1m0s", "up",
		"fd00:1::11\n", "fd00:1::1  65000    ipv6 ", "10.0.0.100/32     yes", "fd00:10::100/128  yes", "10.0.0.101/32     no         service db not usable here"} {
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("bgp: %v: no %q in\n%s", err, want, out)
		}
	}
	if _, _, err := run(append(g, "drain")...); err != nil || !drained.Load() {
		t.Fatalf("drain: %v, drained %v", err, drained.Load())
	}
	if out, _, _ := run(append(g, "bgp")...); !strings.Contains(out, "DRAINED") {
		t.Errorf("bgp does not say drained:\n%s", out)
	}
	if _, _, err := run(append(g, "undrain")...); err != nil || drained.Load() {
		t.Fatalf("undrain: %v, drained %v", err, drained.Load())
	}
	if _, _, err := run("--socket", filepath.Join(t.TempDir(), "none.sock"), "drain"); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("drain without a daemon: %v", err)
	}
}
