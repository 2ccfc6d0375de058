package loader

import (
	"errors"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"xlb/lb"
	"xlb/test/testutil"
)

// TestMapTable: the table that pins, reopens and unpins maps names every map
// of the object, and each name reaches a distinct handle.
func TestMapTable(t *testing.T) {
	spec, err := loadXlb()
	if err != nil {
		t.Fatal(err)
	}
	var d Dataplane
	var got []string
	handles := map[any]bool{}
	for _, nm := range d.maps() {
		got = append(got, nm.name)
		handles[nm.m] = true
	}
	var want []string
	for name := range spec.Maps {
		// Sections of global variables (.rodata) are not maps of ours.
		if !strings.HasPrefix(name, ".") {
			want = append(want, name)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("map table %v, object's maps %v", got, want)
	}
	if len(handles) != len(got) {
		t.Fatalf("%d names share %d handles", len(got), len(handles))
	}
}

// TestIPv6Addresses: IPv6 services, backends and flows round-trip through
// the maps beside IPv4 ones with the same first word; a backend of the
// other family than its service, a flow of two families and a zoned or
// zero address are clear errors, never a truncated address.
func TestIPv6Addresses(t *testing.T) {
	testutil.RequirePriv(t)
	dp, err := Load(ourMAC, Options{MaxFlows: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	// 192.168.1.30 is c0a8:011e: the IPv4 VIP's word opens this IPv6 address.
	v6 := netip.MustParseAddr("c0a8:11e::")
	v6Svc := ServiceKey{VIP: v6, Port: 3306, Proto: lb.TCP}
	v4Svc := ServiceKey{VIP: vip, Port: 3306, Proto: lb.TCP}
	if err := dp.SetService(v6Svc, Service{ID: 1}); err != nil {
		t.Fatal(err)
	}
	if err := dp.SetService(v4Svc, Service{ID: 2}); err != nil {
		t.Fatal(err)
	}
	svcs, err := dp.Services()
	if err != nil {
		t.Fatal(err)
	}
	if want := (map[ServiceKey]Service{v6Svc: {ID: 1}, v4Svc: {ID: 2}}); !maps.Equal(svcs, want) {
		t.Fatalf("services %v, want %v", svcs, want)
	}
	b6 := Backend{ServiceID: 1, IP: netip.MustParseAddr("fd00:1::10"), MAC: mac, State: BackendActive}
	if err := dp.SetBackend(1, b6); err != nil {
		t.Fatal(err)
	}
	// An IPv4-mapped address is the IPv4 address its packets carry.
	if err := dp.SetBackend(2, Backend{ServiceID: 2, IP: netip.MustParseAddr("::ffff:192.168.1.10"), MAC: mac, State: BackendActive}); err != nil {
		t.Fatal(err)
	}
	bs, err := dp.Backends()
	if err != nil {
		t.Fatal(err)
	}
	if bs[1].IP != b6.IP || bs[2].IP != netip.MustParseAddr("192.168.1.10") {
		t.Fatalf("backends read back as %v and %v", bs[1].IP, bs[2].IP)
	}
	for _, c := range []struct {
		svc uint32
		ip  string
	}{{1, "192.168.1.10"}, {2, "fd00:1::10"}} {
		err := dp.SetBackend(3, Backend{ServiceID: c.svc, IP: netip.MustParseAddr(c.ip), MAC: mac, State: BackendActive})
		if !errors.Is(err, ErrFamilyMix) || !strings.Contains(err.Error(), c.ip) {
			t.Errorf("backend %s for service %d: %v, want ErrFamilyMix naming it", c.ip, c.svc, err)
		}
	}
	flow6 := FlowKey{Client: netip.MustParseAddrPort("[2001:db8::100]:40000"), VIP: netip.AddrPortFrom(v6, 3306), Proto: lb.TCP}
	flow4 := FlowKey{Client: netip.AddrPortFrom(clientIP, 40000), VIP: netip.AddrPortFrom(vip, 3306), Proto: lb.TCP}
	if err := dp.SetFlow(flow6, 1); err != nil {
		t.Fatal(err)
	}
	if err := dp.SetFlow(flow4, 2); err != nil {
		t.Fatal(err)
	}
	got := map[FlowKey]uint32{}
	if err := dp.Flows(func(k FlowKey, id uint32) bool { got[k] = id; return true }); err != nil {
		t.Fatal(err)
	}
	if want := (map[FlowKey]uint32{flow6: 1, flow4: 2}); !maps.Equal(got, want) {
		t.Fatalf("flows %v, want %v", got, want)
	}
	mixed := FlowKey{Client: netip.MustParseAddrPort("[2001:db8::100]:40000"), VIP: netip.AddrPortFrom(vip, 3306), Proto: lb.TCP}
	if err := dp.SetFlow(mixed, 1); !errors.Is(err, ErrFamilyMix) {
		t.Errorf("SetFlow of an IPv6 client to an IPv4 VIP: %v, want ErrFamilyMix", err)
	}
	for _, a := range []netip.Addr{{}, netip.MustParseAddr("fe80::1%eth0")} {
		if err := dp.SetService(ServiceKey{VIP: a, Port: 1, Proto: lb.TCP}, Service{ID: 3}); !errors.Is(err, ErrBadAddr) {
			t.Errorf("SetService with VIP %q: %v, want ErrBadAddr", a, err)
		}
	}
	if _, err := dp.TableSlot(flow6, 0); err != nil {
		t.Errorf("TableSlot of an IPv6 flow: %v", err)
	}
}

// TestRecentFlowCount: within maxAge the count is not walked again (a flow
// added meanwhile is not seen); past it, the new flow is counted.
func TestRecentFlowCount(t *testing.T) {
	testutil.RequirePriv(t)
	dp, err := Load(ourMAC, Options{MaxFlows: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	flow := func(port uint16) FlowKey {
		return FlowKey{Client: netip.AddrPortFrom(clientIP, port), VIP: netip.AddrPortFrom(vip, 3306), Proto: lb.TCP}
	}
	if err := dp.SetFlow(flow(1), 1); err != nil {
		t.Fatal(err)
	}
	if n, err := dp.RecentFlowCount(time.Hour); err != nil || n != 1 {
		t.Fatalf("first count: %d, %v; want 1", n, err)
	}
	if err := dp.SetFlow(flow(2), 1); err != nil {
		t.Fatal(err)
	}
	if n, err := dp.RecentFlowCount(time.Hour); err != nil || n != 1 {
		t.Fatalf("count within maxAge: %d, %v; want the cached 1", n, err)
	}
	if n, err := dp.RecentFlowCount(0); err != nil || n != 2 {
		t.Fatalf("count past maxAge: %d, %v; want 2", n, err)
	}
}
