package main

import (
	"encoding/json"
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
	key := loader.ServiceKey{VIP: netip.MustParseAddr("fd00:1::30"), Port: 3306, Proto: lb.TCP}
	_, root, dp := pinService(t, "ctl6", key, []maglev.Backend{{ID: 1, Name: "fd00:1::10", Weight: 1}, {ID: 2, Name: "fd00:1::11", Weight: 1}})
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
