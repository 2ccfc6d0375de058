package loader

import (
	"errors"
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

// TestIPv6Refused: the maps hold IPv4 only; an IPv6 address is a clear error
// at the loader's boundary, never a panic nor a truncated address.
func TestIPv6Refused(t *testing.T) {
	testutil.RequirePriv(t)
	dp, err := Load(ourMAC, Options{MaxFlows: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	v6 := netip.MustParseAddr("2001:db8::30")
	v6Svc := ServiceKey{VIP: v6, Port: 3306, Proto: lb.TCP}
	if err := dp.SetService(v6Svc, Service{ID: 1}); !errors.Is(err, ErrNotIPv4) {
		t.Errorf("SetService with an IPv6 VIP: %v, want ErrNotIPv4", err)
	}
	if _, err := dp.Service(v6Svc); !errors.Is(err, ErrNotIPv4) {
		t.Errorf("Service with an IPv6 VIP: %v, want ErrNotIPv4", err)
	}
	err = dp.SetBackend(1, Backend{ServiceID: 1, IP: v6, MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, State: BackendActive})
	if !errors.Is(err, ErrNotIPv4) {
		t.Errorf("SetBackend with an IPv6 address: %v, want ErrNotIPv4", err)
	}
	flow := FlowKey{Client: netip.MustParseAddrPort("[2001:db8::100]:40000"), VIP: netip.AddrPortFrom(vip, 3306), Proto: lb.TCP}
	if err := dp.SetFlow(flow, 1); !errors.Is(err, ErrNotIPv4) {
		t.Errorf("SetFlow with an IPv6 client: %v, want ErrNotIPv4", err)
	}
	if _, _, err := dp.Flow(flow); !errors.Is(err, ErrNotIPv4) {
		t.Errorf("Flow with an IPv6 client: %v, want ErrNotIPv4", err)
	}
	if _, err := dp.TableSlot(flow, 0); !errors.Is(err, ErrNotIPv4) {
		t.Errorf("TableSlot with an IPv6 client: %v, want ErrNotIPv4", err)
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
