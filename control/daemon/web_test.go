package daemon

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"xlb/control/api"
	"xlb/control/bgp"
	"xlb/control/vrrp"
)

// The page puts what is down, since when and why above everything else, and
// renders with no script (the server-rendered body is the whole state).
func TestStatusPageRendersProblemsFirst(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.Local)
	down := now.Add(-90 * time.Second)
	s := api.Status{Version: "v1", Config: "/etc/xlb/xlb.yaml", LoadedAt: now.Add(-time.Hour), Interfaces: []string{"eth0"},
		Services: []api.Service{{Interface: "eth0", VIP: netip.MustParseAddr("192.168.1.30"), Port: 3306, Protocol: "tcp", Name: "db",
			Usable: true, ActiveWeight: 1, Quorum: 1,
			Traffic: &api.Traffic{Interval: trafficInterval, End: now, Packets: []float64{1, 5, 3}, Bytes: []float64{60, 300, 180}},
			Backends: []api.Backend{
				{IP: netip.MustParseAddr("192.168.1.10"), State: "down", Reason: "check failed: connection refused", Since: down, Weight: 0, Check: "tcp"},
				{IP: netip.MustParseAddr("192.168.1.11"), State: "active", Reason: "check passed", Since: now.Add(-time.Hour), Weight: 1, Check: "tcp", LastLatency: 1500 * time.Microsecond},
			}}},
		VRRP:   []vrrp.Status{{Name: "VI_1", Interface: "eth0", VRID: 51, Version: 2, State: vrrp.StateMaster, Since: now.Add(-time.Minute), Priority: 100, BasePriority: 100}},
		Planes: []api.Plane{{Interface: "eth0", Flows: 950, MaxFlows: 1000}},
		Events: []api.Event{{Time: down, Kind: api.EventBackend, Subject: "192.168.1.30:3306/tcp 192.168.1.10", From: "active", To: "down", Reason: "check failed: connection refused"}},
	}
	v := newPageView(s, now)
	if v.Down != 1 || v.Backends != 2 {
		t.Fatalf("down %d of %d backends, want 1 of 2", v.Down, v.Backends)
	}
	var b strings.Builder
	if err := pageTmpl.ExecuteTemplate(&b, "page.html", v); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	problems := page[strings.Index(page, `id="problems"`):strings.Index(page, "<h2>Services")]
	for _, want := range []string{
		"2 problems", "db 192.168.1.10 is down", "since 09:58:30 · 1m30s ago", "check failed: connection refused",
		"flow table on eth0 is 950 of 1000 entries full",
	} {
		if !strings.Contains(problems, want) {
			t.Errorf("problem banner lacks %q:\n%s", want, problems)
		}
	}
	for _, want := range []string{
		`<tr class="state-down" data-backend="192.168.1.10" data-state="down">`,
		`<span class="pill vrrp-master">MASTER</span>`,
		"1.5ms", `<svg class="spark"`, "width: 95.0%",
		`<noscript><meta http-equiv="refresh"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Error("the page refers to something outside xlbd")
	}
}

func TestAgo(t *testing.T) {
	now := time.Unix(100000, 0)
	for d, want := range map[time.Duration]string{
		0: "now", 5 * time.Second: "5s ago", 125 * time.Second: "2m05s ago", 3*time.Hour + 4*time.Minute: "3h04m ago", 72 * time.Hour: "3d ago",
	} {
		if got := ago(now, now.Add(-d)); got != want {
			t.Errorf("ago(%s) = %q, want %q", d, got, want)
		}
	}
	if ago(now, time.Time{}) != "-" {
		t.Error("a zero time is not a time")
	}
}

// A BGP director's page shows each session with its BFD state and each VIP
// with whether it is announced and why.
func TestStatusPageShowsBGP(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.Local)
	s := api.Status{Version: "v1", Interfaces: []string{"eth0"},
		BGP: &bgp.Status{LocalAS: 65001, Sessions: []bgp.Session{
			{Neighbor: netip.MustParseAddr("10.0.0.1"), PeerAS: 65000, State: "established", Since: now.Add(-2 * time.Minute), BFD: "up", Sent: 1},
			{Neighbor: netip.MustParseAddr("10.0.0.2"), PeerAS: 65000, State: "active", BFD: "down", Flops: 3},
			{Neighbor: netip.MustParseAddr("fd00:0:0::1"), PeerAS: 65000, State: "established", BFD: "up"},
		}, Routes: []bgp.RouteStatus{
			{Route: bgp.Route{VIP: netip.MustParseAddr("192.168.1.30"), Announce: true, Reason: "usable"}, Announced: true},
			{Route: bgp.Route{VIP: netip.MustParseAddr("fd00:10:0::0100"), Announce: true, Reason: "usable"}, Announced: true},
			{Route: bgp.Route{VIP: netip.MustParseAddr("192.168.1.31"), Reason: "db2: no usable backend"}},
		}},
	}
	var b strings.Builder
	if err := pageTmpl.ExecuteTemplate(&b, "page.html", newPageView(s, now)); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		`<tr data-neighbor="10.0.0.1" data-state="established">`, "AS 65000", `<span class="pill active">up</span>`, "2m00s ago",
		`<tr data-neighbor="10.0.0.2" data-state="active">`, "3 flaps", `<span class="pill down">down</span>`,
		`<tr data-vip="192.168.1.30" data-announced="true">`, `<span class="pill active">announced</span>`, "<code>192.168.1.30/32</code>",
		`<tr data-neighbor="fd00::1" data-state="established">`, `<tr data-vip="fd00:10::100" data-announced="true">`, "<code>fd00:10::100/128</code>",
		`<tr data-vip="192.168.1.31" data-announced="false">`, "db2: no usable backend",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "announces nothing") {
		t.Error("a BGP director's page says it announces nothing")
	}
}

// An IPv6 service reads as operators write it: [VIP]:port/proto as its
// name when it has none, backends by bare address; the same key labels
// its metrics (api.Service.Key).
func TestStatusPageIPv6(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.Local)
	svc := api.Service{Interface: "eth0", VIP: netip.MustParseAddr("fd00:1::30"), Port: 3306, Protocol: "tcp", Usable: true, ActiveWeight: 1, Quorum: 1,
		Backends: []api.Backend{
			{IP: netip.MustParseAddr("fd00:1::10"), State: "down", Reason: "check failed", Since: now.Add(-time.Minute), Check: "mysql"},
			{IP: netip.MustParseAddr("fd00:1::11"), State: "active", Since: now.Add(-time.Hour), Weight: 1, Check: "mysql"},
		}}
	if got := svc.Key(); got != "[fd00:1::30]:3306/tcp" {
		t.Fatalf("Key() = %q", got)
	}
	v := newPageView(api.Status{Services: []api.Service{svc}}, now)
	var b strings.Builder
	if err := pageTmpl.ExecuteTemplate(&b, "page.html", v); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{"[fd00:1::30]:3306/tcp fd00:1::10 is down", `data-backend="fd00:1::11"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "fd00:1::30:3306") {
		t.Error("the page writes an IPv6 VIP and port without brackets")
	}
}
