package control

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"xlb/test/testutil"
)

func TestNeighbours(t *testing.T) {
	testutil.RequirePriv(t)
	seg := testutil.NewSegment(t, "ng")
	director := seg.AddHost(t, "lvs", "192.168.1.20/24")
	backend := seg.AddHost(t, "db", "192.168.1.10/24")
	// A permanent entry with a MAC no host has: only the table can say it.
	director.MustRun(t, "ip", "neigh", "add", "192.168.1.50", "lladdr", "02:aa:bb:cc:dd:ee", "dev", "eth0", "nud", "permanent")

	err := director.Do(func() error {
		iface, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		n := NewNeighbours(iface, 500*time.Millisecond)

		mac, err := n.Resolve(netip.MustParseAddr("192.168.1.10"))
		if err != nil {
			t.Errorf("resolve by ARP: %v", err)
		} else if mac.String() != backend.MAC.String() {
			t.Errorf("resolve by ARP: %s, want %s", mac, backend.MAC)
		}

		mac, err = n.Resolve(netip.MustParseAddr("192.168.1.50"))
		if err != nil || mac.String() != "02:aa:bb:cc:dd:ee" {
			t.Errorf("resolve from the neighbour table: %s, %v", mac, err)
		}

		start := time.Now()
		if _, err := n.Resolve(netip.MustParseAddr("192.168.1.77")); err == nil {
			t.Errorf("an address nobody has was resolved")
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("unresolvable address took %s, timeout is 500ms", d)
		}

		if err := OnLink(iface, netip.MustParseAddr("192.168.1.11")); err != nil {
			t.Errorf("on-link address refused: %v", err)
		}
		if err := OnLink(iface, netip.MustParseAddr("10.0.0.1")); !errors.Is(err, ErrNotOnLink) {
			t.Errorf("off-link address: %v, want ErrNotOnLink", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
