package main

import (
	"encoding/json"
	"net"
	"net/netip"
	"strings"
	"testing"

	"xlb/control/maglev"
	"xlb/lb"
	"xlb/loader"
	"xlb/test/testutil"
)

// An IPv6 service in the pinned maps reads as operators write it:
// [addr]:port where a port follows, the bare address where none does; the
// flow filters take both forms.
func TestInspectPinnedIPv6(t *testing.T) {
	testutil.RequirePriv(t)
	seg := testutil.NewSegment(t, "ctl6")
	director := seg.AddHost(t, "lvs", "192.168.1.20/24")
	root := testutil.PinRoot(t, "ctl6")
	var dp *loader.Dataplane
	if err := director.Do(func() (err error) {
		dp, err = loader.Open("eth0", loader.Options{PinRoot: root, MaxFlows: 4096})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Detach() })
	key := loader.ServiceKey{VIP: netip.MustParseAddr("fd00:1::30"), Port: 3306, Proto: lb.TCP}
	if err := dp.SetService(key, loader.Service{ID: 1}); err != nil {
		t.Fatal(err)
	}
	for id, ip := range map[uint32]string{1: "fd00:1::10", 2: "fd00:1::11"} {
		if err := dp.SetBackend(id, loader.Backend{ServiceID: 1, IP: netip.MustParseAddr(ip), MAC: net.HardwareAddr{2, 0, 0, 0, 0, byte(id)}, State: loader.BackendActive}); err != nil {
			t.Fatal(err)
		}
	}
	table, _ := maglev.Build([]maglev.Backend{{ID: 1, Name: "fd00:1::10", Weight: 1}, {ID: 2, Name: "fd00:1::11", Weight: 1}}, dp.TableSize())
	if err := dp.WriteMaglev(key, table); err != nil {
		t.Fatal(err)
	}
	flow := loader.FlowKey{Client: netip.MustParseAddrPort("[fd00:1::100]:40000"), VIP: netip.MustParseAddrPort("[fd00:1::30]:3306"), Proto: lb.TCP}
	if _, err := dp.AddFlow(flow, 2); err != nil {
		t.Fatal(err)
	}
	g := []string{"--pin-root", root, "--socket", t.TempDir() + "/none.sock"}

	out, _, err := run(append(g, "services")...)
	if err != nil || !strings.Contains(out, "[fd00:1::30]:3306/tcp") {
		t.Fatalf("services: %v\n%s", err, out)
	}
	out, _, err = run(append(g, "backends")...)
	if err != nil || !strings.Contains(out, "fd00:1::11") || !strings.Contains(out, "[fd00:1::30]:3306/tcp") {
		t.Fatalf("backends: %v\n%s", err, out)
	}
	for _, vip := range []string{"fd00:1::30", "[fd00:1::30]:3306"} {
		out, _, err = run(append(g, "--json", "flows", "--vip", vip, "--client", "fd00:1::100")...)
		var flows []flowRow
		if err != nil || json.Unmarshal([]byte(out), &flows) != nil || len(flows) != 1 ||
			flows[0].Client != "[fd00:1::100]:40000" || flows[0].VIP != "[fd00:1::30]:3306" || flows[0].Backend != "fd00:1::11" {
			t.Fatalf("flows --vip %s: %v\n%s", vip, err, out)
		}
	}
	out, _, err = run(append(g, "flows", "--count", "--vip", "[fd00:1::30]:80")...)
	if err != nil || strings.TrimSpace(out) != "0" {
		t.Fatalf("flows --count for another port: %v %q", err, out)
	}
	out, _, err = run(append(g, "--json", "maglev")...)
	var shares []shareRow
	if err != nil || json.Unmarshal([]byte(out), &shares) != nil || len(shares) != 2 || !strings.HasPrefix(shares[0].Backend, "fd00:1::1") {
		t.Fatalf("maglev: %v\n%s", err, out)
	}
}
