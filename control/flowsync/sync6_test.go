package flowsync

import (
	"maps"
	"net/netip"
	"testing"
	"time"

	"xlb/lb"
	"xlb/loader"
	"xlb/test/testutil"
)

// addService6 gives dp the IPv6 service beside the IPv4 one: backends
// db61, db62 under ids base+10, base+11, table slots alternating.
func addService6(t *testing.T, dp *loader.Dataplane, base uint32) {
	t.Helper()
	if err := dp.SetService(service6, loader.Service{ID: 2}); err != nil {
		t.Fatal(err)
	}
	for i, ip := range []netip.Addr{db61, db62} {
		if err := dp.SetBackend(base+10+uint32(i), loader.Backend{ServiceID: 2, IP: ip, MAC: dbMAC[i], State: loader.BackendActive}); err != nil {
			t.Fatal(err)
		}
	}
	table := make([]uint32, dp.TableSize())
	for i := range table {
		table[i] = base + 10 + alternate(i)
	}
	if err := dp.WriteMaglev(service6, table); err != nil {
		t.Fatal(err)
	}
}

func clientFlow6(c netip.AddrPort) loader.FlowKey {
	return loader.FlowKey{Client: c, VIP: netip.AddrPortFrom(vip6, 3306), Proto: lb.TCP}
}

// IPv6 flows recorded by one director's program reach the other's flow
// table over the wire (version 3 datagrams), on the same backend address
// under the other's own id; forged IPv6 datagrams are refused and counted
// and leave the table as it was.
func TestSyncIPv6(t *testing.T) {
	testutil.RequirePriv(t)
	seg := testutil.NewSegment(t, "f6")
	h1 := seg.AddHost(t, "lvs1", "192.168.1.20/24")
	h2 := seg.AddHost(t, "lvs2", "192.168.1.21/24")
	h3 := seg.AddHost(t, "evil", "192.168.1.66/24")
	dp1 := director(t, h1.MAC, 1, alternate)
	dp2 := director(t, h2.MAC, 101, alternate)
	addService6(t, dp1, 1)
	addService6(t, dp2, 101)
	start(t, h1, dp1, Options{Keys: keyring(t, keyA), Peers: []netip.Addr{lvs2}})
	s2, _ := start(t, h2, dp2, Options{Keys: keyring(t, keyA), Peers: []netip.Addr{lvs1}})
	time.Sleep(200 * time.Millisecond) // multicast joins settle

	var clients []netip.AddrPort
	for i := range 4 {
		c := netip.AddrPortFrom(netip.MustParseAddr("fd00:1::100"), 40000+uint16(i))
		clients = append(clients, c)
		forward(t, dp1, h1.MAC, c)
	}
	// One IPv4 flow in the same burst: the sender splits the families.
	c4 := netip.MustParseAddrPort("192.168.1.100:40000")
	forward(t, dp1, h1.MAC, c4)
	for _, c := range clients {
		want, ok, _ := dp1.Flow(clientFlow6(c))
		if !ok {
			t.Fatalf("lvs1's program recorded no flow for %v", c)
		}
		waitUntil(t, "IPv6 flow "+c.String()+" on lvs2", func() bool { _, ok, _ := dp2.Flow(clientFlow6(c)); return ok })
		if got, _, _ := dp2.Flow(clientFlow6(c)); got != want+100 {
			t.Fatalf("flow %v on backend id %d, want %d (the same address)", c, got, want+100)
		}
	}
	waitUntil(t, "the IPv4 flow on lvs2", func() bool { _, ok, _ := dp2.Flow(clientFlow(c4)); return ok })
	if st := s2.Status(); len(st.Dropped) != 0 || st.Applied != 5 {
		t.Fatalf("genuine IPv4 and IPv6 flows: applied %d, dropped %v", st.Applied, st.Dropped)
	}

	before := flowTable(t, dp2)
	established := clients[0]
	// Where lvs2 has the flow, and the other backend every forgery tries
	// to move it to.
	kept, moved := db61, db62
	if before[clientFlow6(established)] == 101+11 {
		kept, moved = db62, db61
	}
	attack := []Entry{{Flow: clientFlow6(established), Backend: moved}, flow6To(41000, moved)}
	now := time.Now()
	wrong := &peerSender{key: testKey(t, keyB), sender: lvs1, epoch: 1}
	stolen := &peerSender{key: testKey(t, keyA), sender: other, epoch: 1}
	genuine := &peerSender{key: testKey(t, keyA), sender: lvs1, epoch: uint64(now.UnixNano())}
	g := DefaultGroup
	sendFrom(t, h1, lvs1, 255, g, wrong.seal(t, now, attack...))
	sendFrom(t, h1, lvs1, 64, g, genuine.seal(t, now, attack...))
	sendFrom(t, h3, other, 255, g, stolen.seal(t, now, attack...))
	// A genuine datagram (the flow where it is: no change), then the same
	// bytes again.
	replayed := genuine.seal(t, now, Entry{Flow: clientFlow6(established), Backend: kept})
	sendFrom(t, h1, lvs1, 255, g, replayed, replayed)
	want := map[string]uint64{ReasonAuth: 1, ReasonTTL: 1, ReasonNotPeer: 1, ReasonReplay: 1}
	waitUntil(t, "every forged IPv6 datagram counted", func() bool { return maps.Equal(s2.Status().Dropped, want) })
	if after := flowTable(t, dp2); !maps.Equal(before, after) {
		t.Fatalf("flow table changed: before %v, after %v", before, after)
	}
}
