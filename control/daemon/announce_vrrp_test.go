package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"

	"xlb/control/announce"
	"xlb/control/api"
	"xlb/control/config"
	"xlb/control/vrrp"
)

// The VRRP announcer runs an instance per vrrp_instance, lowers the priority
// of one whose tracked service this director cannot serve, keeps an instance
// running when only its tracking changes, and restarts it when its VRRP
// config does.
func TestVRRPAnnouncer(t *testing.T) {
	cfg := parse(t, `
services:
  - {name: db, vip: 192.168.1.30, port: 3306, reals: [{ip: 192.168.1.10}]}
  - {name: web, vip: 192.168.1.31, port: 80, reals: [{ip: 192.168.1.11}]}
vrrp:
  - {name: A, interface: eth0, vrid: 51, priority: 100, track_services: [db], vips: [192.168.1.30]}
  - {name: B, interface: eth0, vrid: 52, priority: 100, vips: [192.168.1.31]}
`)
	a := newVRRPAnnouncer(slog.New(slog.NewTextHandler(io.Discard, nil)), nil, nil)
	a.net = func(o *vrrp.Options) { o.Transport, o.Actions, o.Links = stubNet{}, stubNet{}, stubNet{} }
	defer a.Stop()
	ctx := context.Background()
	a.Configure(ctx, cfg)
	if !a.SharesFlows(cfg) || a.SharesFlows(parse(t, "interfaces: [eth0]\nservices:\n  - {vip: 192.168.1.30, port: 80, reals: [{ip: 192.168.1.10}]}\n")) {
		t.Fatal("flow sharing should follow the presence of VRRP instances")
	}
	adjust := func() map[string]int {
		var s api.Status
		a.Status(&s)
		out := map[string]int{}
		for _, v := range s.VRRP {
			out[v.Name] = v.PriorityAdjust
		}
		return out
	}
	drop := -int(cfg.VRRP[0].NoBackendPriorityDrop)
	if drop == 0 {
		t.Fatal("no default priority drop for a service without backends")
	}
	a.Announce(announce.Intent{Services: []announce.Service{{Name: "db", Usable: false}}})
	if got := adjust(); len(got) != 2 || got["A"] != drop || got["B"] != 0 {
		t.Fatalf("db unusable: adjustments %v, want A %d and B 0", got, drop)
	}
	a.Announce(announce.Intent{Services: []announce.Service{{Name: "db", Usable: true}}})
	if got := adjust(); got["A"] != 0 {
		t.Fatalf("db usable again: adjustments %v", got)
	}

	instA, _, _ := a.runs.get("A")
	instB, _, _ := a.runs.get("B")
	// Tracking changed only: A keeps running, and follows the new tracking.
	cfg2 := parse(t, `
services:
  - {name: db, vip: 192.168.1.30, port: 3306, reals: [{ip: 192.168.1.10}]}
  - {name: web, vip: 192.168.1.31, port: 80, reals: [{ip: 192.168.1.11}]}
vrrp:
  - {name: A, interface: eth0, vrid: 51, priority: 100, track_services: [web], vips: [192.168.1.30]}
  - {name: B, interface: eth0, vrid: 52, priority: 90, vips: [192.168.1.31]}
`)
	a.Configure(ctx, cfg2)
	if got, _, _ := a.runs.get("A"); got != instA {
		t.Fatal("A restarted though only what it tracks changed")
	}
	if got, _, _ := a.runs.get("B"); got == instB {
		t.Fatal("B kept running with its old priority")
	}
	a.Announce(announce.Intent{Services: []announce.Service{{Name: "db", Usable: false}, {Name: "web", Usable: false}}})
	if got := adjust(); got["A"] != drop {
		t.Fatalf("A tracks web now: adjustments %v", got)
	}
}

