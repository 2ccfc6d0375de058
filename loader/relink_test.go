package loader

import (
	"errors"
	"net"
	"testing"

	"xlb/control/maglev"
	"xlb/lb"
	"xlb/test/testutil"
)

// TestRelinkFollowsLinkChanges: the director's MAC changes under a live
// connection, then its netdev is deleted and re-created under the same name.
// Relink (and a restarted xlbd's Open) follow each with the maps kept: the
// connection opened before both changes still echoes through the same
// backend, new connections are forwarded, and the flow entries stay.
func TestRelinkFollowsLinkChanges(t *testing.T) {
	testutil.RequirePriv(t)
	lab := testutil.NewDRLab(t, "rl", testutil.DRSpec{Backends: testutil.DRBackends(testutil.AcceptOnLoopback)})
	vip, client, director, db1 := lab.VIP, lab.Client, lab.Director, lab.Backends[0]
	service := ServiceKey{VIP: vip, Port: testutil.DRPort, Proto: lb.TCP}
	pinRoot := testutil.PinRoot(t, "rl")
	open := func() *Dataplane {
		t.Helper()
		dp, err := openIn(director, Options{PinRoot: pinRoot, MaxFlows: 4096})
		if err != nil {
			t.Fatalf("open data plane: %v", err)
		}
		return dp
	}
	dp := open()
	t.Cleanup(func() { dp.Close() })
	if err := dp.SetService(service, Service{ID: 1}); err != nil {
		t.Fatal(err)
	}
	table, err := maglev.Build([]maglev.Backend{{ID: 1, Name: "db1", Weight: 1}}, dp.TableSize())
	if err != nil {
		t.Fatal(err)
	}
	if err := dp.WriteMaglev(service, table); err != nil {
		t.Fatal(err)
	}
	if err := dp.SetBackend(1, Backend{ServiceID: 1, IP: db1.Addr.Addr(), MAC: db1.MAC, State: BackendActive}); err != nil {
		t.Fatal(err)
	}
	relink := func() (changed bool, err error) {
		err = director.Do(func() (err error) { changed, err = dp.Relink(Native); return err })
		return changed, err
	}
	flows := func() int {
		n := 0
		if err := dp.Flows(func(FlowKey, uint32) bool { n++; return true }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	live, err := testutil.Dial(client, lab.Service(), 40000)
	if err != nil || live.Backend != "db1" {
		t.Fatalf("first connection: %v %+v", err, live)
	}
	defer live.Close()
	if changed, err := relink(); changed || err != nil {
		t.Fatalf("relink with nothing changed: changed=%v err=%v", changed, err)
	}
	before := flows()
	if before == 0 {
		t.Fatal("no flow recorded for the live connection")
	}

	t.Run("mac change", func(t *testing.T) {
		newMAC := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
		director.MustRun(t, "ip", "link", "set", "eth0", "address", newMAC.String())
		client.MustRun(t, "ip", "neigh", "flush", "all")
		// The program still matches the old MAC: the stack gets the VIP's
		// frames and, with no listener, refuses them.
		if c, err := testutil.Dial(client, lab.Service(), 40001); err == nil {
			c.Close()
			t.Fatal("forwarded with a stale MAC: the test does not reach the fault")
		}
		if changed, err := relink(); !changed || err != nil {
			t.Fatalf("relink after a MAC change: changed=%v err=%v", changed, err)
		}
		if got := dp.MAC().String(); got != newMAC.String() {
			t.Errorf("program MAC %s, want %s", got, newMAC)
		}
		if err := live.Echo("after mac change"); err != nil {
			t.Errorf("live connection after the MAC change: %v", err)
		}
		c, err := testutil.Dial(client, lab.Service(), 40002)
		if err != nil {
			t.Fatalf("new connection after relink: %v", err)
		}
		c.Close()
	})

	t.Run("netdev re-created", func(t *testing.T) {
		director.MAC = dp.MAC() // the netdev comes back with the MAC the program has
		lab.Unplug(t, director)
		if _, err := relink(); !errors.Is(err, ErrLinkGone) {
			t.Fatalf("relink with the netdev gone: %v, want ErrLinkGone", err)
		}
		lab.ReplugDirector(t)
		if changed, err := relink(); !changed || err != nil {
			t.Fatalf("relink on the new netdev: changed=%v err=%v", changed, err)
		}
		if err := live.Echo("after netdev re-created"); err != nil {
			t.Errorf("live connection after the netdev came back: %v", err)
		}
		if got := flows(); got < before {
			t.Errorf("%d flows after, %d before: flows lost", got, before)
		}
	})

	t.Run("restart on a dead pinned link", func(t *testing.T) {
		// xlbd stops; the netdev is re-created; a new xlbd opens the pins.
		dp.Close()
		director.MAC = dp.MAC()
		lab.Unplug(t, director)
		lab.ReplugDirector(t)
		dp = open()
		if err := live.Echo("after restart"); err != nil {
			t.Errorf("live connection after the restart: %v", err)
		}
		if got := flows(); got < before {
			t.Errorf("%d flows after the restart, %d before", got, before)
		}
	})
}