// Members of a sync group share one running group; a change to any member
// restarts them all with a new group, and a reload that changes nothing
// keeps them.
func TestVRRPAnnouncerSyncGroup(t *testing.T) {
	conf := func(prioB int) *config.Config {
		return parse(t, fmt.Sprintf(`
vrrp:
  - {name: A, interface: eth0, vrid: 51, priority: 100, vips: [192.168.1.30]}
  - {name: B, interface: eth0, vrid: 52, priority: %d, vips: [192.168.1.31]}
  - {name: C, interface: eth0, vrid: 53, priority: 100, vips: [192.168.1.32]}
sync_groups:
  - {name: G, members: [A, B]}
`, prioB))
	}
	a := newVRRPAnnouncer(slog.New(slog.NewTextHandler(io.Discard, nil)), nil, nil)
	a.net = func(o *vrrp.Options) { o.Transport, o.Actions, o.Links = stubNet{}, stubNet{}, stubNet{} }
	defer a.Stop()
	ctx := context.Background()
	a.Configure(ctx, conf(100))
	groups := func() map[string]string {
		var s api.Status
		a.Status(&s)
		out := map[string]string{}
		for _, v := range s.VRRP {
			out[v.Name] = v.SyncGroup
		}
		return out
	}
	if g := groups(); g["A"] != "G" || g["B"] != "G" || g["C"] != "" {
		t.Fatalf("sync groups by instance %v, want A and B in G", g)
	}
	instA, _, _ := a.runs.get("A")
	instC, _, _ := a.runs.get("C")
	a.Configure(ctx, conf(100))
	if got, _, _ := a.runs.get("A"); got != instA {
		t.Fatal("A restarted by a reload that changed nothing")
	}
	a.Configure(ctx, conf(90))
	if got, _, _ := a.runs.get("A"); got == instA {
		t.Fatal("A kept running in the old group generation though its partner B changed")
	}
	if got, _, _ := a.runs.get("C"); got != instC {
		t.Fatal("C, in no group, restarted")
	}
	if g := groups(); g["A"] != "G" || g["B"] != "G" {
		t.Fatalf("after the reload: sync groups %v", g)
	}
}

// static_* entries are installed at the first Configure, a reload changes
// only the difference, and Stop removes what is left, whatever the VRRP
// state (keepalived's vrrp_daemon.c and clear_diff_static_*).
func TestVRRPAnnouncerStatic(t *testing.T) {
	conf := func(routes string) *config.Config {
		return parse(t, "vrrp:\n  - {name: A, interface: eth0, vrid: 51, vips: [192.168.1.30]}\nstatic:\n  addresses: [192.168.9.1/24 dev eth1]\n  routes: ["+routes+"]\n")
	}
	a := newVRRPAnnouncer(slog.New(slog.NewTextHandler(io.Discard, nil)), nil, nil)
	a.net = func(o *vrrp.Options) { o.Transport, o.Actions, o.Links = stubNet{}, stubNet{}, stubNet{} }
	var calls []string
	a.setStatic = func(s config.Static, add bool) error {
		var items []string
		for _, x := range s.Addresses {
			items = append(items, x.String())
		}
		for _, x := range s.Routes {
			items = append(items, x.String())
		}
		calls = append(calls, fmt.Sprint(add, items))
		return nil
	}
	ctx := context.Background()
	a.Configure(ctx, conf("10.7.0.0/16 via 192.168.9.254, 10.8.0.0/16 via 192.168.9.254"))
	a.Configure(ctx, conf("10.7.0.0/16 via 192.168.9.254, 10.6.0.0/16 via 192.168.9.254"))
	a.Stop()
	want := []string{
		"true [192.168.9.1/24 dev eth1 10.7.0.0/16 via 192.168.9.254 10.8.0.0/16 via 192.168.9.254]",
		"false [10.8.0.0/16 via 192.168.9.254]",
		"true [10.6.0.0/16 via 192.168.9.254]",
		"false [192.168.9.1/24 dev eth1 10.7.0.0/16 via 192.168.9.254 10.6.0.0/16 via 192.168.9.254]",
	}
	if !slices.Equal(calls, want) {
		t.Fatalf("static changes\n%q\nwant\n%q", calls, want)
	}
}
